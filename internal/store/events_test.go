package store

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/anpr/anpr/plate"
)

// ids returns the ids of evs.
func ids(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

func allEvents(t *testing.T, s *Store, after string) []Event {
	t.Helper()
	evs, _, err := s.Events(Hits, after, 1<<20)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	return evs
}

func TestHitLog(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ts := now().Add(-time.Minute)
	r1, r2, r3 := read(plateOf(1), ts, 1), read(plateOf(2), ts, 2), read(plateOf(3), ts, 3)
	h1, h2, h3 := hit(r1, "stolen"), hit(r2, "stolen"), hit(r2, "wanted")
	if got, want := write(t, s, &Batch{Reads: []plate.Read{r1, r2}, Hits: []Event{h1, h2, h3, h2}}),
		(WriteResult{Passages: 2, Hits: 3, KnownHits: 1}); got != want {
		t.Errorf("first write: %+v, want %+v", got, want)
	}
	// h2 is known: only h4 is appended.
	h4 := hit(r3, "stolen")
	if got, want := write(t, s, &Batch{Reads: []plate.Read{r3}, Hits: []Event{h2, h4}}),
		(WriteResult{Passages: 1, Hits: 1, KnownHits: 1}); got != want {
		t.Errorf("second write: %+v, want %+v", got, want)
	}

	evs := allEvents(t, s, "")
	if got, want := ids(evs), []string{h1.ID, h2.ID, h3.ID, h4.ID}; !reflect.DeepEqual(got, want) {
		t.Fatalf("hit log = %v, want %v", got, want)
	}
	for i, want := range []Event{h1, h2, h3, h4} {
		want.Cursor = eventCursor(Hits, uint64(i+1))
		if !reflect.DeepEqual(evs[i], want) {
			t.Errorf("event %d:\ngot  %+v\nwant %+v", i, evs[i], want)
		}
	}

	// Pages of two.
	page, c, err := s.Events(Hits, "", 2)
	if err != nil || !reflect.DeepEqual(ids(page), []string{h1.ID, h2.ID}) || c != evs[1].Cursor {
		t.Errorf("page 1: %v, cursor %q, %v", ids(page), c, err)
	}
	page, c, err = s.Events(Hits, c, 2)
	if err != nil || !reflect.DeepEqual(ids(page), []string{h3.ID, h4.ID}) || c != evs[3].Cursor {
		t.Errorf("page 2: %v, cursor %q, %v", ids(page), c, err)
	}
	page, c2, err := s.Events(Hits, c, 2)
	if err != nil || len(page) != 0 || c2 != c {
		t.Errorf("page 3: %v, cursor %q, %v; want nothing and the same cursor", ids(page), c2, err)
	}

	got, err := s.EventsByID(Hits, []string{h4.ID, "h_unknown", h1.ID})
	if err != nil || !reflect.DeepEqual(got, []Event{evs[3], evs[0]}) {
		t.Errorf("EventsByID = %v, %v; want h4, h1", ids(got), err)
	}

	// The sequence survives a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, Options{Dir: dir})
	r5 := read(plateOf(5), ts, 5)
	h5 := hit(r5, "stolen")
	if got, want := write(t, s, &Batch{Reads: []plate.Read{r5, r1}, Hits: []Event{h5, h1}}),
		(WriteResult{Passages: 2, Hits: 1, KnownHits: 1}); got != want {
		t.Errorf("write after reopen: %+v, want %+v", got, want)
	}
	after := allEvents(t, s, c)
	if len(after) != 1 || after[0].ID != h5.ID || after[0].Cursor != eventCursor(Hits, 5) {
		t.Errorf("events after the old cursor: %+v, want h5 at sequence 5", after)
	}
	if got := ids(allEvents(t, s, "")); len(got) != 5 {
		t.Errorf("hit log after reopen: %v, want 5 hits", got)
	}
}

// TestHitOnce writes hits again in every way a replay can: a hit id gets one
// sequence; a read written again with a hit it did not have stores the hit.
func TestHitOnce(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	r, other := read(plateOf(1), now(), 1), read(plateOf(2), now(), 2)
	stolen, wanted, lone := hit(r, "stolen"), hit(r, "wanted"), hit(other, "stolen")
	steps := []struct {
		name   string
		reopen bool // close and reopen the store first
		b      Batch
		want   WriteResult
	}{
		{"read without hit", false, Batch{Reads: []plate.Read{r}}, WriteResult{Passages: 1}},
		// Processed again after a hotlist change: the new hit is stored.
		{"same read, new hit", false, Batch{Reads: []plate.Read{r}, Hits: []Event{stolen}},
			WriteResult{Passages: 1, Hits: 1}},
		{"same hit in one batch", false, Batch{Reads: []plate.Read{r, r}, Hits: []Event{wanted, wanted}},
			WriteResult{Passages: 1, Duplicates: 1, Hits: 1, KnownHits: 1}},
		{"same hits again", false, Batch{Reads: []plate.Read{r}, Hits: []Event{stolen, wanted}},
			WriteResult{Passages: 1, KnownHits: 2}},
		{"after a restart", true, Batch{Reads: []plate.Read{r}, Hits: []Event{wanted, stolen}},
			WriteResult{Passages: 1, KnownHits: 2}},
		// A hit whose read is not in the batch is stored on its own.
		{"hit without its read", false, Batch{Hits: []Event{lone}}, WriteResult{Hits: 1}},
		{"that hit again", false, Batch{Hits: []Event{lone}}, WriteResult{KnownHits: 1}},
	}
	for _, st := range steps {
		if st.reopen {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, Options{Dir: dir})
		}
		if got := write(t, s, &st.b); got != st.want {
			t.Errorf("%s: Write = %+v, want %+v", st.name, got, st.want)
		}
	}
	evs := allEvents(t, s, "")
	if got, want := ids(evs), []string{stolen.ID, wanted.ID, lone.ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("hit log = %v, want %v", got, want)
	}
	for i, e := range evs {
		if want := eventCursor(Hits, uint64(i+1)); e.Cursor != want {
			t.Errorf("hit %d at %q, want %q", i, e.Cursor, want)
		}
	}
	if got := passages(t, s, plateOf(1)); len(got) != 1 {
		t.Errorf("plate 1 has %d passages, want 1", len(got))
	}
}

