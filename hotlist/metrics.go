package hotlist

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are a Follower's Prometheus metrics. They always exist, so
// updates need no nil checks; they are registered only when a Registerer
// is given.
type metrics struct {
	bad     *prometheus.CounterVec
	changes *prometheus.CounterVec
	apply   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		bad: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anpr_hotlist_bad_records_total",
			Help: "Records of the hotlist topic skipped, by reason.",
		}, []string{"reason"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anpr_hotlist_changes_total",
			Help: "Hotlist changes passed to the matcher, by op (put, delete).",
		}, []string{"op"}),
		apply: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "anpr_hotlist_apply_seconds",
			Help:    "Time from a hotlist record's Kafka timestamp to its change in force in the matcher (records written after start).",
			Buckets: []float64{.001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10},
		}),
	}
	// Every label value exists from the start, so rates work from zero.
	for _, r := range reasons {
		m.bad.WithLabelValues(r)
	}
	m.changes.WithLabelValues("put")
	m.changes.WithLabelValues("delete")
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.bad, m.changes, m.apply}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("register hotlist metrics: %w", err)
		}
	}
	return m, nil
}
