package cu

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/aonode/aonode/store"
)

// cronSpec is one Cron-Interval of a process with the Cron-Tag-* tags that follow it.
type cronSpec struct {
	id       string // "<index>-<interval>", as the reference names cron evaluations
	blocks   uint64 // interval in blocks (block cron), or 0
	seconds  int64  // interval in seconds (time cron), or 0
	tags     []Tag
	interval string
}

var timeUnits = map[string]float64{
	"years": 31557600, "year": 31557600, "yrs": 31557600, "yr": 31557600, "y": 31557600,
	"weeks": 604800, "week": 604800, "w": 604800,
	"days": 86400, "day": 86400, "d": 86400,
	"hours": 3600, "hour": 3600, "hrs": 3600, "hr": 3600, "h": 3600,
	"minutes": 60, "minute": 60, "mins": 60, "min": 60, "m": 60,
	"seconds": 1, "second": 1, "secs": 1, "sec": 1, "s": 1,
	"milliseconds": 0.001, "millisecond": 0.001, "msecs": 0.001, "msec": 0.001, "ms": 0.001,
}

// parseCrons reads Cron-Interval ("<n>-<unit>") and Cron-Tag-<Name> tags (ao-protocol.md §2.4).
// A Cron-Tag belongs to the closest Cron-Interval before it (the first one if none precedes).
func parseCrons(tags []Tag) ([]cronSpec, error) {
	var crons []cronSpec
	var orphans []Tag
	for _, t := range tags {
		switch {
		case t.Name == "Cron-Interval":
			c, err := parseInterval(t.Value)
			if err != nil {
				return nil, err
			}
			c.id = strconv.Itoa(len(crons)) + "-" + t.Value
			crons = append(crons, c)
		case strings.HasPrefix(t.Name, "Cron-Tag-") && len(t.Name) > len("Cron-Tag-"):
			tag := Tag{Name: strings.TrimPrefix(t.Name, "Cron-Tag-"), Value: t.Value}
			if len(crons) == 0 {
				orphans = append(orphans, tag)
			} else {
				crons[len(crons)-1].tags = append(crons[len(crons)-1].tags, tag)
			}
		}
	}
	if len(crons) > 0 && len(orphans) > 0 {
		crons[0].tags = append(orphans, crons[0].tags...)
	}
	return crons, nil
}

func parseInterval(v string) (cronSpec, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(v), "-")
	bad := errorf(ErrInvalidDefinition, "invalid Cron-Interval %q", v)
	if !ok {
		return cronSpec{}, bad
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n <= 0 || n > 1e12 {
		return cronSpec{}, bad
	}
	unit = strings.ToLower(strings.TrimSpace(unit))
	if unit == "block" || unit == "blocks" {
		if n != float64(uint64(n)) {
			return cronSpec{}, bad
		}
		return cronSpec{blocks: uint64(n), interval: v}, nil
	}
	mult, ok := timeUnits[unit]
	if !ok {
		return cronSpec{}, bad
	}
	secs := n * mult
	// Crons tick once per second, so an interval must be a whole number of seconds.
	if secs < 1 || secs != float64(int64(secs)) {
		return cronSpec{}, bad
	}
	return cronSpec{seconds: int64(secs), interval: v}, nil
}

// cronEvent is one cron message due.
type cronEvent struct {
	ts     int64 // ms
	height uint64
	block  bool
	spec   int
}

// BlockTimes gives the timestamps (unix seconds) of blocks, for block crons.
type BlockTimes interface {
	BlockTimestamps(ctx context.Context, from, to uint64) (map[uint64]int64, error)
}

