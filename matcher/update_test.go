package matcher

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anpr/anpr/plate"
)

func TestApply(t *testing.T) {
	lists := []List{{Name: "ex", Mode: Exact}, {Name: "oc", Mode: OCR}, {Name: "fz", Mode: Fuzzy}}
	m := mustNew(t, lists, Options{Shards: 4})
	mustLoad(t, m, []Entry{{List: "ex", Plate: "AA111"}, {List: "fz", Plate: "1ABC234"}, {List: "fz", Plate: "IABC234"}})
	steps := []struct {
		name    string
		changes []Change
		reads   map[string]string // read → fuzzySummary of its hits
		counts  []int
		errIs   error
	}{
		{"upsert adds", []Change{{Entry: Entry{List: "ex", Plate: "BB222"}}, {Entry: Entry{List: "oc", Plate: "CC333"}}},
			map[string]string{"BB222": "ex:BB222:exact:0", "CC333": "oc:CC333:exact:0", "AA111": "ex:AA111:exact:0"},
			[]int{2, 1, 2}, nil},
		{"upsert replaces", []Change{{Entry: Entry{List: "ex", Plate: "BB-222", ValidFrom: t0.Add(time.Hour)}}},
			map[string]string{"BB222": ""}, []int{2, 1, 2}, nil},
		{"delete is exact", []Change{{Delete: true, Entry: Entry{List: "ex", Plate: "aa111"}}},
			map[string]string{"AA111": "", "CC333": "oc:CC333:exact:0"}, []int{1, 1, 2}, nil},
		{"delete of an absent entry does nothing", []Change{{Delete: true, Entry: Entry{List: "oc", Plate: "ZZ999"}}},
			map[string]string{"CC333": "oc:CC333:exact:0"}, []int{1, 1, 2}, nil},
		{"delete one of two fuzzy entries with one canonical form",
			[]Change{{Delete: true, Entry: Entry{List: "fz", Plate: "1ABC234"}}},
			map[string]string{"1ABC235": "fz:IABC234:fuzzy:1", "IABC234": "fz:IABC234:exact:0"}, []int{1, 1, 1}, nil},
		{"delete the last one", []Change{{Delete: true, Entry: Entry{List: "fz", Plate: "IABC234"}}},
			map[string]string{"1ABC235": "", "IABC234": ""}, []int{1, 1, 0}, nil},
		{"last change to an entry wins", []Change{
			{Entry: Entry{List: "fz", Plate: "XY12"}},
			{Delete: true, Entry: Entry{List: "fz", Plate: "XY12"}},
			{Entry: Entry{List: "oc", Plate: "XY12"}},
			{Delete: true, Entry: Entry{List: "oc", Plate: "XY12"}},
			{Entry: Entry{List: "oc", Plate: "XY12", Reason: "kept"}},
		}, map[string]string{"XY13": "", "XY12": "oc:XY12:exact:0"}, []int{1, 2, 0}, nil},
		{"unknown list skips that change only", []Change{
			{Entry: Entry{List: "nope", Plate: "DD444"}},
			{Entry: Entry{List: "ex", Plate: "DD444"}},
			{Entry: Entry{List: "ex", Plate: "X"}},
		}, map[string]string{"DD444": "ex:DD444:exact:0"}, []int{2, 2, 0}, ErrUnknownList},
	}
	for _, st := range steps {
		err := m.Apply(st.changes)
		if st.errIs == nil && err != nil || st.errIs != nil && !errors.Is(err, st.errIs) {
			t.Errorf("%s: Apply error %v, want %v", st.name, err, st.errIs)
		}
		for read, want := range st.reads {
			if got := fuzzySummary(m.Match(newRead(read, "", "C", t0), t0, nil)); got != want {
				t.Errorf("%s: Match(%q) = %q, want %q", st.name, read, got, want)
			}
		}
		var counts []int
		for _, l := range m.Lists() {
			counts = append(counts, l.Entries)
		}
		if !slices.Equal(counts, st.counts) {
			t.Errorf("%s: entries per list %v, want %v", st.name, counts, st.counts)
		}
	}
	if got := m.idx.Load().ks[ksFuzzy].size; got != 0 {
		t.Errorf("fuzzy keyspace has %d postings after every fuzzy entry was deleted, want 0", got)
	}
	err := m.Apply([]Change{{Entry: Entry{List: "nope", Plate: "DD444"}}, {Entry: Entry{List: "ex", Plate: "X"}}})
	if want := `change 0: unknown list "nope"` + "\n" + `change 1: list "ex": plate: does not normalize to 2..12 characters A-Z 0-9`; fmt.Sprint(err) != want {
		t.Errorf("Apply error %q, want %q", err, want)
	}
}

