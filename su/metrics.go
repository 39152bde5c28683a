package su

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the SU's Prometheus collectors, registered on a registry the node owns so that
// several nodes fit in one process.
type Metrics struct {
	scheduled *prometheus.CounterVec
	duration  prometheus.Histogram
	batchSize prometheus.Histogram
	requests  *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		scheduled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "su_schedule_requests_total",
			Help: "Scheduling requests by outcome (ok, refused, error).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "su_schedule_duration_seconds",
			Help:    "Time from a scheduling request to its durable slot (successful requests).",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 15),
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "su_commit_batch_slots",
			Help:    "Slots of one process committed together in one store batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "su_http_requests_total",
			Help: "SU HTTP requests by route and status code.",
		}, []string{"route", "code"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.scheduled, m.duration, m.batchSize, m.requests} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *Metrics) observeSchedule(err error, d time.Duration) {
	var refused *RefusedError
	switch {
	case err == nil:
		m.scheduled.WithLabelValues("ok").Inc()
		m.duration.Observe(d.Seconds())
	case errors.As(err, &refused):
		m.scheduled.WithLabelValues("refused").Inc()
	default:
		m.scheduled.WithLabelValues("error").Inc()
	}
}
