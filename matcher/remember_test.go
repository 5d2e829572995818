package matcher

import (
	"testing"
	"time"
)

// TestRememberRebuildsSuppression: a Suppressor rebuilt from stored hits
// suppresses the repeats the lost one would have, and lets the very same
// hit (its read replayed) through again.
func TestRememberRebuildsSuppression(t *testing.T) {
	m := mustNew(t, []List{{Name: "stolen", Mode: OCR, Suppress: 5 * time.Minute}}, Options{})
	mustLoad(t, m, []Entry{{List: "stolen", Plate: "1ABC234"}})
	first := m.Match(newRead("1-ABC-234", "BE", "CAM-1", t0), t0, nil)
	if len(first) != 1 || !NewSuppressor().Allow(&first[0]) {
		t.Fatalf("first read: hits %v", first)
	}

	s := NewSuppressor()
	if err := m.Remember(s, first[0].AppendJSON(nil)); err != nil {
		t.Fatal(err)
	}
	repeat := m.Match(newRead("1-A8C-234", "BE", "CAM-1", t0.Add(time.Minute)), t0, nil)
	if len(repeat) != 1 {
		t.Fatalf("repeat: hits %v", repeat)
	}
	if s.Allow(&repeat[0]) {
		t.Error("a repeat within the window after Remember: allowed, want suppressed")
	}
	replayed := m.Match(newRead("1-ABC-234", "BE", "CAM-1", t0), t0, nil)
	if !s.Allow(&replayed[0]) {
		t.Error("the remembered hit itself, replayed: suppressed, want allowed (published again)")
	}
	other := m.Match(newRead("1-ABC-234", "BE", "CAM-2", t0.Add(time.Minute)), t0, nil)
	if !s.Allow(&other[0]) {
		t.Error("another camera: suppressed, want allowed")
	}

	gone := mustNew(t, []List{{Name: "uninsured", Mode: Exact}}, Options{})
	if err := gone.Remember(NewSuppressor(), first[0].AppendJSON(nil)); err == nil {
		t.Error("Remember of a hit of an unknown list: no error")
	}
	if got := m.MaxSuppress(); got != 5*time.Minute {
		t.Errorf("MaxSuppress = %v, want 5m", got)
	}
}
