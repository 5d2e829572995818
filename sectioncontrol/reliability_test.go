package sectioncontrol

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// enterOnly feeds n distinct plates entering section S1 one millisecond
// apart, none exiting, to a Tracker capped at maxPending. check, when not
// nil, is called every 10,000 plates.
func enterOnly(tb testing.TB, n, maxPending int, check func(i int, tr *Tracker)) (*Tracker, *Metrics) {
	tb.Helper()
	cfg := benchConfig()
	cfg.MaxPending = maxPending
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	tr, err := New(cfg, m)
	if err != nil {
		tb.Fatal(err)
	}
	t0 := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	for i := range n {
		r := benchRead("A1", t0.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("E%08d", i))
		tr.Observe(&r, int64(i))
		if i%1000 == 999 {
			tr.Advance(time.Unix(0, 0))
		}
		if check != nil && i%10_000 == 9_999 {
			check(i, tr)
		}
	}
	return tr, m
}

// TestPendingCap: plates that enter and never exit keep a Tracker at its
// cap, not above; every plate dropped is counted as an eviction, and the
// heap stops growing once the cap is reached.
func TestPendingCap(t *testing.T) {
	const maxPending, n = 20_000, 200_000
	var atCap, atEnd uint64
	tr, m := enterOnly(t, n, maxPending, func(i int, tr *Tracker) {
		if tr.Pending() > maxPending {
			t.Fatalf("after %d plates %d pending, cap %d", i+1, tr.Pending(), maxPending)
		}
		switch i + 1 {
		case 2 * maxPending:
			atCap = heapAlloc()
		case n:
			atEnd = heapAlloc()
		}
	})
	evicted := testutil.ToFloat64(m.evictions)
	if int(evicted) != n-tr.Pending() {
		t.Errorf("%d plates, %d pending, %v evictions counted; want every dropped plate counted", n, tr.Pending(), evicted)
	}
	// Allow for the garbage collector's slack, not for growth with the
	// plates seen (5x more since atCap).
	if atEnd > atCap+atCap/2 {
		t.Errorf("heap %d KiB at %d plates, %d KiB at %d: it grows past the cap", atCap>>10, 2*maxPending, atEnd>>10, n)
	}
	t.Logf("%d plates, cap %d: %d pending, %v evicted; heap %d KiB at 2x cap, %d KiB at the end",
		n, maxPending, tr.Pending(), evicted, atCap>>10, atEnd>>10)
	runtime.KeepAlive(tr)
}

// BenchmarkPendingCap feeds ten million distinct plates entering without
// exiting to one Tracker with the default cap (2e6) and reports the live
// heap, the evictions and the CPU per read.
//
//	go test -run '^$' -bench PendingCap -benchtime 1x ./sectioncontrol/
func BenchmarkPendingCap(b *testing.B) {
	const n = 10_000_000
	for b.Loop() {
		before := heapAlloc()
		cpu0 := processCPU()
		var peak int
		tr, m := enterOnly(b, n, 0, func(_ int, tr *Tracker) { peak = max(peak, tr.Pending()) })
		cpu := processCPU() - cpu0
		after := heapAlloc()
		evicted := testutil.ToFloat64(m.evictions)
		if int(evicted) != n-tr.Pending() || peak > 2_000_000 {
			b.Fatalf("%d pending (peak %d), %v evicted", tr.Pending(), peak, evicted)
		}
		b.ReportMetric(float64(after-before)/(1<<20), "heap-MiB")
		b.ReportMetric(evicted, "evictions")
		b.ReportMetric(float64(peak), "peak-pending")
		b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/read")
		runtime.KeepAlive(tr)
	}
}
