package store

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anpr/anpr/plate"
)

func TestWriteRejectsInvalid(t *testing.T) {
	s := open(t, Options{})
	good := read(plateOf(1), now(), 1)
	noID := good
	noID.ReadID = ""
	badNorm := good
	badNorm.PlateNorm = "1-abc"
	badHit := hit(good, "stolen")
	badHit.TS = time.Time{}
	tests := []struct {
		name string
		b    Batch
	}{
		{"empty read id", Batch{Reads: []plate.Read{good, noID}}},
		{"plate not normalized", Batch{Reads: []plate.Read{badNorm}}},
		{"hit without capture time", Batch{Reads: []plate.Read{good}, Hits: []Event{badHit}}},
	}
	for _, tt := range tests {
		res, err := s.Write(&tt.b)
		if err == nil || res != (WriteResult{}) {
			t.Errorf("%s: Write = %+v, %v; want nothing written and an error", tt.name, res, err)
		}
	}
	if got := passages(t, s, plateOf(1)); len(got) != 0 {
		t.Errorf("a read of a rejected batch was stored: %v", got)
	}
}

// passages returns every passage of plate norm.
func passages(t *testing.T, s *Store, norm string) []plate.Read {
	t.Helper()
	got, _, err := s.Passages(PassageQuery{Plate: norm, Limit: 100_000})
	if err != nil {
		t.Fatalf("Passages(%s): %v", norm, err)
	}
	return got
}

// TestSameReadOnePassage writes reads again in every way a replay can: in one
// batch, in another batch, after a restart. Each read stays one passage, and
// reads differing only in read id, plate or capture time are distinct.
func TestSameReadOnePassage(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	ts := now()
	a, b, c := read(plateOf(1), ts, 1), read(plateOf(1), ts, 2), read(plateOf(2), ts, 3)
	later := a // the same read id at another time is another read
	later.TS = a.TS.Add(time.Millisecond)
	other := a // and with another plate
	other.PlateNorm, other.Plate = plateOf(3), plateOf(3)
	steps := []struct {
		name   string
		reopen bool // close and reopen the store first
		reads  []plate.Read
		want   WriteResult
	}{
		{"in one batch", false, []plate.Read{a, b, a}, WriteResult{Passages: 2, Duplicates: 1}},
		{"in another batch", false, []plate.Read{b, c}, WriteResult{Passages: 2}},
		{"after a restart", true, []plate.Read{c, b, a, c}, WriteResult{Passages: 3, Duplicates: 1}},
		{"same read id, other time or plate", false, []plate.Read{a, later, other}, WriteResult{Passages: 3}},
	}
	for _, st := range steps {
		if st.reopen {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, Options{Dir: dir})
		}
		if got := write(t, s, &Batch{Reads: st.reads}); got != st.want {
			t.Errorf("%s: Write = %+v, want %+v", st.name, got, st.want)
		}
	}
	byKey := func(x, y plate.Read) int {
		return strings.Compare(string(passageKey(&x)), string(passageKey(&y)))
	}
	for norm, want := range map[string][]plate.Read{
		plateOf(1): {a, b, later},
		plateOf(2): {c},
		plateOf(3): {other},
	} {
		slices.SortFunc(want, byKey)
		if got := passages(t, s, norm); !reflect.DeepEqual(got, want) {
			t.Errorf("plate %s:\ngot  %+v\nwant %+v", norm, got, want)
		}
	}
}

