package store

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/anpr/anpr/plate"
)

func TestPassagesRoundTrip(t *testing.T) {
	s := open(t, Options{})
	base := now().Add(-time.Hour)
	var reads []plate.Read
	want := map[string][]plate.Read{}
	for i := range 60 {
		// Three plates, written out of time order.
		r := read(plateOf(i%3), base.Add(time.Duration((i*37)%60)*time.Second), i)
		if i%4 == 0 {
			r.Confidence, r.Lane, r.Country = -1, -1, ""
		}
		reads = append(reads, r)
		want[r.PlateNorm] = append(want[r.PlateNorm], r)
	}
	if got := write(t, s, &Batch{Reads: reads}); got.Passages != len(reads) {
		t.Fatalf("Write: %+v, want %d passages", got, len(reads))
	}
	for norm, w := range want {
		slices.SortFunc(w, func(a, b plate.Read) int { return a.TS.Compare(b.TS) })
		got, next, err := s.Passages(PassageQuery{Plate: norm})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, w) || next != "" {
			t.Errorf("plate %s: got %d passages (next %q), want %d in time order:\ngot  %+v\nwant %+v",
				norm, len(got), next, len(w), got, w)
		}
	}
	if got, _, err := s.Passages(PassageQuery{Plate: plateOf(99)}); err != nil || len(got) != 0 {
		t.Errorf("unknown plate: got %v, %v; want nothing", got, err)
	}
	// A plate that is a prefix of another must not see the other's passages.
	if got, _, err := s.Passages(PassageQuery{Plate: plateOf(0)[:3]}); err != nil || len(got) != 0 {
		t.Errorf("prefix plate: got %d passages, %v; want none", len(got), err)
	}
}

func TestPassagesTimeRange(t *testing.T) {
	s := open(t, Options{})
	t0 := now().Add(-time.Hour).Truncate(time.Second)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	var reads []plate.Read
	for i := range 10 {
		reads = append(reads, read(plateOf(7), at(i), i))
		reads = append(reads, read(plateOf(8), at(i), 100+i)) // another plate, same times
	}
	write(t, s, &Batch{Reads: reads})
	tests := []struct {
		name     string
		from, to time.Time
		want     []int // seconds of the passages, in order
	}{
		{"unbounded", time.Time{}, time.Time{}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"from is inclusive", at(7), time.Time{}, []int{7, 8, 9}},
		{"to is exclusive", time.Time{}, at(3), []int{0, 1, 2}},
		{"both", at(2), at(5), []int{2, 3, 4}},
		{"within a millisecond", at(4), at(4).Add(time.Millisecond), []int{4}},
		{"between passages", at(4).Add(time.Millisecond), at(5), nil},
		{"empty range", at(5), at(5), nil},
		{"inverted range", at(6), at(2), nil},
		{"before everything", at(-100), at(0), nil},
		{"after everything", at(10), time.Time{}, nil},
	}
	for _, tt := range tests {
		got, next, err := s.Passages(PassageQuery{Plate: plateOf(7), From: tt.from, To: tt.to})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var secs []int
		for _, r := range got {
			if r.PlateNorm != plateOf(7) {
				t.Errorf("%s: passage of another plate", tt.name)
			}
			secs = append(secs, int(r.TS.Sub(t0)/time.Second))
		}
		if !reflect.DeepEqual(secs, tt.want) || next != "" {
			t.Errorf("%s: got seconds %v (next %q), want %v", tt.name, secs, next, tt.want)
		}
	}
}