func TestEntries(t *testing.T) {
	m := mustNew(t, []List{{Name: "ex", Mode: Exact}, {Name: "oc", Mode: OCR}, {Name: "fz", Mode: Fuzzy}}, Options{})
	full := Entry{List: "oc", Plate: "1ABC234", Country: "be", Category: "stolen_vehicle", Priority: -3,
		Action: "intercept", Reference: "PV-2026-004211", Covert: true, Reason: "theft reported, \"quoted\"",
		ValidFrom:  time.Date(2026, 11, 1, 0, 0, 0, 123456789, time.FixedZone("CET", 3600)),
		ValidUntil: time.Date(2027, 5, 1, 0, 0, 0, 0, time.UTC)}
	mustLoad(t, m, []Entry{full, {List: "oc", Plate: "IABC234"}, {List: "ex", Plate: "1ABC234", Reason: "ex"}})
	want := full
	want.Country = "BE"
	want.ValidFrom = time.Date(2026, 10, 31, 23, 0, 0, 123000000, time.UTC) // UTC, to the millisecond
	tests := []struct {
		list, plate string
		want        []Entry
	}{
		{"oc", "1-abc-234", []Entry{want}},
		{"oc", "IABC234", []Entry{{List: "oc", Plate: "IABC234"}}},
		{"oc", "1ABC235", nil},
		{"ex", "1ABC234", []Entry{{List: "ex", Plate: "1ABC234", Reason: "ex"}}},
		{"fz", "1ABC234", nil},
		{"nope", "1ABC234", nil},
		{"oc", "X", nil},
	}
	for _, tt := range tests {
		if got := m.Entries(tt.list, tt.plate); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Entries(%q, %q) = %+v, want %+v", tt.list, tt.plate, got, tt.want)
		}
	}
}

// TestApplyEqualsLoad applies random changes in batches of random sizes
// and checks after each batch that the index answers as one loaded from
// scratch with the surviving entries: with an OCR list, and without, where
// canon lookups wait for the fuzzy filter (matchGroup).
func TestApplyEqualsLoad(t *testing.T) {
	testApplyEqualsLoad(t, []List{{Name: "ex", Mode: Exact}, {Name: "oc", Mode: OCR}, {Name: "fz", Mode: Fuzzy}, {Name: "fz2", Mode: Fuzzy, MaxDistance: 2}})
	testApplyEqualsLoad(t, []List{{Name: "ex", Mode: Exact}, {Name: "fz", Mode: Fuzzy}, {Name: "fz2", Mode: Fuzzy, MaxDistance: 2}})
}

