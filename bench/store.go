package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/plate"
)

// Fill writes generated passages straight into a store (no Kafka, no
// matching): national-feed shaped traffic for the query benchmark.
type Fill struct {
	Dir string // the store's directory; required, should be new
	// Passages to write; default 10,000,000.
	Passages int
	// Cameras, default 12,700 (SPEC §1, UK scale).
	Cameras int
	// PerPlate is the mean number of passages of a plate over the fill;
	// default 20 (plates = Passages / PerPlate).
	PerPlate int
	// PerDay is the passages per day of capture time; default 60 M. The
	// fill ends now and starts Passages / PerDay days before.
	PerDay int
	Seed   uint64
	// Sync makes every batch durable like the pipeline's; default off: a
	// bulk load, the store's files are the same.
	Sync bool
}

// FillResult is what a fill measured.
type FillResult struct {
	Passages      int     `json:"passages"`
	Seconds       float64 `json:"seconds"`
	PassagesPerS  float64 `json:"passages_per_s"`
	CPUMicrosEach float64 `json:"cpu_us_per_passage"`
	// Settle*: the compactions after the writes, until every level is
	// within its target size (Store.Settle), and their CPU per passage.
	SettleSeconds       float64 `json:"settle_seconds"`
	SettleCPUMicrosEach float64 `json:"settle_cpu_us_per_passage"`
	BytesPerPassage     float64 `json:"bytes_per_passage"`
}

// fillMeta is what Fill leaves beside the store for Query.
type fillMeta struct {
	Passages, Cameras, Plates int
	From, To                  time.Time
	Seed                      uint64
}

const metaFile = "bench-fill.json"

func (f *Fill) defaults() {
	if f.Passages <= 0 {
		f.Passages = 10_000_000
	}
	if f.Cameras <= 0 {
		f.Cameras = 12_700
	}
	if f.PerPlate <= 0 {
		f.PerPlate = 20
	}
	if f.PerDay <= 0 {
		f.PerDay = 60_000_000
	}
}

// plateName is the i-th generated plate: Belgian 1-ABC-234 style.
func plateName(i int) string {
	b := [7]byte{byte('1' + i%9)}
	i /= 9
	for k := 1; k <= 3; k++ {
		b[k] = byte('A' + i%26)
		i /= 26
	}
	for k := 4; k < 7; k++ {
		b[k] = byte('0' + i%10)
		i /= 10
	}
	return string(b[:])
}

func cameraName(i int) string { return "CAM-" + strconv.Itoa(100000+i) }

// Run fills the store. Passages are written in capture-time order (as a
// live feed arrives), in batches of 2000 from two writers.
func (f *Fill) Run() (FillResult, error) {
	f.defaults()
	if f.Dir == "" {
		return FillResult{}, errors.New("fill: dir: required")
	}
	plates := max(1, f.Passages/f.PerPlate)
	to := time.Now().UTC().Truncate(time.Millisecond)
	span := time.Duration(float64(f.Passages) / float64(f.PerDay) * float64(24*time.Hour))
	from := to.Add(-span)
	st, err := store.Open(store.Options{Dir: f.Dir, NoSync: !f.Sync, PlatesPerDay: min(plates, 20_000_000)})
	if err != nil {
		return FillResult{}, err
	}
	const batch, writers = 2000, 2
	start, cpu0 := time.Now(), cpuNow()
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(f.Seed, uint64(w)))
			reads := make([]plate.Read, batch)
			// Writer w takes the batches w, w+writers, ...: both move
			// through capture time together.
			for b := w * batch; b < f.Passages; b += writers * batch {
				n := min(batch, f.Passages-b)
				for i := range n {
					seq := b + i
					ts := from.Add(time.Duration(float64(span) * float64(seq) / float64(f.Passages))).Truncate(time.Millisecond)
					cam := cameraName(rng.IntN(f.Cameras))
					norm := plateName(rng.IntN(plates))
					reads[i] = plate.Read{
						ReadID:   cam + "/" + ts.Format("20060102T150405.000Z") + "/" + strconv.Itoa(seq%8),
						CameraID: cam, TS: ts, Plate: norm, PlateNorm: norm, Country: "BE",
						Confidence: float64(80+rng.IntN(20)) / 100, Lane: rng.IntN(3), VehicleClass: plate.ClassCar,
						ImageRef: "s3://anpr/" + ts.Format("2006/01/02") + "/" + strconv.Itoa(seq) + ".jpg",
					}
				}
				if _, err := st.Write(&store.Batch{Reads: reads[:n]}); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	cpu := cpuNow() - cpu0
	// A bulk load outruns compaction: let it bring the levels back within
	// their targets, as months of a real feed would have.
	settle := time.Now()
	if err := errors.Join(errs...); err == nil {
		errs = append(errs, st.Settle(context.Background()))
	}
	settleSecs := time.Since(settle).Seconds()
	settleCPU := cpuNow() - cpu0 - cpu
	if err := errors.Join(append(errs, st.Close())...); err != nil {
		return FillResult{}, fmt.Errorf("fill: %w", err)
	}
	size, err := dirSize(f.Dir)
	if err != nil {
		return FillResult{}, err
	}
	meta, _ := json.Marshal(fillMeta{Passages: f.Passages, Cameras: f.Cameras, Plates: plates, From: from, To: to, Seed: f.Seed})
	if err := os.WriteFile(filepath.Join(f.Dir, metaFile), meta, 0o600); err != nil {
		return FillResult{}, err
	}
	return FillResult{Passages: f.Passages, Seconds: secs, PassagesPerS: float64(f.Passages) / secs,
		CPUMicrosEach: float64(cpu.Microseconds()) / float64(f.Passages),
		SettleSeconds: settleSecs, SettleCPUMicrosEach: float64(settleCPU.Microseconds()) / float64(f.Passages),
		BytesPerPassage: float64(size) / float64(f.Passages)}, nil
}

func cpuNow() time.Duration {
	cpu, _ := usage()
	return cpu
}
