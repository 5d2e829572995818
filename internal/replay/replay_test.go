package replay

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/matcher"
	"github.com/anpr/anpr/plate"
)

func fill(t *testing.T) (*store.Store, []plate.Read, time.Time) {
	t.Helper()
	st, err := store.Open(store.Options{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	base := time.Now().UTC().Add(-30 * time.Hour).Truncate(time.Hour)
	rng := rand.New(rand.NewPCG(7, 8))
	var reads []plate.Read
	for i := range 3000 {
		norm := fmt.Sprintf("1RPL%03d", rng.IntN(200))
		cam := fmt.Sprintf("CAM-%d", rng.IntN(4))
		reads = append(reads, plate.Read{ReadID: fmt.Sprintf("%s/%d", cam, i), CameraID: cam, PlateNorm: norm, Plate: norm,
			TS: base.Add(time.Duration(rng.Int64N(int64(20 * time.Hour)))).Truncate(time.Millisecond), Confidence: -1, Lane: -1, VehicleClass: plate.ClassCar})
	}
	if _, err := st.Write(&store.Batch{Reads: reads}); err != nil {
		t.Fatal(err)
	}
	return st, reads, base
}

// TestRunOrderAndCompleteness replays windows of the whole store, of a
// plate and of a camera, and checks every selected passage went out once,
// in capture-time order, keyed by its plate.
func TestRunOrderAndCompleteness(t *testing.T) {
	st, reads, base := fill(t)
	from, to := base.Add(2*time.Hour+123*time.Millisecond), base.Add(13*time.Hour)
	for _, sel := range []Selection{{From: from, To: to}, {From: from, To: to, Plate: reads[0].PlateNorm}, {From: from, To: to, Camera: "CAM-2"}} {
		var want []string
		for _, r := range reads {
			if !r.TS.Before(from) && r.TS.Before(to) && (sel.Plate == "" || r.PlateNorm == sel.Plate) && (sel.Camera == "" || r.CameraID == sel.Camera) {
				want = append(want, r.ReadID)
			}
		}
		var got []string
		var last time.Time
		publish := func(_ context.Context, msgs ...kafka.Message) error {
			for _, m := range msgs {
				var r plate.Read
				if err := plate.Decode(m.Value, &r); err != nil {
					return err
				}
				if r.TS.Before(last) {
					t.Fatalf("%+v: %s before %s: not in capture-time order", sel, r.TS, last)
				}
				if string(m.Key) != r.PlateNorm {
					t.Fatalf("key %q for plate %s", m.Key, r.PlateNorm)
				}
				last = r.TS
				got = append(got, r.ReadID)
			}
			return nil
		}
		n, err := Run(context.Background(), st, Config{Selection: sel, Batch: 97}, publish)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(want)
		gotSorted := slices.Sorted(slices.Values(got))
		if n != len(want) || !slices.Equal(gotSorted, want) || len(want) == 0 {
			t.Errorf("%+v: published %d (%d distinct), want the %d selected", sel, n, len(slices.Compact(gotSorted)), len(want))
		}
	}
}

// TestRunSpeed: at 3600× an hour of capture times takes about a second; a
// cancelled context stops the replay.
func TestRunSpeed(t *testing.T) {
	st, _, base := fill(t)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := Run(ctx, st, Config{Selection: Selection{From: base, To: base.Add(20 * time.Hour)}, Speed: 3600},
		func(_ context.Context, msgs ...kafka.Message) error {
			if n += len(msgs); n > 100 {
				cancel()
			}
			return nil
		})
	if err == nil || n > 600 {
		t.Errorf("cancelled replay: %v after %d passages, want context.Canceled long before the 3000", err, n)
	}
}

func TestHits(t *testing.T) {
	st, reads, base := fill(t)
	m, err := matcher.New([]matcher.List{{Name: "what-if", Mode: matcher.Exact, Suppress: -1}}, matcher.Options{})
	if err != nil {
		t.Fatal(err)
	}
	listed := []string{reads[0].PlateNorm, reads[1].PlateNorm}
	var entries []matcher.Entry
	for _, p := range listed {
		entries = append(entries, matcher.Entry{List: "what-if", Plate: p})
	}
	if err := m.Load(entries); err != nil {
		t.Fatal(err)
	}
	sel := Selection{From: base, To: base.Add(24 * time.Hour)}
	var want, got []string
	for _, r := range reads {
		if slices.Contains(listed, r.PlateNorm) {
			want = append(want, r.ReadID)
		}
	}
	if err := Hits(st, sel, m, func(h *matcher.Hit) error { got = append(got, h.Read.ReadID); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("hits of %d passages, want %d", len(got), len(want))
	}
}
