package matcher

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anpr/anpr/plate"
)

// Benchmarks of the match path on traffic that is mostly misses (1 read in
// 1000 listed, as on the road). Reproduce the figures in Options.Bloom:
//
//	go test -run='^$' -bench='^BenchmarkMatch$' -benchtime=2s -count=3 ./matcher
//
// and per core without a second goroutine competing: add -cpu=1. Match
// against MatchBatch, table alone:
//
//	go test -run='^$' -bench='^BenchmarkMatch(Batch)?$/entries=1e[357]/bloom=false' -benchtime=2s ./matcher
//
// The 1e7-entry indexes take about a minute and 6 GB to build, once per
// process.

const (
	benchReads = 1 << 16 // distinct reads cycled through; a power of two
	hitEvery   = 1000    // 1 read in hitEvery is listed
)

// plainLetters are the letters outside every default OCR class, so that
// bench plates are their own canonical form and an unlisted read is a miss
// for ocr lists too.
const plainLetters = "ACEFHJKLMNPRTUVWXY"

// plateSpace is the number of plates of the Belgian form 1ABC234 with
// plain letters.
const plateSpace = 10 * 18 * 18 * 18 * 1000

// benchPlate returns the i-th of plateSpace distinct plates, scattered
// over the space (i times a prime coprime with plateSpace).
func benchPlate(i int) string {
	x := uint64(i) * 2654435761 % plateSpace
	var b [7]byte
	for j := 6; j >= 4; j-- {
		b[j] = byte('0' + x%10)
		x /= 10
	}
	for j := 3; j >= 1; j-- {
		b[j] = plainLetters[x%18]
		x /= 18
	}
	b[0] = byte('0' + x)
	return string(b[:])
}

func TestBenchPlatesDistinctAndPlain(t *testing.T) {
	seen := make(map[string]bool)
	for i := range 100_000 {
		p := benchPlate(i)
		if seen[p] {
			t.Fatalf("benchPlate(%d) = %s repeats", i, p)
		}
		seen[p] = true
		if c := plate.DefaultOCRTable.Canonical(p); c != p {
			t.Fatalf("benchPlate(%d) = %s has confusable characters (canonical %s)", i, p, c)
		}
	}
}

// benchSet is the data of one index size, built once per process.
type benchSet struct {
	once   sync.Once
	m      *Matcher // lists "ex" (exact) and "oc" (ocr)
	exact  keyspace // the n plates on list ex, with bloom filters
	canon  keyspace // the n plates on list oc, with bloom filters
	plates []string // read plates, benchReads of them
	heapMB float64  // heap the exact index added, MB
}

var benchSets = map[int]*benchSet{1e3: {}, 1e5: {}, 1e7: {}}

func getBenchSet(b *testing.B, n int) *benchSet {
	s := benchSets[n]
	s.once.Do(func() {
		start := time.Now()
		m, err := New([]List{{Name: "ex", Mode: Exact}, {Name: "oc", Mode: OCR}}, Options{Bloom: true})
		if err != nil {
			b.Fatal(err)
		}
		entries := make([]Entry, n)
		for i := range entries {
			entries[i] = Entry{List: "ex", Plate: benchPlate(i)}
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if err := m.Load(entries); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		s.heapMB = float64(after.HeapAlloc-before.HeapAlloc) / 1e6
		s.exact = m.idx.Load().exact
		for i := range entries {
			entries[i].List = "oc"
		}
		if err := m.Load(entries); err != nil {
			b.Fatal(err)
		}
		s.canon = m.idx.Load().canon
		s.m = m

		// The plates share one backing array, as if decoded in turn from
		// one fetched batch: reading them is a sequential stream.
		var all strings.Builder
		for j := range benchReads {
			p := benchPlate(n + j) // not listed
			if j%hitEvery == 0 {
				p = benchPlate(j * 7919 % n)
			}
			all.WriteString(p)
		}
		s.plates = make([]string, benchReads)
		for j := range s.plates {
			s.plates[j] = all.String()[7*j : 7*j+7]
		}
		b.Logf("entries=%d: built in %v; exact index %.0f MB heap (%.0f B/entry, bloom included)",
			n, time.Since(start).Round(time.Millisecond), s.heapMB, s.heapMB*1e6/float64(n))
	})
	return s
}

// view returns a Matcher over the set's keyspaces: exact and/or canon,
// with or without the bloom filters. Views share the built maps.
func (s *benchSet) view(exact, canon, bloom bool) *Matcher {
	m := &Matcher{lists: s.m.lists, byName: s.m.byName, ocr: s.m.ocr, shards: s.m.shards,
		bloom: bloom, logger: s.m.logger, metrics: s.m.metrics}
	ix := &index{counts: make([]int, len(s.m.lists))}
	if exact {
		ix.exact = withFilters(s.exact, bloom)
	}
	if canon {
		ix.canon = withFilters(s.canon, bloom)
	}
	m.idx.Store(ix)
	return m
}

func withFilters(ks keyspace, bloom bool) keyspace {
	if bloom {
		return ks
	}
	ks.shards = append([]shard(nil), ks.shards...)
	for i := range ks.shards {
		ks.shards[i].filter = nil
	}
	return ks
}

// runParallel matches the set's plates on every P (after each, each(i) if
// not nil) and reports CPU time per check and checks per CPU-second
// ("per core"). On a machine shared with other processes these two are
// more stable than ns/op, which is wall time. Each goroutine reuses one
// Read, which stays in L1 as a freshly decoded read would.
func runParallel(b *testing.B, m *Matcher, plates []string, each func(i int)) {
	b.ReportAllocs()
	var seed atomic.Int64
	cpu0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(7919))
		r := plate.Read{ReadID: fmt.Sprintf("CAM-1/%d", i), CameraID: "CAM-1", TS: t0, Confidence: -1, Lane: -1}
		var dst []Hit
		for pb.Next() {
			r.PlateNorm = plates[i&(len(plates)-1)]
			dst = m.Match(&r, t0, dst[:0])
			i++
			if each != nil {
				each(i)
			}
		}
	})
	reportCPU(b, processCPU()-cpu0)
}

