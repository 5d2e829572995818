package engine_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// TestOverload offers reads far faster than a slowed store takes them (a
// slow disk: every commit waits 50 ms, one at a time). The consumer lag
// must grow and be reported in anpr_ingest_consumer_lag, and nothing may
// be dropped. Memory is bounded by construction (workers pull: a partition
// reader queues at most 10,000 records and 10 MiB per fetch, a worker
// holds at most two batches of 2,000), so a backlog beyond that waits in
// Kafka; this backlog is within the bound, so the peak heap is logged, not
// checked (docs/RELIABILITY.md).
func TestOverload(t *testing.T) {
	addr := startBroker(t)
	dir := t.TempDir()
	const n, plates = 40_000, 4_000
	now := time.Now().UTC().Truncate(time.Millisecond)
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		p := fmt.Sprintf("%dOL%04d", i%10, i%plates)
		msgs[i] = msg(p, readJSON(fmt.Sprintf("ol%d", i), "CAM-A", now.Add(time.Duration(i-n)*time.Millisecond), p, "BE"))
	}
	reg := prometheus.NewRegistry()
	cfg := testConfig(addr, dir)
	cfg.Registerer, cfg.Gatherer = reg, reg
	var disk sync.Mutex
	cfg.StoreFailCommit = func() error {
		disk.Lock()
		defer disk.Unlock()
		time.Sleep(50 * time.Millisecond)
		return nil
	}
	r := start(t, cfg)
	base := heapAlloc()
	produce(t, addr, msgs...)
	var maxLag float64
	var peak uint64
	waitFor(t, 5*time.Minute, "every read consumed", func() bool {
		lag := gauge(t, reg, "anpr_ingest_consumer_lag")
		maxLag = max(maxLag, lag)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
		return counter(t, reg, "anpr_ingest_records_consumed_total") == n && lag == 0
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if maxLag < n/8 {
		t.Errorf("highest lag reported %v with %d reads offered at once to a slow store: the lag is not reported", maxLag, n)
	}
	if got := countPassages(t, dir, msgs); got != n {
		t.Errorf("%d reads stored, want %d", got, n)
	}
	t.Logf("%d reads: highest lag reported %v, peak heap %d MiB over %d MiB at the start (broker's copy included)",
		n, maxLag, (peak-min(base, peak))>>20, base>>20)
}

func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// gauge sums the series of a gauge family.
func gauge(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}
