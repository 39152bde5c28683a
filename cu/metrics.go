package cu

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	evaluations       *prometheus.CounterVec
	evalSeconds       prometheus.Histogram
	compileSeconds    prometheus.Histogram
	checkpoints       prometheus.Counter
	checkpointBytes   prometheus.Histogram
	checkpointSeconds prometheus.Histogram
	restores          prometheus.Counter
	evictions         prometheus.Counter
	liveInstances     prometheus.Gauge
	liveBytes         prometheus.Gauge
	dryRuns           prometheus.Counter
	dryRunRefused     *prometheus.CounterVec
	dryRunTimeouts    prometheus.Counter
	dryRunBytes       prometheus.Gauge
	evalTimeouts      prometheus.Counter
	paused            prometheus.Gauge
	duplicates        prometheus.Counter
	requests          *prometheus.CounterVec
	all               []prometheus.Collector
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		evaluations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aonode_cu_evaluations_total", Help: "Messages evaluated, by outcome (ok, error, trap).",
		}, []string{"outcome"}),
		evalSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aonode_cu_evaluation_seconds", Help: "Time to evaluate one message.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		compileSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aonode_cu_compile_seconds", Help: "Time to compile a module.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 8),
		}),
		checkpoints: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aonode_cu_checkpoints_total", Help: "Memory checkpoints written.",
		}),
		checkpointBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aonode_cu_checkpoint_bytes", Help: "Compressed size of checkpoints written.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 10),
		}),
		checkpointSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aonode_cu_checkpoint_seconds", Help: "Time to compress and write a checkpoint.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
		restores: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aonode_cu_checkpoint_restores_total", Help: "Processes resumed from a checkpoint.",
		}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aonode_cu_evictions_total", Help: "Processes unloaded to stay within the instance budget.",
		}),
		liveInstances: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aonode_cu_live_processes", Help: "Processes holding memory.",
		}),
		liveBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aonode_cu_live_bytes", Help: "Memory held by live processes (counted against the budget).",
		}),
		dryRuns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aonode_cu_dry_runs_total", Help: "Dry-runs evaluated.",
		}),
		dryRunRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aonode_cu_dry_runs_refused_total", Help: "Dry-runs and /state reads refused, by reason (rate, process, busy, memory, cancelled).",
		}, []string{"reason"}),
		dryRunTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aonode_cu_dry_run_timeouts_total", Help: "Dry-runs stopped by the wall-clock limit.",
		}),
		dryRunBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aonode_cu_dry_run_bytes", Help: "Memory of dry-run instances counted against the budget.",
		}),
		evalTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aonode_cu_evaluation_timeouts_total", Help: "Evaluations stopped by the wall-clock limit (nothing recorded; the process paused).",
		}),
		paused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aonode_cu_paused_processes", Help: "Processes paused after an evaluation exceeded the wall-clock limit.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aonode_cu_duplicates_skipped_total", Help: "Scheduled messages skipped as duplicates of earlier ones.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aonode_cu_http_requests_total", Help: "CU HTTP requests by route and status.",
		}, []string{"route", "status"}),
	}
	m.all = []prometheus.Collector{m.evaluations, m.evalSeconds, m.compileSeconds, m.checkpoints,
		m.checkpointBytes, m.checkpointSeconds, m.restores, m.evictions, m.liveInstances, m.liveBytes,
		m.dryRuns, m.dryRunRefused, m.dryRunTimeouts, m.dryRunBytes, m.evalTimeouts, m.paused,
		m.duplicates, m.requests}
	for i, c := range m.all {
		if err := reg.Register(c); err != nil {
			for _, done := range m.all[:i] {
				reg.Unregister(done)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, errors.New("cu: metrics already registered (one CU per registry)")
			}
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) unregister(reg prometheus.Registerer) {
	for _, c := range m.all {
		reg.Unregister(c)
	}
}
