package bench

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anpr/anpr/internal/simulate"
	"github.com/anpr/anpr/matcher"
	"github.com/anpr/anpr/plate"
)

// Matcher is the hotlist-matching workload: Entries generated plates on one
// list of Mode, matched with MatchBatch (as the engine does) against
// realistic reads: mostly plates of the traffic, a share of listed plates
// read right, OCR-confused and one edit away (Traffic's shares).
type Matcher struct {
	// Traffic is the network and the mix of the reads; its Listed plates
	// are replaced by the generated entries, Rate and Clock are ignored.
	Traffic simulate.Config
	// Entries is the size of the list; default 1,000,000.
	Entries int
	// Mode of the list; default matcher.Exact.
	Mode matcher.Mode
	// Duration of the matching; default 3 s.
	Duration time.Duration
	// Workers matching at once, each its own batches; default GOMAXPROCS.
	Workers int
	// Reads is how many distinct reads are generated and cycled through;
	// default 262,144.
	Reads int
	// Batch is the number of reads per MatchBatch call; default 500 (the
	// engine passes whole fetched batches of up to 2000).
	Batch int
}

// MatcherResult is what one run of Matcher measured.
type MatcherResult struct {
	Entries int    `json:"entries"`
	Mode    string `json:"mode"`
	// Load: wall and process CPU time of Matcher.Load of every entry, and
	// the live heap the index holds afterwards per entry.
	LoadS         float64 `json:"load_s"`
	LoadCPUS      float64 `json:"load_cpu_s"`
	BytesPerEntry float64 `json:"bytes_per_entry"`
	Workers       int     `json:"workers"`
	Checks        int64   `json:"checks"`
	Seconds       float64 `json:"seconds"`
	// ChecksPerS is checks over wall time; ChecksPerSPerCore over the
	// process's CPU time, the steadier figure on a shared machine, and
	// NsPerCheck its inverse.
	ChecksPerS        float64 `json:"checks_per_s"`
	ChecksPerSPerCore float64 `json:"checks_per_s_per_core"`
	NsPerCheck        float64 `json:"cpu_ns_per_check"`
	// HitsPerMillion is the hits per million checks: the listed, confused
	// and garbled reads that the mode catches.
	HitsPerMillion float64 `json:"hits_per_million_checks"`
}

// Run builds the list, generates the reads and matches them.
func (c Matcher) Run(ctx context.Context) (MatcherResult, error) {
	if c.Entries <= 0 {
		c.Entries = 1_000_000
	}
	if c.Mode == "" {
		c.Mode = matcher.Exact
	}
	if c.Duration <= 0 {
		c.Duration = 3 * time.Second
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.Reads <= 0 {
		c.Reads = 1 << 18
	}
	if c.Batch <= 0 {
		c.Batch = 500
	}
	m, err := matcher.New([]matcher.List{{Name: "bench", Mode: c.Mode}}, matcher.Options{})
	if err != nil {
		return MatcherResult{}, err
	}
	plates := simulate.Plates(c.Traffic, c.Entries)
	res := MatcherResult{Entries: c.Entries, Mode: string(c.Mode), Workers: c.Workers}
	before := liveHeap() // plates stay live (the generator's), entries are freed after Load
	if err := c.load(m, plates, &res); err != nil {
		return res, err
	}
	res.BytesPerEntry = float64(int64(liveHeap())-int64(before)) / float64(c.Entries)
	c.Traffic.Listed = plates
	g, err := simulate.NewGenerator(c.Traffic)
	if err != nil {
		return res, err
	}

	// Reads 2 ms apart, in the order the generator makes them.
	reads := make([]plate.Read, 0, c.Reads+8)
	for at := time.Now().Add(-time.Duration(c.Reads) * 2 * time.Millisecond); len(reads) < c.Reads; at = at.Add(2 * time.Millisecond) {
		reads = append(reads, g.Next(at)...)
	}
	reads = reads[:c.Reads]

	var checks, hits atomic.Int64
	runtime.GC()
	cpu0, _ := usage()
	start := time.Now()
	end := start.Add(c.Duration)
	var wg sync.WaitGroup
	for w := range c.Workers {
		wg.Go(func() {
			var dst []matcher.Hit
			var n, h int64
			// Every worker matches at least 16 batches, however late it starts.
			for i := w * c.Batch * 97 % len(reads); ; {
				for range 16 { // check the clock every 16 batches
					to := min(i+c.Batch, len(reads))
					dst = m.MatchBatch(reads[i:to], time.Now(), dst[:0])
					n += int64(to - i)
					h += int64(len(dst))
					if i = to; i == len(reads) {
						i = 0
					}
				}
				if ctx.Err() != nil || time.Now().After(end) {
					break
				}
			}
			checks.Add(n)
			hits.Add(h)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, _ := usage()
	runtime.KeepAlive(m)
	cpu := cpu1 - cpu0
	res.Checks = checks.Load()
	res.Seconds = elapsed.Seconds()
	res.ChecksPerS = float64(res.Checks) / elapsed.Seconds()
	res.ChecksPerSPerCore = float64(res.Checks) / cpu.Seconds()
	res.NsPerCheck = float64(cpu.Nanoseconds()) / float64(res.Checks)
	res.HitsPerMillion = float64(hits.Load()) / float64(res.Checks) * 1e6
	return res, nil
}

// load loads an entry per plate into m and times it.
func (c Matcher) load(m *matcher.Matcher, plates []string, res *MatcherResult) error {
	entries := make([]matcher.Entry, len(plates))
	for i, p := range plates {
		entries[i] = listEntry(p, i)
	}
	cpu0, _ := usage()
	start := time.Now()
	if err := m.Load(entries); err != nil {
		return err
	}
	res.LoadS = time.Since(start).Seconds()
	cpu1, _ := usage()
	res.LoadCPUS = (cpu1 - cpu0).Seconds()
	return nil
}

// listEntry is the i-th entry of the bench list, every field set as a
// national list has them, so that bytes per entry are those of real lists.
func listEntry(p string, i int) matcher.Entry {
	return matcher.Entry{List: "bench", Plate: p,
		Category: []string{"stolen_vehicle", "wanted_person", "no_insurance", "expired_mot"}[i%4],
		Priority: 1 + i%3, Action: []string{"intercept", "observe", "report"}[i%3],
		Reference: "PV-2026-" + strconv.Itoa(1_000_000+i), Reason: "reported 2026-11-01"}
}

// liveHeap returns the live heap after two collections: one leaves what
// sync.Pools held in their victim caches, which the next frees, so a single
// one before and after a load could give a negative difference (seen in a
// test process whose earlier tests had filled pools with MBs).
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
