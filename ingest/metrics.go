package ingest

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/anpr/anpr/plate"
)

type metrics struct {
	consumed      prometheus.Counter
	replayed      prometheus.Counter
	rejected      *prometheus.CounterVec
	unknownCamera prometheus.Counter
	lag           *prometheus.GaugeVec
	batchSize     prometheus.Histogram
	commits       prometheus.Counter
	restarts      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		consumed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anpr_ingest_records_consumed_total",
			Help: "Records read from the reads topic.",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anpr_ingest_records_replayed_total",
			Help: "Records read again below the committed offset to rebuild state after a restart or rebalance.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anpr_ingest_records_rejected_total",
			Help: "Records sent to the dead-letter topic (or refused over HTTP), by reason.",
		}, []string{"reason"}),
		unknownCamera: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anpr_ingest_unknown_camera_total",
			Help: "Valid reads from a camera that is not in the registry (stored and matched all the same).",
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "anpr_ingest_consumer_lag",
			Help: "Records behind the high watermark (as of the newest fetch), per partition, after the last batch.",
		}, []string{"partition"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "anpr_ingest_batch_records",
			Help:    "Records per processed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anpr_ingest_offset_commits_total",
			Help: "Offset commits to the group coordinator.",
		}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anpr_ingest_partition_restarts_total",
			Help: "Partitions started over from their committed offset because Kafka refused their outputs.",
		}),
	}
	for _, r := range []string{plate.ReasonInvalidJSON, plate.ReasonMissingField, plate.ReasonInvalidField, plate.ReasonFutureTS, plate.ReasonTooLarge} {
		m.rejected.WithLabelValues(r) // export zeros so dashboards see every reason
	}
	if reg != nil {
		reg.MustRegister(m.consumed, m.replayed, m.rejected, m.unknownCamera, m.lag, m.batchSize, m.commits, m.restarts)
	}
	return m
}

type gatewayMetrics struct {
	accepted prometheus.Counter
	rejected *prometheus.CounterVec
}

func newGatewayMetrics(reg prometheus.Registerer) *gatewayMetrics {
	m := &gatewayMetrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anpr_ingest_http_reads_accepted_total",
			Help: "Reads accepted over POST /api/v1/reads and written to the reads topic.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anpr_ingest_http_reads_rejected_total",
			Help: "Reads refused over POST /api/v1/reads (answered to the gateway, not sent to the DLQ), by reason.",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.accepted, m.rejected)
	}
	return m
}
