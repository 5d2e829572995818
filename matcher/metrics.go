package matcher

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the matcher's Prometheus metrics. They always exist, so
// updates need no nil checks; they are registered only when a Registerer
// is given.
type metrics struct {
	checks     prometheus.Counter
	hits       *prometheus.CounterVec
	suppressed *prometheus.CounterVec
	entries    *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		checks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anpr_matcher_checks_total",
			Help: "Reads checked against the hotlists (counted per batch by the caller).",
		}),
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anpr_matcher_hits_total",
			Help: "Hits found, before suppression.",
		}, []string{"list"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anpr_matcher_suppressed_total",
			Help: "Hits dropped as repeats within the list's suppress window.",
		}, []string{"list"}),
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "anpr_matcher_entries",
			Help: "Hotlist entries loaded.",
		}, []string{"list"}),
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.checks, m.hits, m.suppressed, m.entries}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("register matcher metrics: %w", err)
		}
	}
	return m, nil
}
