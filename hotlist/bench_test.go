package hotlist

import (
	"context"
	"flag"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/anpr/anpr/matcher"
)

// BenchmarkChangeInForce measures the SPEC §8 promise, a list change in
// force within a second (p99): each iteration publishes one entry with
// Put (acks=all), then polls the matcher every 100 µs until the Follower
// has applied it. Changes are spaced 5 ms apart, as from an operator
// console, not a bulk import. The list holds entries= entries beforehand
// (loaded directly), since an Apply rebuilds the shard it touches.
//
//	go test -run '^$' -bench ChangeInForce -benchtime 500x ./hotlist/
func BenchmarkChangeInForce(b *testing.B) {
	for _, n := range []int{0, 1e6} {
		b.Run(fmt.Sprintf("entries=%.0e", float64(n)), func(b *testing.B) {
			kc := startBroker(b)
			m := newMatcher(b)
			base := make([]matcher.Entry, n)
			for i := range base {
				base[i] = matcher.Entry{List: "uninsured", Plate: fmt.Sprintf("PL%07d", i)}
			}
			if err := m.Load(base); err != nil {
				b.Fatal(err)
			}
			base = nil
			f := startFollower(b, kc, m, nil)
			waitReady(b, f)
			p := newPublisher(b, kc, nil)
			ctx := context.Background()
			var lat []time.Duration
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				e := matcher.Entry{List: "uninsured", Plate: fmt.Sprintf("BN%06d", i)}
				i++
				start := time.Now()
				if err := p.Put(ctx, []matcher.Entry{e}); err != nil {
					b.Fatal(err)
				}
				waitFor(b, 10*time.Second, "change in force", func() bool {
					if len(m.Entries(e.List, e.Plate)) == 1 {
						return true
					}
					time.Sleep(100 * time.Microsecond)
					return false
				})
				lat = append(lat, time.Since(start))
				time.Sleep(5 * time.Millisecond)
			}
			slices.Sort(lat)
			q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(q(1), "max-ms")
		})
	}
}

var replay1e7 = flag.Bool("replay1e7", false, "BenchmarkReplay: also replay 1e7 records (minutes, about 6 GB)")

// BenchmarkReplay measures the rebuild at start: a fresh Follower replays
// entries= records (Publisher form, 4 partitions, lz4) into an empty
// matcher until Ready; producing them and stopping the Follower are not
// timed. The embedded broker runs in the same process and shares the CPU;
// cpu-µs/record counts it too.
//
//	go test -run '^$' -bench Replay -benchtime 3x ./hotlist/
//	go test -run '^$' -bench 'Replay/entries=1e7' -benchtime 1x -replay1e7 ./hotlist/
func BenchmarkReplay(b *testing.B) {
	for _, n := range []int{1e5, 1e6, 1e7} {
		if n == 1e7 && !*replay1e7 {
			continue
		}
		b.Run(fmt.Sprintf("entries=1e%d", int(math.Log10(float64(n)))), func(b *testing.B) {
			kc := startBroker(b)
			p := newPublisher(b, kc, nil)
			const chunk = 1e5 // the entries of all n at once would be 200 MB
			for i := 0; i < n; i += chunk {
				entries := make([]matcher.Entry, min(chunk, n-i))
				for j := range entries {
					entries[j] = matcher.Entry{List: "uninsured", Plate: fmt.Sprintf("PL%07d", i+j), Country: "BE",
						Category: "uninsured", Action: "stop", Reference: fmt.Sprintf("REF-%d", i+j),
						ValidFrom: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
				}
				if err := p.Put(context.Background(), entries); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			var cpu time.Duration
			for b.Loop() {
				cpu0 := processCPU()
				m := newMatcher(b)
				f, err := NewFollower(Config{Kafka: kc}, m)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- f.Run(ctx) }()
				wait, cancelWait := context.WithTimeout(ctx, 10*time.Minute)
				err = f.WaitReady(wait)
				cancelWait()
				b.StopTimer()
				cpu += processCPU() - cpu0
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				if got := m.Lists()[1].Entries; got != n {
					b.Fatalf("entries after replay = %d, want %d", got, n)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			// CPU time of the whole process (broker included), which other
			// processes on a shared machine do not inflate as they do wall
			// time.
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(n)/float64(b.N), "cpu-µs/record")
		})
	}
}
