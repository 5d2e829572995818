package matcher

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestSuppressorWindows(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := mustNew(t, []List{
		{Name: "slow", Mode: Exact}, // default 5 m
		{Name: "fast", Mode: OCR, Suppress: time.Minute},
		{Name: "never", Mode: Exact, Suppress: -1},
	}, Options{Registerer: reg})
	mustLoad(t, m, []Entry{{List: "slow", Plate: "1ABC234"}, {List: "fast", Plate: "1ABC234"}, {List: "never", Plate: "1ABC234"}})
	steps := []struct {
		list, camera string
		at           time.Duration // capture time after t0
		want         bool
	}{
		{"slow", "CAM-1", 0, true},
		{"slow", "CAM-1", time.Minute, false}, // same camera within the window
		{"slow", "CAM-2", time.Minute, true},  // other camera
		{"slow", "CAM-1", 5*time.Minute - time.Millisecond, false},
		{"slow", "CAM-1", 5 * time.Minute, true},              // one window after: allowed
		{"slow", "CAM-1", 3 * time.Minute, false},             // late read within the window before
		{"slow", "CAM-1", -time.Minute, true},                 // late read a window before: allowed...
		{"slow", "CAM-1", 9 * time.Minute, false},             // ...but the key keeps 5 m
		{"slow", "CAM-2", 5*time.Minute + time.Second, false}, // CAM-2 last allowed at 1 m
		{"fast", "CAM-1", 0, true},
		{"fast", "CAM-1", 30 * time.Second, false},
		{"fast", "CAM-1", time.Minute, true}, // the fast list's own window
		{"never", "CAM-1", 0, true},
		{"never", "CAM-1", 0, true},
	}
	s := NewSuppressor()
	for i, st := range steps {
		r := newRead("1-ABC-234", "", st.camera, t0.Add(st.at))
		// Processing time varies wildly: it must not matter.
		hits := m.Match(r, t0.Add(time.Duration(i)*24*time.Hour), nil)
		var h *Hit
		for j := range hits {
			if hits[j].List == st.list {
				h = &hits[j]
			}
		}
		if h == nil {
			t.Fatalf("step %d: no hit on %s", i, st.list)
		}
		if got := s.Allow(h); got != st.want {
			t.Errorf("step %d: %s %s at t0%+v: Allow = %v, want %v", i, st.list, st.camera, st.at, got, st.want)
		}
	}
	for list, want := range map[string]float64{"slow": 5, "fast": 1, "never": 0} {
		if got := metricValue(t, reg, "anpr_matcher_suppressed_total", list); got != want {
			t.Errorf("suppressed{list=%q} = %v, want %v", list, got, want)
		}
	}
}

func TestSuppressorHitNotFromMatch(t *testing.T) {
	s := NewSuppressor()
	h := Hit{List: "l", Entry: Entry{Plate: "P1"}}
	h.Read.CameraID, h.Read.TS = "C", t0
	if !s.Allow(&h) {
		t.Fatal("first Allow = false, want true")
	}
	h.Read.TS = t0.Add(DefaultSuppress - time.Second)
	if s.Allow(&h) {
		t.Error("repeat within DefaultSuppress allowed, want suppressed")
	}
}

func TestSuppressorMemoryBounded(t *testing.T) {
	m := mustNew(t, []List{{Name: "l", Mode: Exact, Suppress: time.Minute}}, Options{})
	l := m.lists[0]
	hit := func(i int) *Hit {
		h := &Hit{List: "l", Entry: Entry{Plate: fmt.Sprintf("P%06d", i)}, list: l}
		h.Read.CameraID, h.Read.TS = "C", t0.Add(time.Duration(i)*time.Second)
		return h
	}
	s := NewSuppressor()
	const n = 100_000 // one distinct hit per second
	maxLen := 0
	for i := range n {
		if !s.Allow(hit(i)) {
			t.Fatalf("hit %d suppressed, want allowed", i)
		}
		maxLen = max(maxLen, s.Len())
	}
	if maxLen > minPrune {
		t.Errorf("Suppressor grew to %d keys, want at most %d", maxLen, minPrune)
	}
	// A key 80 s old (more than one window, less than two) survived
	// pruning: a late read 30 s after it is still suppressed.
	late := hit(n - 80)
	late.Read.TS = late.Read.TS.Add(30 * time.Second)
	if s.Allow(late) {
		t.Error("late repeat allowed after pruning, want suppressed")
	}
}
