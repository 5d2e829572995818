package api

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	panics   prometheus.Counter
	streams  prometheus.Gauge
	acks     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anpr_api_requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "anpr_api_request_duration_seconds",
			Help:    "HTTP request duration by route (streams: their whole life).",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anpr_api_handler_panics_total",
			Help: "Handlers that panicked and were answered with a JSON 500.",
		}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "anpr_api_streams_open",
			Help: "Live hit streams open.",
		}),
		acks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anpr_api_hit_acks_total",
			Help: "Hit acknowledgements by list and outcome (false_read over all: the OCR quality signal).",
		}, []string{"list", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.panics, m.streams, m.acks)
	}
	return m
}
