package store

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/klauspost/compress/zstd"

	"github.com/anpr/anpr/plate"
)

// gen makes realistic reads: plates drawn from a pool, 500 cameras, capture
// times 1 ms apart, read ids and image refs as gateways write them.
type gen struct {
	rng    *rand.Rand
	plates []string
	base   time.Time
	n      int
}

func newGen(plates int, seed uint64) *gen {
	g := &gen{rng: rand.New(rand.NewPCG(seed, seed)), base: now().Add(-time.Hour)}
	for i := range plates {
		g.plates = append(g.plates, plateOf(i))
	}
	return g
}

var countries = []string{"BE", "BE", "BE", "NL", "FR", "DE", ""}

func (g *gen) read() plate.Read {
	g.n++
	ts := g.base.Add(time.Duration(g.n) * time.Millisecond)
	norm := g.plates[g.rng.IntN(len(g.plates))]
	cam := "CAM-E40-" + strconv.Itoa(100+g.rng.IntN(500))
	stamp := ts.Format("20060102T150405.000Z")
	return plate.Read{
		ReadID:       cam + "/" + stamp + "/" + strconv.Itoa(g.n%10),
		CameraID:     cam,
		TS:           ts,
		Plate:        norm[:1] + "-" + norm[1:4] + "-" + norm[4:],
		PlateNorm:    norm,
		Country:      countries[g.rng.IntN(len(countries))],
		Confidence:   float64(50+g.rng.IntN(50)) / 100,
		Lane:         g.rng.IntN(4),
		VehicleClass: plate.ClassCar,
		ImageRef:     "s3://anpr/" + ts.Format("2006/01/02") + "/" + cam + "/" + stamp + ".jpg",
	}
}

// batch returns size reads and one hit, as a partition worker would write.
func (g *gen) batch(size int) *Batch {
	b := &Batch{Reads: make([]plate.Read, size)}
	for i := range b.Reads {
		b.Reads[i] = g.read()
	}
	b.Hits = []Event{hit(b.Reads[0], "stolen")}
	return b
}

// ring cycles through pre-generated batches so that a benchmark measures the
// store, not the generator. Each lap moves every capture time forward by the
// span of the ring and renames reads and hits (one allocation per batch), so
// every Write stores new reads and a new hit.
type ring struct {
	batches []*Batch
	readIDs [][]string // of batches[i] at lap 0
	hitIDs  [][]string
	span    time.Duration
	i, lap  int
}

func newRing(g *gen, batches, size int) *ring {
	r := &ring{}
	for range batches {
		b := g.batch(size)
		r.batches = append(r.batches, b)
		r.hitIDs = append(r.hitIDs, ids(b.Hits))
		var readIDs []string
		for _, rd := range b.Reads {
			readIDs = append(readIDs, rd.ReadID)
		}
		r.readIDs = append(r.readIDs, readIDs)
	}
	r.span = time.Duration(batches*size) * time.Millisecond
	return r
}

func (r *ring) next() *Batch {
	if r.i == len(r.batches) {
		r.i = 0
		r.lap++
		lap := "/" + strconv.Itoa(r.lap)
		for i, b := range r.batches {
			var sb strings.Builder
			sb.Grow(len(b.Reads) * (len(r.readIDs[i][0]) + len(lap) + 8))
			for _, id := range r.readIDs[i] {
				sb.WriteString(id)
				sb.WriteString(lap)
			}
			all := sb.String()
			for j := range b.Reads {
				rd := &b.Reads[j]
				rd.TS = rd.TS.Add(r.span)
				rd.ReadID, all = all[:len(r.readIDs[i][j])+len(lap)], all[len(r.readIDs[i][j])+len(lap):]
			}
			for j := range b.Hits {
				h := &b.Hits[j]
				h.TS = h.TS.Add(r.span)
				h.ID = r.hitIDs[i][j] + lap
			}
		}
	}
	r.i++
	return r.batches[r.i-1]
}

