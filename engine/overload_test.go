package engine_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/engine"
)

// slowStore makes every store commit wait until open is closed, then 50
// ms, one at a time: a disk far slower than the reads offered.
func slowStore(cfg *engine.Config, open <-chan struct{}) {
	var disk sync.Mutex
	cfg.StoreFailCommit = func() error {
		<-open
		disk.Lock()
		defer disk.Unlock()
		time.Sleep(50 * time.Millisecond)
		return nil
	}
}

// overloadReads returns n reads of plates distinct modulo plates; key, when
// set, puts them all in one partition.
func overloadReads(n, plates int, key string) []kafka.Message {
	now := time.Now().UTC().Truncate(time.Millisecond)
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		p := fmt.Sprintf("%dOL%04d", i%10, i%plates)
		k := key
		if k == "" {
			k = p
		}
		msgs[i] = msg(k, readJSON(fmt.Sprintf("ol%d", i), "CAM-A", now.Add(time.Duration(i-n)*time.Millisecond), p, "BE"))
	}
	return msgs
}

// TestOverload offers reads far faster than a slowed store takes them (the
// store takes nothing until all are offered). The consumer lag must grow
// and be reported in anpr_ingest_consumer_lag, and nothing may be dropped.
// (Memory: TestOverloadMemory.)
func TestOverload(t *testing.T) {
	addr := startBroker(t)
	dir := t.TempDir()
	const n = 40_000
	msgs := overloadReads(n, 4000, "")
	reg := prometheus.NewRegistry()
	cfg := testConfig(addr, dir)
	cfg.Registerer, cfg.Gatherer = reg, reg
	open := make(chan struct{})
	slowStore(&cfg, open)
	r := start(t, cfg)
	produce(t, addr, msgs...)
	close(open)
	var maxLag float64
	waitFor(t, 5*time.Minute, "every read consumed", func() bool {
		lag := metricSum(t, reg, "anpr_ingest_consumer_lag")
		maxLag = max(maxLag, lag)
		return metricSum(t, reg, "anpr_ingest_records_consumed_total") == n && lag == 0
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if maxLag < n/4 {
		t.Errorf("highest lag reported %v with %d reads offered at once to a slow store: the lag is not reported", maxLag, n)
	}
	if got := countPassages(t, dir, msgs); got != n {
		t.Errorf("%d reads stored, want %d", got, n)
	}
	t.Logf("%d reads offered at once: highest lag reported %v, every read stored", n, maxLag)
}

// TestOverloadMemory puts a backlog of ANPR_OVERLOAD_READS reads (`make
// overload`: 1e6; skipped when unset: it takes a minute) in one partition
// before a slowed engine starts, and samples the live heap (after a GC)
// while it works through them: the peak of the second half of the backlog
// must not exceed the first half's by more than a quarter. Workers pull (a
// partition reader queues at most 10,000 records and 10 MiB a fetch, a
// worker holds at most two batches of 2,000), and Badger's memtables and
// caches are capped, so once those are full the heap stays flat however
// long the backlog is; it waits in Kafka.
func TestOverloadMemory(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv("ANPR_OVERLOAD_READS"))
	if err != nil {
		t.Skip("ANPR_OVERLOAD_READS not set (make overload)")
	}
	addr := startBroker(t)
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	cfg := testConfig(addr, dir)
	cfg.Registerer, cfg.Gatherer = reg, reg
	open := make(chan struct{})
	close(open)
	slowStore(&cfg, open)
	produce(t, addr, overloadReads(n, 5000, "one")...)
	before := heapAlloc()
	r := start(t, cfg)
	var peak [2]uint64
	waitFor(t, 20*time.Minute, "every read consumed", func() bool {
		done := metricSum(t, reg, "anpr_ingest_records_consumed_total")
		half := 0
		if done >= float64(n/2) {
			half = 1
		}
		peak[half] = max(peak[half], heapAlloc())
		return done == float64(n)
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reads in one partition: live heap %d MiB before the engine started (the broker's copy), peak %d MiB over the first half, %d MiB over the second",
		n, before>>20, peak[0]>>20, peak[1]>>20)
	if peak[1] > peak[0]+peak[0]/4 {
		t.Errorf("the live heap grows with the backlog: %d MiB over the first half, %d MiB over the second", peak[0]>>20, peak[1]>>20)
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