// TestConcurrentWriters writes overlapping batches from several goroutines,
// as partition workers replaying the same reads would, with the same hit ids
// at the same time: every read is one passage, every hit id gets one
// sequence, and the hit log is dense and in order.
func TestConcurrentWriters(t *testing.T) {
	const (
		writers = 4
		batches = 20
		perRead = 50
		reads   = 400 // distinct reads, each written by every writer
	)
	s := open(t, Options{NoSync: true})
	ts := now().Add(-time.Minute)
	all := make([]plate.Read, reads)
	for i := range all {
		all[i] = read(plateOf(i%37), ts.Add(time.Duration(i)*time.Millisecond), i)
	}
	total, written := writeAll(t, s, writers, batches, func(w, b int) Batch {
		var batch Batch
		for j := range perRead {
			// Writers are a few reads apart: they race on the same reads
			// and, as hits are a function of the read, on the same hit ids.
			i := (w*7 + b*perRead + j) % reads
			r := all[i]
			batch.Reads = append(batch.Reads, r)
			if b%3 != 0 && i%5 == 0 { // a third of the batches have no hit
				batch.Hits = append(batch.Hits, hit(r, "stolen"))
			}
		}
		return batch
	})
	given, hitIDs := 0, map[string]bool{} // hits given to Write
	for _, b := range written {
		given += len(b.Hits)
		for _, h := range b.Hits {
			hitIDs[h.ID] = true
		}
	}
	if want := (WriteResult{Passages: writers * batches * perRead, Hits: len(hitIDs),
		KnownHits: given - len(hitIDs)}); total != want {
		t.Errorf("totals %+v, want %+v", total, want)
	}
	n := 0
	for p := range 37 {
		n += len(passages(t, s, plateOf(p)))
	}
	if n != reads {
		t.Errorf("%d passages stored, want %d", n, reads)
	}
	evs := allEvents(t, s, "")
	inLog := map[string]bool{}
	for i, e := range evs {
		if want := eventCursor(Hits, uint64(i+1)); e.Cursor != want {
			t.Fatalf("event %d has cursor %q, want %q: a gap or reorder", i, e.Cursor, want)
		}
		if inLog[e.ID] {
			t.Errorf("hit %s twice in the log", e.ID)
		}
		inLog[e.ID] = true
	}
	if !reflect.DeepEqual(inLog, hitIDs) {
		t.Errorf("hit log has %d ids, want the %d distinct ids given", len(inLog), len(hitIDs))
	}
}

// TestGroupCommit has writers, each with its own reads, hits and State key,
// write at once so that their batches are committed together: every read
// is one passage, every hit is counted new once, and each writer's State
// holds its last value.
func TestGroupCommit(t *testing.T) {
	const writers, batches, perBatch = 8, 30, 20
	s := open(t, Options{NoSync: true})
	ts := now().Add(-time.Minute)
	total, _ := writeAll(t, s, writers, batches, func(w, b int) Batch {
		var batch Batch
		for j := range perBatch {
			n := (w*batches+b)*perBatch + j
			r := read(plateOf(n%50), ts.Add(time.Duration(n)*time.Millisecond), n)
			batch.Reads = append(batch.Reads, r)
			if j == 0 {
				batch.Hits = append(batch.Hits, hit(r, "stolen"))
			}
		}
		batch.State = []State{{Key: fmt.Sprintf("writer/%d", w), Value: []byte(strconv.Itoa(b))}}
		return batch
	})
	if want := (WriteResult{Passages: writers * batches * perBatch, Hits: writers * batches}); total != want {
		t.Errorf("totals %+v, want %+v", total, want)
	}
	if n := len(allEvents(t, s, "")); n != writers*batches {
		t.Errorf("%d hits in the log, want %d", n, writers*batches)
	}
	for w := range writers {
		v, err := s.State(fmt.Sprintf("writer/%d", w))
		if err != nil || string(v) != strconv.Itoa(batches-1) {
			t.Errorf("writer %d: state %q, %v; want %q", w, v, err, strconv.Itoa(batches-1))
		}
	}
}