func TestEventsBadCursor(t *testing.T) {
	s := open(t, Options{})
	r := read(plateOf(1), now(), 1)
	write(t, s, &Batch{Reads: []plate.Read{r}, Hits: []Event{hit(r, "a"), hit(r, "b")}})
	for _, tt := range []struct{ name, cursor string }{
		{"not base64", "%%%"},
		{"too short", eventCursor(Hits, 1)[:8]},
		{"past the end", eventCursor(Hits, 3)},
		{"another log", eventCursor(Log('V'), 1)},
		{"passage cursor", passageCursor(plateOf(1), make([]byte, tsLen+1+idHashLen))},
	} {
		if _, _, err := s.Events(Hits, tt.cursor, 10); !errors.Is(err, ErrBadCursor) {
			t.Errorf("%s: err = %v, want ErrBadCursor", tt.name, err)
		}
	}
	if evs, c, err := s.Events(Hits, eventCursor(Hits, 2), 10); err != nil || len(evs) != 0 || c != eventCursor(Hits, 2) {
		t.Errorf("cursor of the last event: %d events, %q, %v; want none", len(evs), c, err)
	}
	if _, _, err := s.Events(Log('X'), "", 10); err == nil {
		t.Error("unknown log: no error")
	}
}

func TestNotify(t *testing.T) {
	s := open(t, Options{})
	ch := s.Notify(Hits)
	if s.Notify(Hits) != ch {
		t.Error("two Notify calls before a write return different channels")
	}
	r := read(plateOf(1), now(), 1)
	write(t, s, &Batch{Reads: []plate.Read{r}})
	select {
	case <-ch:
		t.Fatal("woken by a write without hits")
	default:
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r2 := read(plateOf(2), now(), 2)
		if _, err := s.Write(&Batch{Reads: []plate.Read{r2}, Hits: []Event{hit(r2, "stolen")}}); err != nil {
			t.Errorf("Write: %v", err)
		}
	}()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("not woken by a write with a hit")
	}
	<-done
	// The wake-up comes after the commit: the hit is readable.
	if evs := allEvents(t, s, ""); len(evs) != 1 {
		t.Errorf("after wake-up: %d hits, want 1", len(evs))
	}
	if next := s.Notify(Hits); next == ch {
		t.Error("Notify after a wake-up returned the closed channel")
	}
}

// ev returns an event with id and capture time ts, of no read.
func ev(id string, ts time.Time) Event {
	return Event{ID: id, ReadID: "r-" + id, TS: ts, JSON: []byte(`{"hit_id":"` + id + `"}`)}
}

