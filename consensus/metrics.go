package consensus

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the consensus collectors, shared by every group of a node.
type Metrics struct {
	leaderChanges prometheus.Counter
	applySeconds  prometheus.Histogram
	commitSeconds prometheus.Histogram
	forwarded     *prometheus.CounterVec
	entryRecords  prometheus.Histogram
	groups        prometheus.Gauge
	leaderOf      prometheus.Gauge
	registered    []prometheus.Collector
	registerer    prometheus.Registerer
}

// NewMetrics makes the collectors and registers them on r (nil: not registered).
func NewMetrics(r prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aonode_consensus_leader_changes_total",
			Help: "Leadership changes observed by this member, over all its groups.",
		}),
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "aonode_consensus_apply_seconds",
			Help:    "Time to check and durably apply one batch of committed entries.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14),
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "aonode_consensus_commit_seconds",
			Help:    "Time from proposing an entry to its durable application on the leader.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aonode_consensus_forwarded_writes_total",
			Help: "Writes this member forwarded to its group's leader, by outcome.",
		}, []string{"outcome"}),
		entryRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "aonode_consensus_entry_records",
			Help:    "Slots per Raft entry proposed by this member as leader.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		groups: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aonode_consensus_groups",
			Help: "Raft groups this member runs.",
		}),
		leaderOf: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aonode_consensus_leader_groups",
			Help: "Raft groups this member leads.",
		}),
	}
	if r == nil {
		return m, nil
	}
	m.registerer = r
	for _, c := range []prometheus.Collector{m.leaderChanges, m.applySeconds, m.commitSeconds, m.forwarded, m.entryRecords, m.groups, m.leaderOf} {
		if err := r.Register(c); err != nil {
			m.Unregister()
			return nil, fmt.Errorf("consensus: metrics: %w", err)
		}
		m.registered = append(m.registered, c)
	}
	return m, nil
}

// Unregister removes the collectors NewMetrics registered.
func (m *Metrics) Unregister() {
	for _, c := range m.registered {
		m.registerer.Unregister(c)
	}
	m.registered = nil
}
