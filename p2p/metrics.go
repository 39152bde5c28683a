package p2p

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	validated   *prometheus.CounterVec // topic kind, result
	delivered   *prometheus.CounterVec // topic kind, outcome (delivered, dropped)
	pushAge     prometheus.Histogram
	fetchServed *prometheus.CounterVec // status
	fetched     *prometheus.CounterVec // result
	evidence    *prometheus.CounterVec // source (push, gossip, local)
	directory   prometheus.GaugeFunc
	peers       prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, dirLen, peerCount func() float64) (*metrics, error) {
	m := &metrics{
		validated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "aonode", Subsystem: "p2p", Name: "gossip_validated_total",
			Help: "Gossip messages validated, by topic kind and result (accept, reject, ignore).",
		}, []string{"topic", "result"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "aonode", Subsystem: "p2p", Name: "gossip_delivered_total",
			Help: "Validated process pushes handed to subscribers, or dropped because a subscriber lagged.",
		}, []string{"outcome"}),
		pushAge: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "aonode", Subsystem: "p2p", Name: "process_push_age_seconds",
			Help:    "Age (now minus the assignment's Timestamp) of process pushes from other nodes when delivered: the SU's commit plus the gossip path. Testnets sum it across nodes for delivery and latency.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		fetchServed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "aonode", Subsystem: "p2p", Name: "fetch_served_total",
			Help: "Fetch-by-id requests served to peers, by status.",
		}, []string{"status"}),
		fetched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "aonode", Subsystem: "p2p", Name: "fetch_total",
			Help: "Items fetched by id from peers, by result.",
		}, []string{"result"}),
		evidence: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "aonode", Subsystem: "p2p", Name: "evidence_total",
			Help: "Equivocation evidence found among pushes (push), accepted from ao/1/evidence (gossip) or handed over by the node (local), once per pair; CU contradictions received (attestation).",
		}, []string{"source"}),
		directory: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "aonode", Subsystem: "p2p", Name: "directory_records",
			Help: "Node records in the directory.",
		}, dirLen),
		peers: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "aonode", Subsystem: "p2p", Name: "connected_peers",
			Help: "Peers with an open connection.",
		}, peerCount),
	}
	if reg != nil {
		var done []prometheus.Collector
		for _, c := range []prometheus.Collector{m.validated, m.delivered, m.pushAge, m.fetchServed, m.fetched, m.evidence, m.directory, m.peers} {
			if err := reg.Register(c); err != nil {
				for _, d := range done {
					reg.Unregister(d)
				}
				return nil, err
			}
			done = append(done, c)
		}
	}
	return m, nil
}
