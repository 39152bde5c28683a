package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are per DB, so that many DBs in one process (tests, several nodes) do not collide
// unless they share a Registerer.
type metrics struct {
	commitSeconds  prometheus.Histogram
	groupSeconds   prometheus.Histogram
	batchesPerSync prometheus.Histogram
	bytesWritten   prometheus.Counter
	commitErrors   prometheus.Counter
	gcRewrites     prometheus.Counter

	reg        prometheus.Registerer
	registered []prometheus.Collector
}

func newMetrics() *metrics {
	return &metrics{
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "aonode_store_commit_duration_seconds",
			Help:    "Time from Commit to its acknowledgement (queueing, write and sync).",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
		}),
		groupSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "aonode_store_group_write_duration_seconds",
			Help:    "Time to write and sync one group of batches.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
		}),
		batchesPerSync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "aonode_store_batches_per_sync",
			Help:    "Batches made durable by one sync (group commit size).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		bytesWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aonode_store_written_bytes_total",
			Help: "Key and value bytes of committed batches.",
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aonode_store_write_errors_total",
			Help: "Failed writes or syncs (each one stops the store from accepting commits).",
		}),
		gcRewrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aonode_store_vlog_gc_rewrites_total",
			Help: "Value-log files rewritten by garbage collection.",
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.commitSeconds, m.groupSeconds, m.batchesPerSync, m.bytesWritten, m.commitErrors, m.gcRewrites}
}

// register adds every collector to reg, or none of them.
func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	m.reg = reg
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			m.unregister()
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return fmt.Errorf("store: metrics already registered (wrap the Registerer with a distinguishing label): %w", err)
			}
			return fmt.Errorf("store: register metrics: %w", err)
		}
		m.registered = append(m.registered, c)
	}
	return nil
}

func (m *metrics) unregister() {
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}

func (m *metrics) observeGroup(group []*request, d time.Duration) {
	var total int64
	for _, r := range group {
		total += r.size.total
	}
	m.groupSeconds.Observe(d.Seconds())
	m.batchesPerSync.Observe(float64(len(group)))
	m.bytesWritten.Add(float64(total))
}
