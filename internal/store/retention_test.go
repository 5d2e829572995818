package store

import (
	"testing"
	"time"

	"github.com/anpr/anpr/plate"
)

func TestRetentionAtWrite(t *testing.T) {
	s := open(t, Options{Retention: time.Hour})
	fresh := read(plateOf(1), now().Add(-59*time.Minute), 1)
	old := read(plateOf(1), now().Add(-61*time.Minute), 2)
	oldHit := hit(old, "stolen")
	if got, want := write(t, s, &Batch{Reads: []plate.Read{old, fresh}, Hits: []Event{oldHit}}),
		(WriteResult{Passages: 1, Expired: 1}); got != want {
		t.Errorf("Write = %+v, want %+v", got, want)
	}
	got, _, err := s.Passages(PassageQuery{Plate: plateOf(1)})
	if err != nil || len(got) != 1 || got[0].ReadID != fresh.ReadID {
		t.Errorf("Passages = %v, %v; want the fresh read only", got, err)
	}
	if evs := allEvents(t, s, ""); len(evs) != 0 {
		t.Errorf("hits = %v, want none (past retention)", ids(evs))
	}
}

func TestRetentionExpiry(t *testing.T) {
	const retention = 2 * time.Second
	s := open(t, Options{Retention: retention})
	// Captured 1 s ago: expires within about 1–2 s (Badger counts seconds).
	r := read(plateOf(1), now().Add(-time.Second), 1)
	h := hit(r, "stolen")
	if got := write(t, s, &Batch{Reads: []plate.Read{r}, Hits: []Event{h}}); got.Passages != 1 || got.Hits != 1 {
		t.Fatalf("Write = %+v, want 1 passage and 1 hit", got)
	}
	if got, _, _ := s.Passages(PassageQuery{Plate: plateOf(1)}); len(got) != 1 {
		t.Fatalf("right after Write: %d passages, want 1", len(got))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _, err := s.Passages(PassageQuery{Plate: plateOf(1)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("passage still there %v after its capture time (retention %v)", time.Since(r.TS), retention)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if time.Since(r.TS) < retention {
		t.Errorf("passage gone %v after its capture time, before retention %v", time.Since(r.TS), retention)
	}
	// A replay of the read stores nothing: it is past retention.
	if got, want := write(t, s, &Batch{Reads: []plate.Read{r}, Hits: []Event{h}}), (WriteResult{Expired: 1}); got != want {
		t.Errorf("Write after expiry = %+v, want %+v", got, want)
	}
	if evs, _ := s.EventsByID(Hits, []string{h.ID}); len(evs) != 0 {
		t.Errorf("hit after expiry: %v", ids(evs))
	}
	if evs := allEvents(t, s, ""); len(evs) != 0 {
		t.Errorf("hit log after expiry: %v", ids(evs))
	}
	// The sequence goes on after every hit expired.
	r2 := read(plateOf(2), now(), 2)
	write(t, s, &Batch{Reads: []plate.Read{r2}, Hits: []Event{hit(r2, "stolen")}})
	if evs := allEvents(t, s, ""); len(evs) != 1 || evs[0].Cursor != eventCursor(Hits, 2) {
		t.Errorf("new hit: %+v, want sequence 2", evs)
	}
}
