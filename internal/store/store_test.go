package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/anpr/anpr/plate"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// open opens a store in dir (a new temporary one when empty) and closes it
// when the test ends.
func open(t testing.TB, opts Options) *Store {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Logger == nil && testing.Verbose() {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// plateOf returns the normalized plate number i, e.g. "1ABC234".
func plateOf(i int) string {
	return fmt.Sprintf("%d%c%c%c%03d", i%10, 'A'+i/10%26, 'A'+i/260%26, 'A'+i/6760%26, i/175760%1000)
}

// read returns a realistic read of plate norm at ts, with read id n.
func read(norm string, ts time.Time, n int) plate.Read {
	cam := fmt.Sprintf("CAM-E40-%03d", n%500)
	return plate.Read{
		ReadID:       fmt.Sprintf("%s/%s/%d", cam, ts.UTC().Format("20060102T150405.000Z"), n),
		CameraID:     cam,
		TS:           ts.UTC(),
		Plate:        norm[:1] + "-" + norm[1:4] + "-" + norm[4:],
		PlateNorm:    norm,
		Country:      "BE",
		Confidence:   0.93,
		Lane:         n % 3,
		VehicleClass: plate.ClassCar,
		ImageRef:     fmt.Sprintf("s3://anpr/%s/%d.jpg", ts.UTC().Format("2006/01/02"), n),
	}
}

// now is a capture time well inside the default retention, at ms precision.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// hit returns a hit of r on list, with an id that is a function of both.
func hit(r plate.Read, list string) Event {
	id := fmt.Sprintf("h_%08x%016x", len(list), xxhash.Sum64String(r.ReadID+"/"+list))
	return Event{ID: id, ReadID: r.ReadID, TS: r.TS,
		JSON: fmt.Appendf(nil, `{"hit_id":%q,"list":%q}`, id, list)}
}

func write(t testing.TB, s *Store, b *Batch) WriteResult {
	t.Helper()
	res, err := s.Write(b)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return res
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want int // number of problems
	}{
		{"ok", Options{Dir: "x"}, 0},
		{"no dir", Options{}, 1},
		{"all wrong", Options{Retention: -time.Hour}, 2},
	}
	for _, tt := range tests {
		err := tt.opts.Validate()
		got := 0
		if err != nil {
			got = len(err.(interface{ Unwrap() []error }).Unwrap())
		}
		if got != tt.want {
			t.Errorf("%s: Validate() = %v, want %d problems", tt.name, err, tt.want)
		}
	}
	if _, err := Open(Options{}); err == nil {
		t.Error("Open(Options{}) = nil error, want one")
	}
}

func TestCloseIdempotent(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := s.Write(&Batch{Reads: []plate.Read{read(plateOf(1), now(), 1)}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
	if _, _, err := s.Passages(PassageQuery{Plate: plateOf(1)}); !errors.Is(err, ErrClosed) {
		t.Errorf("Passages after Close = %v, want ErrClosed", err)
	}
	if _, err := s.RecentEvents(Hits, time.Time{}, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("RecentEvents after Close = %v, want ErrClosed", err)
	}
	if _, err := s.EventsByID(Hits, []string{"x"}); !errors.Is(err, ErrClosed) {
		t.Errorf("EventsByID after Close = %v, want ErrClosed", err)
	}
	if _, _, err := s.Events(Hits, "", 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Events after Close = %v, want ErrClosed", err)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	s := open(t, Options{Registerer: reg})
	r := read(plateOf(1), now(), 1)
	old := read(plateOf(2), time.Now().Add(-2*DefaultRetention), 2)
	h := hit(r, "stolen")
	write(t, s, &Batch{Reads: []plate.Read{r, r, old}, Hits: []Event{h, h}})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		m := f.GetMetric()[0]
		if f.GetType() == dto.MetricType_HISTOGRAM {
			got[f.GetName()] = float64(m.GetHistogram().GetSampleCount())
		} else {
			got[f.GetName()] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"anpr_store_passages_written_total": 1,
		"anpr_store_batch_duplicates_total": 1,
		"anpr_store_expired_total":          1,
		"anpr_store_hits_written_total":     1,
		"anpr_store_known_hits_total":       1,
		"anpr_store_write_errors_total":     0,
		"anpr_store_write_seconds":          1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("metrics = %v, want %v", got, want)
	}
	if _, err := Open(Options{Dir: t.TempDir(), Registerer: reg}); err == nil {
		t.Error("Open with metrics already registered = nil error, want one")
	}
}

func TestRun(t *testing.T) {
	logs := recorder{min: slog.LevelDebug}
	s := open(t, Options{Logger: slog.New(&logs)})
	write(t, s, &Batch{Reads: []plate.Read{read(plateOf(1), now(), 1)}})
	s.gc() // what Run does every gcInterval: nothing to rewrite, nothing to warn about
	if got := logs.count(slog.LevelWarn); got != 0 {
		t.Errorf("gc logged %d warnings or errors", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestBadgerLogs(t *testing.T) {
	logs := recorder{min: slog.LevelDebug}
	open(t, Options{Logger: slog.New(&logs)}) // Badger logs at Info when it opens
	if got := logs.count(slog.LevelDebug); got == 0 {
		t.Error("no Badger log line reached the logger")
	}
	if got := logs.count(slog.LevelInfo); got != 0 {
		t.Errorf("%d Badger log lines at Info or above, want them at Debug", got)
	}
}

// recorder is a slog.Handler that keeps the levels of Badger's records.
type recorder struct {
	min    slog.Level // lowest level enabled
	mu     sync.Mutex
	levels []slog.Level
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.min }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler           { return r }
func (r *recorder) WithGroup(string) slog.Handler                { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "source" && a.Value.String() == "badger" {
			r.mu.Lock()
			r.levels = append(r.levels, rec.Level)
			r.mu.Unlock()
		}
		return true
	})
	return nil
}

// count returns how many records had level min or above.
func (r *recorder) count(min slog.Level) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.levels {
		if l >= min {
			n++
		}
	}
	return n
}

// TestFormat: a new store records its format and opens again; a store with
// data and no format (written before formats were recorded), or of another
// format, is refused with ErrFormat.
func TestFormat(t *testing.T) {
	dir := t.TempDir()
	if err := open(t, Options{Dir: dir}).Close(); err != nil {
		t.Fatal(err)
	}
	if err := open(t, Options{Dir: dir}).Close(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		set  func(txn *badger.Txn) error
	}{
		{"no format, data", func(txn *badger.Txn) error {
			if err := txn.Delete([]byte{prefixFormat}); err != nil {
				return err
			}
			return txn.Set([]byte{prefixPassage, 'X'}, nil)
		}},
		{"format 1", func(txn *badger.Txn) error { return txn.Set([]byte{prefixFormat}, []byte{1}) }},
	} {
		dir := t.TempDir()
		s := open(t, Options{Dir: dir})
		if err := s.db.Update(tt.set); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s, err := Open(Options{Dir: dir}); !errors.Is(err, ErrFormat) {
			if err == nil {
				s.Close()
			}
			t.Errorf("%s: Open = %v, want ErrFormat", tt.name, err)
		}
	}
}
