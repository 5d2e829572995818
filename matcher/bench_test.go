package matcher

import (
	"fmt"
	"math"
	"runtime"
	"slices"
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
		s.exact = m.idx.Load().ks[ksExact]
		for i := range entries {
			entries[i].List = "oc"
		}
		if err := m.Load(entries); err != nil {
			b.Fatal(err)
		}
		s.canon = m.idx.Load().ks[ksCanon]
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
		bloom: bloom, logger: s.m.logger, metrics: s.m.metrics, ocrLists: s.m.ocrLists}
	ix := newIndex(len(s.m.lists), s.m.shards)
	ix.strs = s.m.idx.Load().strs
	if exact {
		ix.ks[ksExact] = withFilters(s.exact, bloom)
	}
	if canon {
		ix.ks[ksCanon] = withFilters(s.canon, bloom)
	}
	m.idx.Store(ix)
	return m
}

func withFilters(ks keyspace, bloom bool) keyspace {
	if bloom {
		return ks
	}
	ks.shards = slices.Clone(ks.shards)
	for i, sh := range ks.shards {
		c := *sh
		c.filter = nil
		ks.shards[i] = &c
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

// fullEntry returns the i-th of a set of entries with every field set, as
// a national list has them: plates from benchPlate, references unique,
// categories and actions from a few values.
func fullEntry(list string, i int) Entry {
	return Entry{List: list, Plate: benchPlate(i), Country: "BE",
		Category: []string{"stolen_vehicle", "wanted_person", "no_insurance", "expired_mot"}[i%4],
		Priority: 1 + i%3, Action: []string{"intercept", "observe", "report"}[i%3],
		Reference: fmt.Sprintf("PV-2026-%07d", i), Reason: "theft reported 2026-11-01",
		ValidFrom: t0.AddDate(0, -1, 0), ValidUntil: t0.AddDate(0, 6, i%30), Covert: i%50 == 0}
}

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkLoad measures building and publishing an index of entries with
// every field set (fullEntry), and the heap the index holds once the
// entries given to Load are dropped (heap-B/entry). s/load is wall time,
// cpu-s/load the CPU time of the process (Load uses every core to merge
// shards):
//
//	go test -run='^$' -bench='^BenchmarkLoad$' -benchtime=1x ./matcher
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{1e5, 1e6, 1e7} {
		for _, mode := range []Mode{Exact, OCR, Fuzzy} {
			if n == 1e7 && mode == Fuzzy {
				continue // about 3 GB
			}
			b.Run(fmt.Sprintf("entries=1e%d/mode=%s", int(math.Log10(float64(n))), mode), func(b *testing.B) {
				m, err := New([]List{{Name: "l", Mode: mode}}, Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				var heap uint64
				var cpu time.Duration
				for b.Loop() {
					b.StopTimer()
					m.Load(nil)
					before := heapInUse()
					entries := make([]Entry, n)
					for i := range entries {
						entries[i] = fullEntry("l", i)
					}
					b.StartTimer()
					cpu0 := processCPU()
					if err := m.Load(entries); err != nil {
						b.Fatal(err)
					}
					cpu += processCPU() - cpu0
					b.StopTimer()
					entries = nil
					heap = heapInUse() - before
					b.StartTimer()
				}
				b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/load")
				b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/load")
				b.ReportMetric(float64(heap)/float64(n), "heap-B/entry")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// BenchmarkApply measures how long a batch of changes takes to be in
// force at 1e7 entries (an exact list): Apply of one change or of 1000
// (half upserts of new plates, half deletes of listed ones), p50 and p99
// over the calls:
//
//	go test -run='^$' -bench='^BenchmarkApply$' -benchtime=200x ./matcher
func BenchmarkApply(b *testing.B) {
	const n = 1e7
	m, err := New([]List{{Name: "l", Mode: Exact}}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	entries := make([]Entry, n)
	for i := range entries {
		entries[i] = fullEntry("l", i)
	}
	if err := m.Load(entries); err != nil {
		b.Fatal(err)
	}
	entries = nil
	for _, size := range []int{1, 1000} {
		b.Run(fmt.Sprintf("entries=1e7/changes=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			var times []time.Duration
			next := 0
			for b.Loop() {
				changes := make([]Change, size)
				for j := range changes {
					next++
					if j%2 == 0 {
						changes[j] = Change{Entry: fullEntry("l", n+next)}
					} else {
						changes[j] = Change{Delete: true, Entry: Entry{List: "l", Plate: benchPlate(next * 7919 % n)}}
					}
				}
				start := time.Now()
				if err := m.Apply(changes); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start))
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1e3, "p50-ms")
			b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1e3, "p99-ms")
		})
	}
}

// fuzzyPlate returns the i-th of random-looking 7-character plates over
// the characters that are their own OCR canonical form (27 of them): a
// sparser space than benchPlate's, as real plates of several formats are.
func fuzzyPlate(i int) string {
	const chars = "0123456789ACEFHJKLMNPRTUVWXY"
	x := uint64(i)*0x9E3779B97F4A7C15 + 1
	x ^= x >> 29
	var b [7]byte
	for j := range b {
		b[j] = chars[x%uint64(len(chars))]
		x /= uint64(len(chars))
	}
	return string(b[:])
}

// fuzzySet is a fuzzy list of 1e6 entries, built once per process and
// distance.
type fuzzySet struct {
	m      *Matcher
	plates []string // read plates, benchReads of them
	heap   float64  // heap the index takes, B/entry
	hits   float64  // hits per read
}

var fuzzySets = map[[2]int]*fuzzySet{}

func getFuzzySet(b *testing.B, n, d int) *fuzzySet {
	if s, ok := fuzzySets[[2]int{n, d}]; ok {
		return s
	}
	m, err := New([]List{{Name: "fz", Mode: Fuzzy, MaxDistance: d}}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	before := heapInUse()
	entries := make([]Entry, n)
	for i := range entries {
		entries[i] = Entry{List: "fz", Plate: fuzzyPlate(i)}
	}
	if err := m.Load(entries); err != nil {
		b.Fatal(err)
	}
	entries = nil
	s := &fuzzySet{m: m, heap: float64(heapInUse()-before) / float64(n), plates: make([]string, benchReads)}
	for j := range s.plates {
		s.plates[j] = fuzzyPlate(n + j)
		if j%hitEvery == 0 {
			s.plates[j] = fuzzyPlate(j * 7919 % n)
		}
	}
	hits := 0
	for _, p := range s.plates {
		hits += len(m.Match(&plate.Read{PlateNorm: p, TS: t0}, t0, nil))
	}
	s.hits = float64(hits) / float64(len(s.plates))
	fuzzySets[[2]int{n, d}] = s
	return s
}

// BenchmarkMatchFuzzy measures MatchBatch on a fuzzy list (distance 1 or
// 2) of 1e6 entries (1e3: in cache, the cost of computing), 1 read in 1000
// listed, and the heap the list takes
// (heap-B/entry, the canon and fuzzy keyspaces together). At distance 2
// most reads have a neighbour among 1e6 random 7-character plates: the
// hits, not the lookups, dominate.
//
//	go test -run='^$' -bench='^BenchmarkMatchFuzzy$' -benchtime=2s ./matcher
func BenchmarkMatchFuzzy(b *testing.B) {
	for _, c := range []struct{ n, d int }{{1e3, 1}, {1e6, 1}, {1e6, 2}} {
		b.Run(fmt.Sprintf("entries=1e%d/distance=%d", int(math.Log10(float64(c.n))), c.d), func(b *testing.B) {
			s := getFuzzySet(b, c.n, c.d) // built once, in the first call, which is not reported
			b.ResetTimer()
			runParallelBatch(b, s.m, s.plates)
			b.ReportMetric(s.heap, "heap-B/entry")
			b.ReportMetric(s.hits, "hits/read")
		})
	}
}
