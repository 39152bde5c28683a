package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// heightSource is the Arweave block height the SU stamps on assignments: fixed, or the last
// height an Arweave gateway reported at /info (the reference SU polls the same endpoint every
// 5 s). A failing gateway leaves the last known height in place.
type heightSource struct {
	height   atomic.Uint64
	url      string
	interval time.Duration
	client   *http.Client
	log      *slog.Logger
}

func newHeightSource(initial uint64, gatewayURL string, interval time.Duration, log *slog.Logger) *heightSource {
	h := &heightSource{
		url:      strings.TrimSuffix(gatewayURL, "/") + "/info",
		interval: interval,
		client:   &http.Client{Timeout: 10 * time.Second},
		log:      log,
	}
	h.height.Store(initial)
	return h
}

func (h *heightSource) get() uint64 { return h.height.Load() }

// run polls until ctx ends.
func (h *heightSource) run(ctx context.Context) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	failing := false
	for {
		err := h.poll(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			h.log.Warn("arweave height poll failing; keeping the last height", "url", h.url, "height", h.get(), "err", err)
			failing = true
		case err == nil && failing:
			h.log.Info("arweave height poll recovered", "height", h.get())
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *heightSource) poll(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return err
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	var info struct {
		Height *uint64 `json:"height"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&info); err != nil {
		return fmt.Errorf("decoding /info: %w", err)
	}
	if info.Height == nil {
		return fmt.Errorf("/info has no height")
	}
	// Heights only grow; a gateway that lags behind another must not move ours back.
	for {
		cur := h.height.Load()
		if *info.Height <= cur || h.height.CompareAndSwap(cur, *info.Height) {
			return nil
		}
	}
}