// writeAll has writers goroutines Write batches batches each, made by mk,
// all at once, and returns the sum of their results and the batches written.
func writeAll(t *testing.T, s *Store, writers, batches int, mk func(w, b int) Batch) (WriteResult, []Batch) {
	t.Helper()
	var (
		mu      sync.Mutex
		total   WriteResult
		written []Batch
		wg      sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				batch := mk(w, b)
				res, err := s.Write(&batch)
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				mu.Lock()
				total.Passages += res.Passages
				total.Duplicates += res.Duplicates
				total.Hits += res.Hits
				total.KnownHits += res.KnownHits
				written = append(written, batch)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return total, written
}

// TestWriteLargeBatch writes a batch larger than Badger takes in one
// transaction (15 % of the 32 MiB memtable) in passages and in hits: it is
// split, and every read and hit lands once, hits in order.
func TestWriteLargeBatch(t *testing.T) {
	s := open(t, Options{NoSync: true})
	ts := now().Add(-time.Hour)
	var b Batch
	for i := range 10000 {
		r := read(plateOf(i%100), ts.Add(time.Duration(i)*time.Millisecond), i)
		r.ImageRef += strings.Repeat("/x", 250) // 10000 × ~650 B of passages
		b.Reads = append(b.Reads, r)
		if i%10 == 0 && i < 3000 {
			h := hit(r, "stolen")
			h.JSON = append(h.JSON, make([]byte, 20000)...) // 300 × 20 kB of hits
			b.Hits = append(b.Hits, h)
		}
	}
	b.Reads = append(b.Reads, b.Reads[0])
	if got, want := write(t, s, &b), (WriteResult{Passages: 10000, Duplicates: 1, Hits: 300}); got != want {
		t.Errorf("Write = %+v, want %+v", got, want)
	}
	evs, _, err := s.Events(Hits, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(evs), ids(b.Hits); !reflect.DeepEqual(got, want) {
		t.Errorf("hit log has %d hits, want the %d given in order", len(got), len(want))
	}
	n := 0
	for p := range 100 {
		n += len(passages(t, s, plateOf(p)))
	}
	if n != 10000 {
		t.Errorf("%d passages stored, want 10000", n)
	}
}

func TestSplit(t *testing.T) {
	reads := func(n int) []*plate.Read {
		rs := make([]*plate.Read, n)
		for i := range rs {
			r := read(plateOf(i), now(), i)
			rs[i] = &r
		}
		return rs
	}
	events := func(n, size int) []logged {
		evs := make([]logged, n)
		for i := range evs {
			evs[i] = logged{Hits, &Event{ID: strconv.Itoa(i), TS: now(), JSON: make([]byte, size)}}
		}
		return evs
	}
	const per = maxTxnEntries / readEntries // reads in a full chunk
	tests := []struct {
		name  string
		reads []*plate.Read
		evs   []logged
		want  [][2]int // reads and events of each chunk
	}{
		{"nothing", nil, nil, nil},
		{"a batch and its hits", reads(1000), events(3, 200), [][2]int{{1000, 3}}},
		{"hits alone", nil, events(2, 200), [][2]int{{0, 2}}},
		{"by count", reads(5000), events(1, 200), [][2]int{{per, 0}, {5000 - per, 1}}},
		{"hit after a full chunk", reads(per), events(1, 200), [][2]int{{per, 0}, {0, 1}}},
		{"by size", reads(10), events(3, maxTxnBytes*6/10), [][2]int{{10, 1}, {0, 1}, {0, 1}}},
		{"one hit larger than a chunk", nil, events(1, 2*maxTxnBytes), [][2]int{{0, 1}}},
	}
	for _, tt := range tests {
		var got [][2]int
		var gotReads []*plate.Read
		var gotEvs []logged
		for _, c := range split(tt.reads, tt.evs) {
			got = append(got, [2]int{len(c.reads), len(c.events)})
			gotReads = append(gotReads, c.reads...)
			gotEvs = append(gotEvs, c.events...)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: chunks of (reads, events) %v, want %v", tt.name, got, tt.want)
		}
		if !reflect.DeepEqual(gotReads, tt.reads) || !reflect.DeepEqual(gotEvs, tt.evs) {
			t.Errorf("%s: chunks joined differ from the input", tt.name)
		}
	}
}
