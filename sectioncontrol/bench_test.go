package sectioncontrol

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/anpr/anpr/plate"
)

// Reproduce with:
//
//	go test -run '^$' -bench . -benchtime 1s ./sectioncontrol/
//
// Pairing reports reads/s/core from the process CPU time (getrusage), so
// other processes on a shared machine do not deflate it; GC work counts.

func benchConfig() Config {
	return Config{
		Sections: []Section{{ID: "S1", Entry: []string{"A1", "A2"}, Exit: []string{"B1", "B2"}, LengthM: 1000, LimitKmh: 120,
			ClassLimits: map[string]float64{"truck": 90}}},
		Cameras: []plate.Camera{
			{ID: "A1", Certificate: plate.Certificate{ID: "CA1", ValidUntil: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)}},
			{ID: "A2", Certificate: plate.Certificate{ID: "CA2", ValidUntil: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)}},
			{ID: "B1", Certificate: plate.Certificate{ID: "CB1", ValidUntil: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)}},
			{ID: "B2", Certificate: plate.Certificate{ID: "CB2", ValidUntil: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)}},
		},
	}
}

// benchRead is a realistic read: SPEC §3 sized read_id and image_ref.
func benchRead(cam string, ts time.Time, p string) plate.Read {
	return plate.Read{
		ReadID: fmt.Sprintf("%s/%s/1", cam, ts.Format("20060102T150405.000Z")), CameraID: cam, TS: ts,
		Plate: p, PlateNorm: p, Country: "BE", Confidence: 0.93, Lane: 1, VehicleClass: plate.ClassCar,
		ImageRef: "s3://anpr/2026/11/22/" + p + ".jpg",
	}
}

// passages returns the reads of n vehicles, one entering every millisecond,
// exiting 25-40 s later (2 % of them too fast), in capture order (an exit
// before an entry at the same millisecond).
func passages(n int) []plate.Read {
	t0 := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	reads := make([]plate.Read, 0, 2*n)
	for i := range n {
		p := fmt.Sprintf("B%06d", i%200_000) // a plate comes back after 200 s
		te := t0.Add(time.Duration(i) * time.Millisecond)
		travel := 30*time.Second + time.Duration(i%10_000)*time.Millisecond
		if i%50 == 0 {
			travel = 26 * time.Second
		}
		reads = append(reads, benchRead("A1", te, p), benchRead("B1", te.Add(travel), p))
	}
	slices.SortStableFunc(reads, func(a, b plate.Read) int {
		return cmp.Or(a.TS.Compare(b.TS), -cmp.Compare(a.CameraID, b.CameraID))
	})
	return reads
}

func BenchmarkPairing(b *testing.B) {
	const batch = 1000
	reads := passages(200_000)
	b.ReportAllocs()
	cpu0 := processCPU()
	var n, violations int
	for b.Loop() {
		tr, err := New(benchConfig(), nil)
		if err != nil {
			b.Fatal(err)
		}
		now := time.Unix(0, 0)
		for i := range reads {
			tr.Observe(&reads[i], int64(i))
			if i%batch == batch-1 {
				now = now.Add(time.Millisecond)
				for _, d := range tr.Advance(now) {
					if d.Outcome == OutcomeViolation {
						violations++
					}
				}
			}
		}
		tr.Advance(now.Add(time.Hour))
		n += len(reads)
	}
	cpu := processCPU() - cpu0
	if violations == 0 {
		b.Fatal("no violations: the workload is wrong")
	}
	b.ReportMetric(float64(n)/cpu.Seconds(), "reads/s/core")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/read")
}

// BenchmarkPendingMemory holds vehicles inside a section (entries decided,
// awaiting their exit) and reports the live heap per vehicle.
func BenchmarkPendingMemory(b *testing.B) {
	for _, n := range []int{1_000_000} {
		b.Run(fmt.Sprintf("vehicles=%.0e", float64(n)), func(b *testing.B) {
			t0 := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
			for b.Loop() {
				before := heapAlloc()
				tr, err := New(benchConfig(), nil)
				if err != nil {
					b.Fatal(err)
				}
				for i := range n {
					r := benchRead("A1", t0.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("M%07d", i))
					tr.Observe(&r, int64(i))
					if i%1000 == 999 {
						tr.Advance(time.Unix(0, 0))
					}
				}
				// A read 3 min after the last entry moves the watermark past
				// them all: every entry decided, awaiting its exit.
				r := benchRead("A1", t0.Add(time.Duration(n)*time.Millisecond+3*time.Minute), "LAST")
				tr.Observe(&r, int64(n))
				tr.Advance(time.Unix(0, 0))
				after := heapAlloc()
				if tr.Pending() != n+1 {
					b.Fatalf("pending %d, want %d", tr.Pending(), n+1)
				}
				b.ReportMetric(float64(after-before)/float64(n), "bytes/vehicle")
				runtime.KeepAlive(tr)
			}
		})
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// processCPU returns the CPU time (user and system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
