package engine_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/engine"
	"github.com/anpr/anpr/internal/kclient"
)

// BenchmarkPipeline measures the whole pipeline through the embedded broker
// over TCP: decode, dedupe, match, persist (fsync'd Badger), produce hits,
// commit. The reads are produced before the timer starts; each iteration is
// a fresh consumer group and store consuming all of them.
//
//	go test -run '^$' -bench Pipeline -benchtime 3x ./engine/
func BenchmarkPipeline(b *testing.B) {
	for _, n := range []int{200_000} {
		b.Run(fmt.Sprintf("reads=%d", n), func(b *testing.B) {
			addr := startBroker(b)
			now := time.Now().UTC().Truncate(time.Millisecond)
			w := kclient.Config{Brokers: []string{addr}}.Writer(topics.Reads)
			batch := make([]kafka.Message, 0, 5000)
			for i := range n {
				p := fmt.Sprintf("%dBEN%04d", i%10, i%100000)
				if i%500 == 0 {
					p = "1ABC234" // a listed plate: 0.2 % of reads hit
				}
				batch = append(batch, msg(p, readJSON(fmt.Sprintf("CAM-%d/%d", i%300, i), fmt.Sprintf("CAM-%d", i%300), now.Add(-time.Duration(n-i)*time.Millisecond), p, "BE")))
				if len(batch) == cap(batch) || i == n-1 {
					if err := w.WriteMessages(context.Background(), batch...); err != nil {
						b.Fatal(err)
					}
					batch = batch[:0]
				}
			}
			w.Close()
			b.ReportAllocs()
			b.ResetTimer()
			var total time.Duration
			for i := 0; b.Loop(); i++ {
				cfg := testConfig(addr, b.TempDir())
				cfg.Group = fmt.Sprintf("bench-%d", i)
				cfg.HTTPListen = ""
				reg := prometheus.NewRegistry()
				cfg.Registerer = reg
				e, err := engine.Open(cfg)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				start := time.Now()
				go func() { done <- e.Run(ctx) }()
				for metricSum(b, reg, "anpr_store_passages_written_total") < float64(n) {
					time.Sleep(5 * time.Millisecond)
				}
				total += time.Since(start)
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				e.Close()
			}
			b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "reads/s")
		})
	}
}

// metricSum sums the series of a counter or gauge family that carry the
// given label name and value pairs (none: every series).
func metricSum(tb testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
					return l.GetName() == labels[i] && l.GetValue() == labels[i+1]
				}) {
					continue series
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() // the other is nil: 0
		}
	}
	return sum
}