func TestPassagesPagination(t *testing.T) {
	s := open(t, Options{})
	t0 := now().Add(-time.Hour)
	var reads []plate.Read
	for i := range 25 {
		// Pairs of reads in the same millisecond, ordered by read id hash.
		reads = append(reads, read(plateOf(5), t0.Add(time.Duration(i/2)*time.Second), i))
	}
	write(t, s, &Batch{Reads: reads})
	all, _, err := s.Passages(PassageQuery{Plate: plateOf(5), Limit: 1000})
	if err != nil || len(all) != 25 {
		t.Fatalf("all passages: %d, %v; want 25", len(all), err)
	}
	for _, limit := range []int{1, 2, 10, 24, 25, 26} {
		var got []plate.Read
		after := ""
		pages := 0
		for {
			page, next, err := s.Passages(PassageQuery{Plate: plateOf(5), After: after, Limit: limit})
			if err != nil {
				t.Fatalf("limit %d page %d: %v", limit, pages, err)
			}
			pages++
			got = append(got, page...)
			if next == "" {
				break
			}
			if len(page) != limit {
				t.Errorf("limit %d page %d: %d passages and a next cursor", limit, pages, len(page))
			}
			after = next
		}
		if wantPages := (25 + limit - 1) / limit; pages != wantPages {
			t.Errorf("limit %d: %d pages, want %d", limit, pages, wantPages)
		}
		if !reflect.DeepEqual(got, all) {
			t.Errorf("limit %d: pages joined differ from one query", limit)
		}
	}
	// A cursor combined with a time range.
	page, next, err := s.Passages(PassageQuery{Plate: plateOf(5), To: t0.Add(3 * time.Second), Limit: 4})
	if err != nil || len(page) != 4 || next == "" {
		t.Fatalf("first page: %d passages, next %q, %v; want 4 and a cursor", len(page), next, err)
	}
	page, next, err = s.Passages(PassageQuery{Plate: plateOf(5), To: t0.Add(3 * time.Second), After: next, Limit: 4})
	if err != nil || !reflect.DeepEqual(page, all[4:6]) || next != "" {
		t.Errorf("second page: %d passages, next %q, %v; want passages 4 and 5, no cursor", len(page), next, err)
	}
}

func TestPassagesBadCursor(t *testing.T) {
	s := open(t, Options{})
	t0 := now().Add(-time.Hour)
	write(t, s, &Batch{Reads: []plate.Read{read(plateOf(1), t0, 1), read(plateOf(1), t0.Add(time.Second), 2),
		read(plateOf(2), t0, 3), read(plateOf(2), t0.Add(time.Second), 4)}})
	_, c1, err := s.Passages(PassageQuery{Plate: plateOf(1), Limit: 1})
	if err != nil || c1 == "" {
		t.Fatalf("first page: cursor %q, %v", c1, err)
	}
	tampered := []byte(c1)
	tampered[3] ^= 1
	if tampered[3] == '-' || tampered[3] == '_' { // stay in the alphabet
		tampered[3] = 'A'
	}
	for _, tt := range []struct{ name, plate, cursor string }{
		{"not base64", plateOf(1), "!!!"},
		{"too short", plateOf(1), c1[:len(c1)-2]},
		{"too long", plateOf(1), c1 + "AA"},
		{"tampered", plateOf(1), string(tampered)},
		{"another plate's cursor", plateOf(2), c1},
		{"event cursor", plateOf(1), eventCursor(Hits, 1)},
	} {
		if _, _, err := s.Passages(PassageQuery{Plate: tt.plate, After: tt.cursor}); !errors.Is(err, ErrBadCursor) {
			t.Errorf("%s: err = %v, want ErrBadCursor", tt.name, err)
		}
	}
	if _, _, err := s.Passages(PassageQuery{Plate: "1-abc"}); err == nil {
		t.Error("plate not normalized: no error")
	}
}

// TestPassagesWrittenAfter: with a mark, only the passages written after
// it are read, whether they are in memory or in tables, and a passage
// written again after the mark counts as written after it.
func TestPassagesWrittenAfter(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t0 := now().Add(-time.Hour)
	at := func(i int) plate.Read { return read(plateOf(9), t0.Add(time.Duration(i)*time.Second), i) }
	write(t, s, &Batch{Reads: []plate.Read{at(0), at(1)}})
	if err := s.Close(); err != nil { // the passages go from the memtable to a table
		t.Fatal(err)
	}
	s = open(t, Options{Dir: dir})
	m, err := s.Mark()
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, &Batch{Reads: []plate.Read{at(2), at(1)}})
	for _, tt := range []struct {
		after Mark
		want  []int
	}{{0, []int{0, 1, 2}}, {m, []int{1, 2}}} {
		got, _, err := s.Passages(PassageQuery{Plate: plateOf(9), WrittenAfter: tt.after})
		if err != nil {
			t.Fatal(err)
		}
		var secs []int
		for _, r := range got {
			secs = append(secs, int(r.TS.Sub(t0)/time.Second))
		}
		if !reflect.DeepEqual(secs, tt.want) {
			t.Errorf("written after %d: seconds %v, want %v", tt.after, secs, tt.want)
		}
	}
	if m2, err := s.Mark(); err != nil || m2 <= m {
		t.Errorf("mark after a write: %d, %v; want above %d", m2, err, m)
	}
}