// BenchmarkWrite measures batch writes of new reads, each batch with one new
// hit as a partition worker writes them: synced to disk (the default) or not
// (Options.NoSync), from one writer or GOMAXPROCS at once (two partition
// workers on a 2-core machine). cpu-µs/passage is the process's CPU time,
// Badger's compactions included, per passage.
//
//	go test -run '^$' -bench 'Write' -benchtime 3s ./internal/store/
func BenchmarkWrite(b *testing.B) {
	const size = 1000
	writerCounts := []int{1}
	if n := runtime.GOMAXPROCS(0); n > 1 {
		writerCounts = append(writerCounts, n)
	}
	for _, writers := range writerCounts {
		for _, synced := range []bool{true, false} {
			b.Run(fmt.Sprintf("batch=%d/writers=%d/sync=%v", size, writers, synced), func(b *testing.B) {
				s := open(b, Options{NoSync: !synced})
				rings := make(chan *ring, writers)
				for w := range writers {
					rings <- newRing(newGen(100_000, uint64(w+1)), 32, size)
				}
				cpu := cpuTime()
				b.ReportAllocs()
				if writers == 1 {
					r := <-rings
					for b.Loop() {
						if _, err := s.Write(r.next()); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					// b.Loop resets the timer for one writer; here it is ours to do.
					b.ResetTimer()
					b.SetParallelism(1) // GOMAXPROCS goroutines, one ring each
					b.RunParallel(func(pb *testing.PB) {
						r := <-rings
						for pb.Next() {
							if _, err := s.Write(r.next()); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "passages/s")
				b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N*size), "cpu-µs/passage")
			})
		}
	}
}

// fill writes n passages of n/10 plates (10 per plate on average) and
// reopens the store so that they are read from tables, not memtables.
func fill(b *testing.B, n int) *Store {
	dir := b.TempDir()
	s, err := Open(Options{Dir: dir, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	g := newGen(n/10, 1)
	for range n / 1000 {
		if _, err := s.Write(g.batch(1000)); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	return open(b, Options{Dir: dir})
}

// BenchmarkPassages measures one plate's full history (about 10 passages)
// among many, reporting the median and 99th percentile latency.
//
//	go test -run '^$' -bench 'Passages' -benchtime 20000x ./internal/store/
func BenchmarkPassages(b *testing.B) {
	for _, tt := range []struct {
		name string
		n    int
	}{{"1e5", 1e5}, {"1e6", 1e6}} {
		n := tt.n
		b.Run("passages="+tt.name, func(b *testing.B) {
			s := fill(b, n)
			rng := rand.New(rand.NewPCG(2, 2))
			var lat []time.Duration
			rows := 0
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				got, _, err := s.Passages(PassageQuery{Plate: plateOf(rng.IntN(n / 10))})
				lat = append(lat, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				rows += len(got)
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
			b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
		})
	}
}

// BenchmarkDisk writes 1e6 passages and reports the data directory's size
// per passage after Close (Badger pre-allocates files; Close truncates them),
// then after compacting everything into one level, which is where old data
// ends up. Run it alone, once; the peak RSS is the process's.
//
//	go test -run '^$' -bench 'Disk' -benchtime 1x ./internal/store/
func BenchmarkDisk(b *testing.B) {
	const n = 1_000_000
	b.Run("passages=1e6", func(b *testing.B) {
		for b.Loop() {
			dir := b.TempDir()
			s, err := Open(Options{Dir: dir})
			if err != nil {
				b.Fatal(err)
			}
			g := newGen(n/10, 1)
			start, cpu := time.Now(), cpuTime()
			var valBytes int
			for range n / 1000 {
				batch := g.batch(1000)
				for i := range batch.Reads {
					valBytes += len(appendPassageValue(nil, &batch.Reads[i], gatewaySeq(&batch.Reads[i])))
				}
				if _, err := s.Write(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(n/time.Since(start).Seconds(), "passages/s")
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/n, "cpu-µs/passage")
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(dirSize(b, dir))/n, "B/passage")
			b.ReportMetric(float64(valBytes)/n, "value-B/passage")

			s = open(b, Options{Dir: dir})
			if err := s.db.Flatten(2); err != nil {
				b.Fatal(err)
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(dirSize(b, dir))/n, "flat-B/passage")
			s = open(b, Options{Dir: dir})
			reportTables(b, s, n)
		}
		b.ReportMetric(peakRSSMiB(b), "peak-RSS-MiB")
	})
}

func dirSize(b *testing.B, dir string) int64 {
	var size int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		size += info.Size()
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return size
}

// peakRSSMiB reads VmHWM from /proc/self/status (Linux), or 0.
func peakRSSMiB(b *testing.B) float64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%f kB", &kb); err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	return 0
}

// cpuTime returns the user and system CPU time of the process so far: every
// goroutine's, Badger's compactions included. On a shared machine it says
// more than wall-clock throughput.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportTables reports, per key prefix ('P', 'C', 'G'), the on-disk bytes of
// its tables per passage and what they are made of: entries, the keys and
// values as written, Badger's uncompressed block bytes (entry headers and
// offsets, versions, value metadata and expiry included), bloom filters and
// block index. A table is counted under the prefix of its smallest key; after
// Flatten the key ranges make that nearly exact. content is the prefix's keys
// and values alone, whole, zstd-compressed in chunks of a block's size: what
// the data holds, without Badger's per-entry bytes.
func reportTables(b *testing.B, s *Store, n int) {
	// keys, disk, raw, index, bloom: of the tables counted under the prefix;
	// entries, kv, content: of the keys of the prefix (exact).
	type sum struct{ keys, disk, raw, index, bloom, entries, kv, content float64 }
	by := map[byte]*sum{}
	for _, t := range s.db.Tables() {
		p := byte('?')
		if len(t.Left) > 0 {
			p = t.Left[0]
		}
		if by[p] == nil {
			by[p] = &sum{}
		}
		x := by[p]
		x.keys += float64(t.KeyCount)
		x.disk += float64(t.OnDiskSize)
		x.raw += float64(t.UncompressedSize)
		x.index += float64(t.IndexSz - t.BloomFilterSize)
		x.bloom += float64(t.BloomFilterSize)
	}
	// content: the keys and values alone, whole, zstd-compressed in chunks
	// of a block's size, as Badger's zstd level 1 does.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		b.Fatal(err)
	}
	var chunk []byte
	var chunkOf byte
	flush := func() {
		if x := by[chunkOf]; x != nil {
			x.content += float64(len(enc.EncodeAll(chunk, nil)))
		}
		chunk = chunk[:0]
	}
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{AllVersions: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			key := it.Item().Key()
			if key[0] != chunkOf || len(chunk) >= 16<<10 {
				flush()
				chunkOf = key[0]
			}
			if x := by[key[0]]; x != nil {
				x.entries++
				x.kv += float64(len(key) + int(it.Item().ValueSize()))
			}
			chunk = append(chunk, key...)
			if err := it.Item().Value(func(v []byte) error {
				chunk = append(chunk, v...)
				return nil
			}); err != nil {
				return err
			}
		}
		flush()
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range []byte("PCG") {
		x := by[p]
		if x == nil {
			continue
		}
		k := string(p)
		b.ReportMetric(x.disk/float64(n), k+"-B/passage")
		b.ReportMetric(x.entries/float64(n), k+"-entries/passage")
		b.ReportMetric(x.kv/x.entries, k+"-kv-B/entry")
		b.ReportMetric(x.content/x.entries, k+"-content-zstd-B/entry")
		b.ReportMetric(x.raw/x.keys, k+"-block-B/entry")
		b.ReportMetric((x.disk-x.index-x.bloom)/x.keys, k+"-zstd-B/entry")
		b.ReportMetric(x.bloom/x.keys, k+"-bloom-B/entry")
		b.ReportMetric(x.index/x.keys, k+"-index-B/entry")
	}
}
