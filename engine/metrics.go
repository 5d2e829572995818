package engine

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	hits         *prometheus.CounterVec
	republished  prometheus.Counter
	duplicates   prometheus.Counter
	noEvidence   prometheus.Counter
	evidence     *prometheus.CounterVec
	captureToHit prometheus.Histogram
	ingestToHit  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	buckets := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	m := &metrics{
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anpr_engine_hits_total",
			Help: "Hits published, by list (a replayed read's hits count again).",
		}, []string{"list"}),
		republished: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anpr_engine_hits_republished_total",
			Help: "Hits published again because their read came again (replay or gateway retry); stored once.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anpr_engine_duplicate_reads_total",
			Help: "Reads dropped because the same read_id came earlier in the same batch.",
		}),
		noEvidence: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anpr_engine_violations_without_evidence_total",
			Help: "Violations not issued because a read of their evidence was no longer stored (past retention).",
		}),
		evidence: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anpr_engine_evidence_reads_total",
			Help: "Violation reads completed from: the batch in hand, the tables written since the read's batch, or the whole store (the costly path).",
		}, []string{"from"}),
		captureToHit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "anpr_engine_capture_to_hit_seconds",
			Help:    "From capture time at the camera to the hit stored and published.",
			Buckets: buckets,
		}),
		ingestToHit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "anpr_engine_ingest_to_hit_seconds",
			Help:    "From the read's Kafka record time to the hit stored and published.",
			Buckets: buckets,
		}),
	}
	if reg != nil {
		reg.MustRegister(m.hits, m.republished, m.duplicates, m.noEvidence, m.evidence, m.captureToHit, m.ingestToHit)
	}
	return m
}
