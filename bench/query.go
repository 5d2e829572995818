package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/plate"
)

// Query times the investigators' queries on a store written by Fill.
type Query struct {
	Dir string // a store filled by Fill; required
	// Samples of each query; default 1000 plate histories, 50 camera
	// hours, 20 patterns.
	Samples int
	Seed    uint64
	// CPUProfile, when set, receives a CPU profile (runtime/pprof) of the
	// queries, after the store is opened.
	CPUProfile io.Writer
}

// Latency is a distribution of query times, in milliseconds.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Rows float64 `json:"mean_rows"`
}

// QueryResult is what Query measured.
type QueryResult struct {
	Passages        int     `json:"passages"`
	BytesPerPassage float64 `json:"bytes_per_passage"`
	// PlateCold: plates not asked before since the store was opened (its
	// caches empty; the OS page cache is not dropped). PlateWarm: the
	// same plates asked again.
	PlateCold  Latency `json:"plate_history_cold"`
	PlateWarm  Latency `json:"plate_history_warm"`
	CameraHour Latency `json:"camera_hour"`
	PatternDay Latency `json:"pattern_day"`
}

// Run opens the store, times each query and closes it.
func (q *Query) Run() (QueryResult, error) {
	var res QueryResult
	b, err := os.ReadFile(filepath.Join(q.Dir, metaFile))
	if err != nil {
		return res, fmt.Errorf("query: %s is not a store filled by anpr bench store: %w", q.Dir, err)
	}
	var meta fillMeta
	if err := json.Unmarshal(b, &meta); err != nil {
		return res, fmt.Errorf("query: %s: %w", metaFile, err)
	}
	size, err := dirSize(q.Dir)
	if err != nil {
		return res, err
	}
	res.Passages = meta.Passages
	res.BytesPerPassage = float64(size-int64(len(b))) / float64(meta.Passages)
	st, err := store.Open(store.Options{Dir: q.Dir, Retention: 8760 * time.Hour})
	if err != nil {
		return res, err
	}
	defer st.Close()
	if q.CPUProfile != nil {
		if err := pprof.StartCPUProfile(q.CPUProfile); err != nil {
			return res, err
		}
		defer pprof.StopCPUProfile()
	}
	n := q.Samples
	if n <= 0 {
		n = 1000
	}
	rng := rand.New(rand.NewPCG(q.Seed, 99))
	plates := make([]string, n)
	for i := range plates {
		plates[i] = plateName(rng.IntN(meta.Plates))
	}
	history := func() (Latency, error) {
		return timed(n, func(i int) (int, error) {
			rs, _, err := st.Passages(store.PassageQuery{Plate: plates[i], Limit: 1000})
			return len(rs), err
		})
	}
	if res.PlateCold, err = history(); err != nil {
		return res, err
	}
	if res.PlateWarm, err = history(); err != nil {
		return res, err
	}
	span := meta.To.Sub(meta.From)
	hours := max(1, int(span/time.Hour))
	res.CameraHour, err = timed(max(n/20, 10), func(int) (int, error) {
		from := meta.From.Truncate(time.Hour).Add(time.Duration(rng.IntN(hours)) * time.Hour)
		return all(func(after string) ([]plate.Read, string, error) {
			return st.CameraPassages(store.CameraQuery{Camera: cameraName(rng.IntN(meta.Cameras)), From: from, To: from.Add(time.Hour), After: after, Limit: 1000})
		})
	})
	if err != nil {
		return res, err
	}
	day := meta.To.Add(-24 * time.Hour)
	if day.Before(meta.From) {
		day = meta.From
	}
	res.PatternDay, err = timed(max(n/50, 5), func(int) (int, error) {
		// Three fixed characters of a plate, the rest wild: 1-ABC-234
		// asked as ?ABC*.
		p := plateName(rng.IntN(meta.Plates))
		pat, err := store.CompilePattern("?" + p[1:4] + "*")
		if err != nil {
			return 0, err
		}
		return all(func(after string) ([]plate.Read, string, error) {
			return st.PatternPassages(store.PatternQuery{Pattern: pat, From: day, To: day.Add(24 * time.Hour), After: after, Limit: 1000})
		})
	})
	return res, err
}

// all follows the cursors of page and counts the rows.
func all(page func(after string) ([]plate.Read, string, error)) (int, error) {
	n, after := 0, ""
	for {
		rs, next, err := page(after)
		if err != nil {
			return n, err
		}
		n += len(rs)
		if next == "" {
			return n, nil
		}
		after = next
	}
}

// timed runs fn n times and returns the distribution of its durations.
func timed(n int, fn func(i int) (int, error)) (Latency, error) {
	ds := make([]float64, n)
	rows := 0
	for i := range n {
		start := time.Now()
		r, err := fn(i)
		if err != nil {
			return Latency{}, err
		}
		ds[i] = float64(time.Since(start).Microseconds()) / 1000
		rows += r
	}
	slices.Sort(ds)
	return Latency{P50: ds[n/2], P99: ds[min(n-1, n*99/100)], Max: ds[n-1], Rows: float64(rows) / float64(n)}, nil
}