// benchBatch is the number of reads per MatchBatch call in
// BenchmarkMatchBatch.
const benchBatch = 256

// runParallelBatch is runParallel through MatchBatch: each goroutine fills
// a batch of benchBatch reads (one op per read) and matches it at once.
func runParallelBatch(b *testing.B, m *Matcher, plates []string) {
	b.ReportAllocs()
	var seed atomic.Int64
	cpu0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(7919))
		reads := make([]plate.Read, benchBatch)
		for j := range reads {
			reads[j] = plate.Read{ReadID: fmt.Sprintf("CAM-1/%d", i+j), CameraID: "CAM-1", TS: t0, Confidence: -1, Lane: -1}
		}
		var dst []Hit
		n := 0
		for pb.Next() {
			reads[n].PlateNorm = plates[i&(len(plates)-1)]
			i++
			if n++; n == len(reads) {
				dst = m.MatchBatch(reads, t0, dst[:0])
				n = 0
			}
		}
		m.MatchBatch(reads[:n], t0, dst[:0])
	})
	reportCPU(b, processCPU()-cpu0)
}

// reportCPU reports CPU time per check and checks per CPU-second.
func reportCPU(b *testing.B, cpu time.Duration) {
	if cpu <= 0 { // not measured: assume every P was busy all along
		cpu = b.Elapsed() * time.Duration(runtime.GOMAXPROCS(0))
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "checks/s/core")
}

func BenchmarkMatch(b *testing.B) {
	benchMatch(b, []bool{true, false}, func(b *testing.B, m *Matcher, plates []string) {
		runParallel(b, m, plates, nil)
	})
}

// BenchmarkMatchBatch is BenchmarkMatch through MatchBatch, benchBatch
// reads per call (the engine passes whole fetched batches):
//
//	go test -run='^$' -bench='^BenchmarkMatch(Batch)?$/entries=1e7/bloom=false' -benchtime=2s ./matcher
func BenchmarkMatchBatch(b *testing.B) {
	benchMatch(b, []bool{false}, runParallelBatch)
}

// benchMatch runs run for every index size, bloom setting and mode.
func benchMatch(b *testing.B, blooms []bool, run func(b *testing.B, m *Matcher, plates []string)) {
	for _, n := range []int{1e3, 1e5, 1e7} {
		b.Run(fmt.Sprintf("entries=1e%d", int(math.Log10(float64(n)))), func(b *testing.B) {
			s := getBenchSet(b, n)
			for _, bloom := range blooms {
				for _, mode := range []struct {
					name         string
					exact, canon bool
				}{{"exact", true, false}, {"ocr", false, true}, {"exact+ocr", true, true}} {
					b.Run(fmt.Sprintf("bloom=%v/mode=%s", bloom, mode.name), func(b *testing.B) {
						run(b, s.view(mode.exact, mode.canon, bloom), s.plates)
						b.ReportMetric(s.heapMB, "exact-index-MB")
					})
				}
			}
		})
	}
}

// BenchmarkMatchCounting measures what counting checks costs: on every
// read through the shared counter, or once per batch of 256 reads.
//
//	go test -run='^$' -bench='^BenchmarkMatchCounting$' -benchtime=1s ./matcher
func BenchmarkMatchCounting(b *testing.B) {
	s := getBenchSet(b, 1e3) // an index in cache, so the counting shows
	m := s.view(true, false, false)
	for _, c := range []struct {
		name string
		each func(i int)
	}{
		{"none", func(int) {}},
		{"per-read", func(int) { m.CountChecks(1) }},
		{"per-batch", func(i int) {
			if i%256 == 0 {
				m.CountChecks(256)
			}
		}},
	} {
		b.Run("count="+c.name, func(b *testing.B) { runParallel(b, m, s.plates, c.each) })
	}
}

// BenchmarkLoad measures building and publishing an index.
//
//	go test -run='^$' -bench='^BenchmarkLoad$' -benchtime=3x ./matcher
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{1e5, 1e6} {
		b.Run(fmt.Sprintf("entries=1e%d", int(math.Log10(float64(n)))), func(b *testing.B) {
			m, err := New([]List{{Name: "ex", Mode: Exact}, {Name: "oc", Mode: OCR}}, Options{})
			if err != nil {
				b.Fatal(err)
			}
			entries := make([]Entry, n)
			for i := range entries {
				entries[i] = Entry{List: []string{"ex", "oc"}[i%2], Plate: benchPlate(i)}
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := m.Load(entries); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
		})
	}
}
