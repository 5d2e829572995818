package sectioncontrol

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the section-control metrics, shared by the Trackers of all
// partitions. A nil *Metrics records nothing. Safe for concurrent use.
type Metrics struct {
	outcomes  *prometheus.CounterVec
	late      *prometheus.CounterVec
	pending   prometheus.Gauge
	evictions prometheus.Counter
}

// NewMetrics registers the metrics with reg; a nil reg returns nil (no
// metrics).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &Metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anpr_sectioncontrol_outcomes_total",
			Help: "Section-control decisions by section and outcome.",
		}, []string{"section", "outcome"}),
		late: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anpr_sectioncontrol_late_reads_total",
			Help: "Section reads ignored because they arrived after the section's watermark.",
		}, []string{"section"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "anpr_sectioncontrol_pending_entries",
			Help: "Plate states held: vehicles inside a section and reads awaiting a decision.",
		}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anpr_sectioncontrol_evictions_total",
			Help: "Plate states dropped, oldest first, to stay within max pending.",
		}),
	}
	cs := []prometheus.Collector{m.outcomes, m.late, m.pending, m.evictions}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("register sectioncontrol metrics: %w", err)
		}
	}
	return m, nil
}

// counter is a prometheus.Counter resolved once, or nothing.
type counter struct{ c prometheus.Counter }

func (c counter) Inc() {
	if c.c != nil {
		c.c.Inc()
	}
}

func (m *Metrics) outcome(section string, o Outcome) counter {
	if m == nil {
		return counter{}
	}
	return counter{m.outcomes.WithLabelValues(section, o.String())}
}

func (m *Metrics) lateReads(section string) counter {
	if m == nil {
		return counter{}
	}
	return counter{m.late.WithLabelValues(section)}
}

func (m *Metrics) pendingAdd(d float64) {
	if m != nil {
		m.pending.Add(d)
	}
}

func (m *Metrics) evicted() {
	if m != nil {
		m.evictions.Inc()
	}
}