func testApplyEqualsLoad(t *testing.T, lists []List) {
	rng := rand.New(rand.NewPCG(5, 6))
	const alphabet = "AB1I0O"
	randPlate := func() string {
		b := make([]byte, 2+rng.IntN(3))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	m := mustNew(t, lists, Options{Shards: 4})
	state := map[string]Entry{}
	for batch := range 60 {
		var changes []Change
		for range rng.IntN(40) {
			e := Entry{List: lists[rng.IntN(len(lists))].Name, Plate: randPlate(), Priority: rng.IntN(5)}
			del := rng.IntN(3) == 0
			changes = append(changes, Change{Delete: del, Entry: e})
			if del {
				delete(state, e.List+"/"+e.Plate)
			} else {
				state[e.List+"/"+e.Plate] = e
			}
		}
		if err := m.Apply(changes); err != nil {
			t.Fatalf("batch %d: Apply: %v", batch, err)
		}
		fresh := mustNew(t, lists, Options{Shards: 4})
		mustLoad(t, fresh, slices.Collect(func(yield func(Entry) bool) {
			for _, e := range state {
				if !yield(e) {
					return
				}
			}
		}))
		if got, want := m.Lists(), fresh.Lists(); !reflect.DeepEqual(got, want) {
			t.Fatalf("batch %d: Lists() = %v, want %v", batch, got, want)
		}
		for range 50 {
			r := newRead(randPlate(), "", "C", t0)
			got, want := fuzzySummary(m.Match(r, t0, nil)), fuzzySummary(fresh.Match(r, t0, nil))
			if got != want {
				t.Fatalf("batch %d: Match(%q) = %q, want %q", batch, r.PlateNorm, got, want)
			}
		}
		for k := range numKeyspaces {
			if got, want := m.idx.Load().ks[k].size, fresh.idx.Load().ks[k].size; got != want {
				t.Fatalf("batch %d: keyspace %d has %d postings, want %d", batch, k, got, want)
			}
		}
	}
}

// TestApplyWhileMatching checks under -race that matching goes on during
// Apply and that a batch of reads sees every change of an Apply or none.
func TestApplyWhileMatching(t *testing.T) {
	lists := []List{{Name: "ex", Mode: Exact}, {Name: "fz", Mode: Fuzzy}}
	m := mustNew(t, lists, Options{Shards: 4})
	const plates = 50
	gen := func(tag string) []Change {
		var cs []Change
		for i := range plates {
			p := fmt.Sprintf("GEN%03d", i)
			cs = append(cs, Change{Entry: Entry{List: "ex", Plate: p, Reason: tag}}, Change{Entry: Entry{List: "fz", Plate: p + "X", Reason: tag}})
		}
		return cs
	}
	genA, genB := gen("A"), gen("B")
	if err := m.Apply(genA); err != nil {
		t.Fatal(err)
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan string, 2)
	for range 2 {
		wg.Go(func() {
			reads := make([]plate.Read, plates)
			for i := range reads {
				reads[i] = *newRead(fmt.Sprintf("GEN%03d", i), "", "C", t0) // exact on ex, distance 1 on fz
			}
			var dst []Hit
			for n := 0; !done.Load() || n < 100; n++ {
				dst = m.MatchBatch(reads, t0, dst[:0])
				if len(dst) != 2*plates || slices.ContainsFunc(dst, func(h Hit) bool { return h.Entry.Reason != dst[0].Entry.Reason }) {
					errs <- fmt.Sprintf("torn read: %d hits, first %q", len(dst), hitSummary(dst[:min(len(dst), 4)]))
					return
				}
			}
		})
	}
	for i := range 100 {
		if err := m.Apply([][]Change{genB, genA}[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestMatchNoAllocOnMissFuzzy(t *testing.T) {
	m := mustNew(t, []List{{Name: "f", Mode: Fuzzy, MaxDistance: 2}}, Options{})
	mustLoad(t, m, []Entry{{List: "f", Plate: "1ABC234"}})
	r := newRead("9XYZ999", "", "CAM-1", t0)
	reads := []plate.Read{*r, *r}
	var dst []Hit
	if n := testing.AllocsPerRun(100, func() { dst = m.MatchBatch(reads, t0, dst[:0]) }); n != 0 {
		t.Errorf("MatchBatch on misses of a fuzzy list: %v allocs, want 0", n)
	}
	if !strings.Contains(fuzzySummary(m.Match(newRead("1ABC2", "", "C", t0), t0, nil)), "fuzzy:2") {
		t.Error("distance 2 read does not hit: the test would not exercise the fuzzy keyspace")
	}
}

func TestSortChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 100, 5000, 100_000} {
		for _, nshards := range []int{1, 3, 16} {
			var chs []change
			for i := range n {
				// Hashes of shard 0, some repeated, with lists and idents
				// that tie.
				c := change{hash: rng.Uint64() / uint64(nshards), list: uint16(rng.IntN(2)), ident: uint64(rng.IntN(2)), seq: uint32(i)}
				if i > 0 && rng.IntN(5) == 0 {
					c.hash = chs[rng.IntN(i)].hash
				}
				chs = append(chs, c)
			}
			want := slices.Clone(chs)
			slices.SortFunc(want, compareChanges)
			if got := sortChanges(chs, nshards); !slices.Equal(got, want) {
				t.Errorf("n=%d shards=%d: sortChanges differs from a plain sort", n, nshards)
			}
		}
	}
}

// TestApplyCompacts replaces entries with long reasons until the garbage
// they leave behind in the shard's arena forces a compaction, and checks
// that the entries are intact and the garbage gone.
func TestApplyCompacts(t *testing.T) {
	m := mustNew(t, []List{{Name: "l", Mode: OCR}}, Options{Shards: 1})
	reason := func(round, i int) string { return fmt.Sprintf("%d/%d/%s", round, i, strings.Repeat("x", 4000)) }
	const plates = 40
	compactions := 0
	for round := range 30 {
		var changes []Change
		for i := range plates {
			changes = append(changes, Change{Entry: Entry{List: "l", Plate: fmt.Sprintf("AB%03d", i), Reason: reason(round, i)}})
		}
		before := m.idx.Load().ks[ksCanon].shards[0].arena.size
		if err := m.Apply(changes); err != nil {
			t.Fatal(err)
		}
		a := m.idx.Load().ks[ksCanon].shards[0].arena
		if a.size < before {
			compactions++
		}
		if garbage := a.size - a.live; garbage > a.live/4+chunkSize {
			t.Fatalf("round %d: %d bytes of garbage for %d live", round, garbage, a.live)
		}
		for i := range plates {
			got := m.Entries("l", fmt.Sprintf("AB%03d", i))
			if len(got) != 1 || got[0].Reason != reason(round, i) {
				t.Fatalf("round %d: entry %d: %d entries, want 1 with reason %.20q…", round, i, len(got), reason(round, i))
			}
		}
	}
	if compactions == 0 {
		t.Error("no compaction: the test needs more garbage")
	}
}