func TestRecentEvents(t *testing.T) {
	s := open(t, Options{NoSync: true})
	if got, err := s.RecentEvents(Hits, time.Time{}, 10); err != nil || len(got) != 0 {
		t.Errorf("empty log: %v, %v; want nothing", ids(got), err)
	}
	since := now().Add(-2 * time.Hour)
	// The log, oldest first: what the scan must not reach, a run of staleRun
	// hits captured long before since, then recent hits among late ones.
	var log []Event
	log = append(log, ev("hidden", since.Add(time.Minute)))
	for i := range staleRun {
		log = append(log, ev(fmt.Sprintf("stale%d", i), since.Add(-recentSlack-time.Millisecond)))
	}
	log = append(log,
		ev("inSlack", since.Add(-30*time.Minute)),
		ev("c", since.Add(10*time.Second)),
		ev("late1", since.Add(-5*time.Hour)), // one read hours late
		ev("e", since),                       // since is inclusive
		ev("late2", since.Add(-3*time.Hour)),
		ev("f", since.Add(20*time.Second)),
	)
	if got := write(t, s, &Batch{Hits: log}); got.Hits != len(log) {
		t.Fatalf("Write: %+v, want %d hits", got, len(log))
	}
	all := allEvents(t, s, "")
	bySeq := func(id string) Event {
		for _, e := range all {
			if e.ID == id {
				return e
			}
		}
		t.Fatalf("hit %s not in the log", id)
		return Event{}
	}
	tests := []struct {
		name  string
		since time.Time
		limit int
		want  []string
	}{
		{"newest first", since, 100, []string{"f", "e", "c"}},
		{"limit", since, 2, []string{"f", "e"}},
		{"default limit", since, 0, []string{"f", "e", "c"}},
		{"since later", since.Add(15 * time.Second), 100, []string{"f"}},
		{"since after everything", now(), 100, nil},
		// An hour earlier, the run is recent: the scan reaches the start of
		// the log, and only the late hits are left out.
		{"earlier since", since.Add(-recentSlack - time.Millisecond), 1000, append(append(
			[]string{"f", "e", "c", "inSlack"}, reversed(ids(log[1:1+staleRun]))...), "hidden")},
	}
	for _, tt := range tests {
		got, err := s.RecentEvents(Hits, tt.since, tt.limit)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !reflect.DeepEqual(ids(got), tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, ids(got), tt.want)
			continue
		}
		for _, e := range got {
			if want := bySeq(e.ID); !reflect.DeepEqual(e, want) {
				t.Errorf("%s: got %+v, want %+v as Events gives it", tt.name, e, want)
			}
		}
	}
	if _, err := s.RecentEvents(Log('X'), since, 10); err == nil {
		t.Error("unknown log: no error")
	}
}

func reversed(s []string) []string {
	s = slices.Clone(s)
	slices.Reverse(s)
	return s
}

// TestLogsAndState writes hits and violations in one batch: each log has its
// own sequences and id index, Write marks known events, and state keys are
// replaced, deleted and kept across a restart.
func TestLogsAndState(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	r := read(plateOf(1), now(), 1)
	h := hit(r, "stolen")
	v := Event{ID: h.ID, ReadID: r.ReadID, TS: r.TS, JSON: []byte(`{"violation_id":"same id as the hit"}`)}
	b := &Batch{Reads: []plate.Read{r}, Hits: []Event{h}, Violations: []Event{v, v},
		State: []State{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}}}
	if got, want := write(t, s, b), (WriteResult{Passages: 1, Hits: 1, Violations: 1, KnownViolations: 1}); got != want {
		t.Errorf("first write: %+v, want %+v", got, want)
	}
	if got := []bool{b.Hits[0].Known, b.Violations[0].Known, b.Violations[1].Known}; !reflect.DeepEqual(got, []bool{false, false, true}) {
		t.Errorf("Known flags (hit, violation, its repeat) = %v, want [false false true]", got)
	}
	b = &Batch{Violations: []Event{v}, State: []State{{Key: "a", Value: []byte("3")}, {Key: "b"}}}
	if got, want := write(t, s, b), (WriteResult{KnownViolations: 1}); got != want || !b.Violations[0].Known {
		t.Errorf("second write: %+v (known %v), want %+v", got, b.Violations[0].Known, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, Options{Dir: dir})
	for _, l := range []Log{Hits, Violations} {
		evs, _, err := s.Events(l, "", 10)
		if err != nil || len(evs) != 1 || evs[0].Cursor != eventCursor(l, 1) {
			t.Errorf("%v log = %+v, %v; want one event at sequence 1", l, evs, err)
		}
	}
	if evs, _, _ := s.Events(Violations, "", 10); len(evs) == 1 && string(evs[0].JSON) != string(v.JSON) {
		t.Errorf("violation JSON = %s, want %s", evs[0].JSON, v.JSON)
	}
	for key, want := range map[string]string{"a": "3", "b": "", "never": ""} {
		got, err := s.State(key)
		if err != nil || string(got) != want || (want == "") != (got == nil) {
			t.Errorf("State(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
}

// TestAnnotate stores an acknowledgement with a hit: listings carry it, a
// second one replaces it, and an unknown id is ErrNotFound.
func TestAnnotate(t *testing.T) {
	s := open(t, Options{})
	r := read(plateOf(1), now(), 1)
	h := hit(r, "stolen")
	write(t, s, &Batch{Reads: []plate.Read{r}, Hits: []Event{h}})
	if err := s.Annotate(Hits, "h_unknown", []byte(`{}`)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Annotate(unknown) = %v, want ErrNotFound", err)
	}
	for _, ack := range []string{`{"outcome":"false_read"}`, `{"outcome":"confirmed"}`} {
		if err := s.Annotate(Hits, h.ID, []byte(ack)); err != nil {
			t.Fatal(err)
		}
		evs := allEvents(t, s, "")
		byID, err := s.EventsByID(Hits, []string{h.ID})
		if err != nil || len(evs) != 1 || string(evs[0].Annotation) != ack || len(byID) != 1 || string(byID[0].Annotation) != ack {
			t.Errorf("after Annotate(%s): Events %+v, EventsByID %+v (%v)", ack, evs, byID, err)
		}
	}
}
