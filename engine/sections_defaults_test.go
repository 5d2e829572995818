package engine

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/sectioncontrol"
)

// TestSectionsShowDefaults: a library caller leaving defaulted fields zero
// sees on GET /api/v1/sections the values the Tracker enforces, not zeros.
func TestSectionsShowDefaults(t *testing.T) {
	cfg := sectioncontrol.Config{Sections: []sectioncontrol.Section{
		{ID: "S1", Entry: []string{"A1"}, Exit: []string{"B1"}, LengthM: 1000, LimitKmh: 120},
		{ID: "S2", Entry: []string{"A2"}, Exit: []string{"B2"}, LengthM: 1000, LimitKmh: 100, MaxTravel: 20 * time.Minute,
			Tolerance: sectioncontrol.ToleranceNL},
	}}
	s, err := newSections(cfg, nil, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Sections []struct {
			ID        string `json:"id"`
			MaxTravel string `json:"max_travel"`
			Tolerance string `json:"tolerance"`
		} `json:"sections"`
	}
	if err := json.Unmarshal(s.SectionsJSON(), &got); err != nil {
		t.Fatal(err)
	}
	d := sectioncontrol.DefaultSection()
	if len(got.Sections) != 2 {
		t.Fatalf("sections %+v", got.Sections)
	}
	if s1 := got.Sections[0]; s1.MaxTravel != d.MaxTravel.String() || s1.Tolerance != d.Tolerance.Name {
		t.Errorf("S1 with zero values shows max_travel %q tolerance %q, want the defaults %q %q", s1.MaxTravel, s1.Tolerance, d.MaxTravel, d.Tolerance.Name)
	}
	if s2 := got.Sections[1]; s2.MaxTravel != "20m0s" || s2.Tolerance != "NL" {
		t.Errorf("S2 shows max_travel %q tolerance %q, want its own 20m0s NL", s2.MaxTravel, s2.Tolerance)
	}
	if cfg.Sections[0].MaxTravel != 0 {
		t.Error("newSections changed the caller's config")
	}
}

// TestWrittenAfter: a read's mark is that of the batch it came in, found by
// the batches' first offsets; a read older than the marks is looked up in
// the whole store (0).
func TestWrittenAfter(t *testing.T) {
	p := &processor{marks: []batchMark{{10, 100}, {20, 200}, {30, 300}}}
	for off, want := range map[int64]store.Mark{0: 0, 9: 0, 10: 100, 19: 100, 20: 200, 29: 200, 30: 300, 1 << 40: 300} {
		if got := p.writtenAfter(off); got != want {
			t.Errorf("writtenAfter(%d) = %d, want %d", off, got, want)
		}
	}
}
