package engine

import (
	"encoding/json"
	"slices"
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

// TestMarkBatch: marks stay in offset order, a batch processed again
// replaces the marks from its offset on, and the list is halved, oldest
// first, when it reaches maxMarks.
func TestMarkBatch(t *testing.T) {
	s, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := &processor{e: &Engine{store: s}}
	offs := func() []int64 {
		var o []int64
		for _, m := range p.marks {
			o = append(o, m.off)
		}
		return o
	}
	for _, off := range []int64{0, 10, 20, 30} {
		if err := p.markBatch(off); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.markBatch(20); err != nil { // the batch at 20 replayed
		t.Fatal(err)
	}
	if got := offs(); !slices.Equal(got, []int64{0, 10, 20}) {
		t.Fatalf("after the replay of 20: offsets %v, want [0 10 20]", got)
	}
	for off := int64(30); len(p.marks) < maxMarks; off += 10 {
		if err := p.markBatch(off); err != nil {
			t.Fatal(err)
		}
	}
	last := p.marks[maxMarks-1].off
	if err := p.markBatch(last + 10); err != nil {
		t.Fatal(err)
	}
	got := offs()
	if len(got) != maxMarks/2+1 || got[0] != int64(maxMarks/2)*10 || got[len(got)-1] != last+10 || !slices.IsSorted(got) {
		t.Fatalf("after reaching maxMarks: %d offsets from %d to %d, want %d from %d to %d, sorted",
			len(got), got[0], got[len(got)-1], maxMarks/2+1, maxMarks/2*10, last+10)
	}
}