// cronsUntil evaluates the cron messages due after the process's position and up to
// (untilMs, untilHeight): time crons fire at each second t with (t - origin) % n == 0, origin
// being the process's timestamp; block crons at each height h with (h - originHeight) % n == 0.
// At the same instant block crons come first.
func (p *proc) cronsUntil(ctx context.Context, untilMs int64, untilHeight uint64) error {
	if len(p.def.crons) == 0 {
		return nil
	}
	originS := p.def.process.Timestamp / 1000
	originH := p.def.process.BlockHeight
	untilS := untilMs / 1000
	var events []cronEvent
	var heights []uint64
	for i, c := range p.def.crons {
		switch {
		case c.seconds > 0 && untilS > p.st.CronTime:
			for t := nextMultiple(p.st.CronTime+1, originS, c.seconds); t <= untilS; t += c.seconds {
				events = append(events, cronEvent{ts: t * 1000, height: p.st.BlockHeight, spec: i})
			}
		case c.blocks > 0 && untilHeight > p.st.CronHeight:
			from := p.st.CronHeight + 1
			if from < originH {
				from = originH
			}
			start := originH + (from-originH+c.blocks-1)/c.blocks*c.blocks
			for h := start; h <= untilHeight; h += c.blocks {
				heights = append(heights, h)
				events = append(events, cronEvent{height: h, block: true, spec: i})
			}
		}
	}
	if len(events) == 0 {
		p.st.CronTime = max(p.st.CronTime, untilS)
		p.st.CronHeight = max(p.st.CronHeight, untilHeight)
		return nil
	}
	if len(heights) > 0 {
		bt, ok := p.c.gatewayBlocks()
		if !ok {
			return errorf(ErrInvalidDefinition, "process %s has block crons and the CU has no gateway for block times", p.pid)
		}
		times, err := bt.BlockTimestamps(ctx, heights[0], untilHeight)
		if err != nil {
			return err
		}
		for i := range events {
			if events[i].block {
				ts, ok := times[events[i].height]
				if !ok {
					return errorf(ErrGatewayUnavailable, "gateway has no timestamp for block %d", events[i].height)
				}
				events[i].ts = ts * 1000
			}
		}
	}
	sort.SliceStable(events, func(a, b int) bool {
		if events[a].ts != events[b].ts {
			return events[a].ts < events[b].ts
		}
		return events[a].block && !events[b].block
	})
	for _, e := range events {
		spec := p.def.crons[e.spec]
		msg, err := jsText(aoMessage{
			Owner: p.def.owner, Target: p.pid, From: p.def.owner, Tags: nonNilTags(spec.tags),
			Timestamp: e.ts, BlockHeight: e.height, Cron: true,
		})
		if err != nil {
			return err
		}
		p.current = evalRef{nonce: p.st.Nonce}
		res, hasErr, err := p.eval(ctx, msg)
		if err != nil {
			return err
		}
		p.st.Seq++
		rec := store.EvalResult{
			Process: p.pid, Nonce: p.st.Nonce, Seq: p.st.Seq, Cron: spec.id,
			Timestamp: e.ts, BlockHeight: e.height, HasError: hasErr, Result: res,
			MemorySHA256: p.st.MemorySHA,
		}
		if err := p.record(ctx, rec); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	p.st.CronTime = max(p.st.CronTime, untilS)
	p.st.CronHeight = max(p.st.CronHeight, untilHeight)
	return nil
}

// nextMultiple returns the smallest t >= from with (t - origin) % n == 0.
func nextMultiple(from, origin, n int64) int64 {
	d := from - origin
	var k int64
	if d <= 0 {
		k = -((-d) / n)
	} else {
		k = (d + n - 1) / n
	}
	return origin + k*n
}

func (c *CU) gatewayBlocks() (BlockTimes, bool) {
	if c.gateway == nil {
		return nil, false
	}
	return c.gateway, true
}

// BlockTimestamps implements BlockTimes with the gateway's GraphQL blocks query.
func (g *Gateway) BlockTimestamps(ctx context.Context, from, to uint64) (map[uint64]int64, error) {
	out := make(map[uint64]int64)
	for from <= to {
		q := fmt.Sprintf(`query { blocks(height: {min: %d, max: %d}, first: 100, sort: HEIGHT_ASC) { edges { node { height timestamp } } } }`, from, to)
		var resp struct {
			Data struct {
				Blocks struct {
					Edges []struct {
						Node struct {
							Height    uint64 `json:"height"`
							Timestamp int64  `json:"timestamp"`
						} `json:"node"`
					} `json:"edges"`
				} `json:"blocks"`
			} `json:"data"`
		}
		if err := g.graphQL(ctx, q, nil, &resp); err != nil {
			return nil, err
		}
		edges := resp.Data.Blocks.Edges
		if len(edges) == 0 {
			break
		}
		last := from
		for _, e := range edges {
			out[e.Node.Height] = e.Node.Timestamp
			last = max(last, e.Node.Height)
		}
		from = last + 1
	}
	return out, nil
}
