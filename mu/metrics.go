package mu

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	intake   *prometheus.CounterVec   // by type and outcome
	steps    *prometheus.CounterVec   // by kind and outcome (done, retry, dead)
	pushed   *prometheus.CounterVec   // items and assignments the SU took, by kind
	dups     prometheus.Counter       // SU answers "already exists" taken as success
	dropped  *prometheus.CounterVec   // outbox entries not delivered, by reason
	dead     prometheus.Counter       // tasks dead-lettered
	pending  prometheus.Gauge         // tasks queued or in flight
	stepTime *prometheus.HistogramVec // by kind
	cron     *prometheus.CounterVec   // cron polls by outcome
	failover prometheus.Counter       // calls moved on to the next SU of a set
	// quorumWaits counts result steps that ended without a quorum of CUs (quorum.go).
	quorumWaits prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		quorumWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mu_result_quorum_waits_total", Help: "Result steps that found fewer than --result-quorum CUs attesting one result, retried later.",
		}),
		intake: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mu_intake_total", Help: "Items and assignments POSTed to the MU, by type and outcome.",
		}, []string{"type", "outcome"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mu_crank_steps_total", Help: "Crank steps run, by kind and outcome (done, retry, dead).",
		}, []string{"kind", "outcome"}),
		pushed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mu_pushed_total", Help: "Items and assignments an SU accepted from the crank, by kind.",
		}, []string{"kind"}),
		dups: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mu_su_duplicates_total", Help: "SU answers 'already exists' taken as success (replayed steps).",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mu_outbox_dropped_total", Help: "Outbox entries not delivered, by reason.",
		}, []string{"reason"}),
		dead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mu_dead_letters_total", Help: "Crank tasks given up on and moved to the dead-letter keyspace.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mu_queue_pending", Help: "Crank tasks queued or in flight.",
		}),
		stepTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mu_crank_step_seconds", Help: "Duration of crank steps, by kind.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}, []string{"kind"}),
		failover: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mu_su_failovers_total", Help: "Calls to an SU of a scheduler set that failed (down, 5xx, timeout) and moved on to the next member.",
		}),
		cron: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mu_cron_polls_total", Help: "Cron result polls of monitored processes, by outcome.",
		}, []string{"outcome"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.intake, m.steps, m.pushed, m.dups, m.dropped, m.dead, m.pending, m.stepTime, m.cron, m.failover, m.quorumWaits}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	var done []prometheus.Collector
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			for _, d := range done {
				reg.Unregister(d)
			}
			return errors.Join(errors.New("mu: registering metrics"), err)
		}
		done = append(done, c)
	}
	return nil
}

func (m *metrics) unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range m.collectors() {
		reg.Unregister(c)
	}
}
