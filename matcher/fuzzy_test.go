package matcher

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anpr/anpr/plate"
)

func TestOSA(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"1ABC234", "1ABC234", 0},
		{"1ABC234", "1ABC235", 1}, // substitution
		{"1ABC234", "1ABC34", 1},  // deletion
		{"1ABC234", "1ABXC234", 1},
		{"1ABC234", "1ABC243", 1}, // transposition counts 1
		{"1ABC234", "A1BC234", 1},
		{"1ABC234", "1ACB243", 2}, // two transpositions
		{"1ABC234", "1ABC2", 2},
		{"CA", "ABC", 3}, // 2 in unrestricted Damerau–Levenshtein, see fuzzy.go
		{"AB", "XY", 2},
		{"ABCDEFGHIJKL", "BCDEFGHIJKLA", 2},
	}
	for _, tt := range tests {
		for _, max := range []int{1, 2, 3} {
			want := min(tt.want, max+1)
			if got := osa([]byte(tt.a), []byte(tt.b), max); got != want {
				t.Errorf("osa(%q, %q, max %d) = %d, want %d", tt.a, tt.b, max, got, want)
			}
			if got := osa([]byte(tt.b), []byte(tt.a), max); got != want {
				t.Errorf("osa(%q, %q, max %d) = %d, want %d", tt.b, tt.a, max, got, want)
			}
		}
	}
}

// TestMatchFuzzy has the near misses that must not hit beside the hits.
func TestMatchFuzzy(t *testing.T) {
	lists := []List{
		{Name: "fz", Mode: Fuzzy}, // max distance 1
		{Name: "fz2", Mode: Fuzzy, MaxDistance: 2},
		{Name: "oc", Mode: OCR},
		{Name: "ex", Mode: Exact},
	}
	entries := []Entry{
		{List: "fz", Plate: "1ABC234"},
		{List: "fz2", Plate: "XYZ789"},
		{List: "oc", Plate: "1ABC234"},
		{List: "ex", Plate: "1ABC234"},
		{List: "fz", Plate: "KLM555", Country: "NL", ValidUntil: t0.Add(time.Hour)},
	}
	tests := []struct {
		name, read string
		want       string // "list:entry plate:match:distance" per hit
	}{
		{"exact", "1ABC234", "ex:1ABC234:exact:0 fz:1ABC234:exact:0 oc:1ABC234:exact:0"},
		{"ocr", "IABC234", "fz:1ABC234:ocr:0 oc:1ABC234:ocr:0"},
		{"substitution", "1ABC284", "fz:1ABC234:fuzzy:1"},
		{"substitution after ocr mapping", "IA8C2E4", "fz:1ABC234:fuzzy:1"},
		{"deletion", "1ABC34", "fz:1ABC234:fuzzy:1"},
		{"insertion", "1ABCX234", "fz:1ABC234:fuzzy:1"},
		{"first character dropped", "ABC234", "fz:1ABC234:fuzzy:1"},
		{"transposition counts 1", "1ABC243", "fz:1ABC234:fuzzy:1"},
		{"transposition at the start", "A1BC234", "fz:1ABC234:fuzzy:1"},
		{"distance 2 at max 1", "1ABC2XX", ""},
		{"two transpositions at max 1", "1BAC243", ""},
		{"shorter by 2 at max 1", "1ABC2", ""},
		{"longer by 2 at max 1", "1ABC234XY", ""},
		{"distance 2 at max 2", "XYZ7XX", "fz2:XYZ789:fuzzy:2"},
		{"shorter by 2 at max 2", "XYZ7", "fz2:XYZ789:fuzzy:2"},
		{"distance 3 at max 2", "XYZXXX", ""},
		{"country disagrees", "KLM556", ""}, // read country BE below
		{"unrelated", "ZZ999", ""},
	}
	for _, shards := range []int{1, 4} {
		m := mustNew(t, lists, Options{Shards: shards})
		mustLoad(t, m, entries)
		for _, tt := range tests {
			r := newRead(tt.read, "BE", "CAM-1", t0)
			got := fuzzySummary(m.Match(r, t0, nil))
			if got != tt.want {
				t.Errorf("shards=%d %s: Match(%q) = %q, want %q", shards, tt.name, tt.read, got, tt.want)
			}
		}
		// Country and validity apply to fuzzy hits as to the others.
		if got := fuzzySummary(m.Match(newRead("KLM556", "NL", "C", t0), t0, nil)); got != "fz:KLM555:fuzzy:1" {
			t.Errorf("fuzzy hit in NL = %q, want fz:KLM555:fuzzy:1", got)
		}
		if got := fuzzySummary(m.Match(newRead("KLM556", "NL", "C", t0.Add(time.Hour)), t0, nil)); got != "" {
			t.Errorf("fuzzy hit after valid_until = %q, want none", got)
		}
	}
}

func fuzzySummary(hits []Hit) string {
	var parts []string
	for _, h := range hits {
		parts = append(parts, fmt.Sprintf("%s:%s:%s:%d", h.List, h.Entry.Plate, h.Match, h.Distance))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// TestMatchFuzzyEqualsScan compares the deletion-neighbourhood index with a
// scan of every entry on dense random plates of a small alphabet, where
// most reads have neighbours at distance 1 and 2, with a custom OCR table.
func TestMatchFuzzyEqualsScan(t *testing.T) {
	ocr, err := plate.NewOCRTable([]string{"1I", "8B"})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = "AB1I8X"
	randPlate := func() string {
		b := make([]byte, 2+rng.IntN(4))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	// Without an OCR list, canon lookups wait for the fuzzy filter
	// (matchGroup): both ways are tested, with and without bloom filters
	// on the other keyspaces.
	for _, lists := range [][]List{
		{{Name: "f1", Mode: Fuzzy}, {Name: "f2", Mode: Fuzzy, MaxDistance: 2}, {Name: "oc", Mode: OCR}},
		{{Name: "f1", Mode: Fuzzy}, {Name: "f2", Mode: Fuzzy, MaxDistance: 2}},
	} {
		for _, bloom := range []bool{false, true} {
			testMatchFuzzyEqualsScan(t, lists, Options{Shards: 3, OCR: ocr, Bloom: bloom}, rng, randPlate)
		}
	}
}

func testMatchFuzzyEqualsScan(t *testing.T, lists []List, opts Options, rng *rand.Rand, randPlate func() string) {
	ocr := opts.OCR
	m := mustNew(t, lists, opts)
	var entries []Entry
	for range 300 {
		entries = append(entries, Entry{List: lists[rng.IntN(len(lists))].Name, Plate: randPlate()})
	}
	mustLoad(t, m, entries)
	byKey := map[string]Entry{} // last wins
	for _, e := range entries {
		byKey[e.List+"/"+e.Plate] = e
	}
	hits := 0
	var reads []plate.Read
	var matched []Hit // by Match, read by read
	for i := range 500 {
		read := randPlate()
		if i%7 == 3 {
			read = "" // no match, in MatchBatch among reads that do
		}
		var want []string
		for _, e := range byKey {
			if read == "" {
				break
			}
			l := lists[slices.IndexFunc(lists, func(l List) bool { return l.Name == e.List })]
			max := map[string]int{"f1": 1, "f2": 2, "oc": 0}[l.Name]
			d := osa([]byte(ocr.Canonical(read)), []byte(ocr.Canonical(e.Plate)), max)
			if d > max {
				continue
			}
			match := Fuzzy
			switch {
			case e.Plate == read:
				match = Exact
			case d == 0:
				match = OCR
			}
			want = append(want, fmt.Sprintf("%s:%s:%s:%d", e.List, e.Plate, match, d))
		}
		slices.Sort(want)
		r := newRead(read, "", "C", t0)
		r.ReadID = fmt.Sprint(i)
		reads = append(reads, *r)
		n := len(matched)
		matched = m.Match(r, t0, matched)
		if got := fuzzySummary(matched[n:]); got != strings.Join(want, " ") {
			t.Fatalf("%d lists, bloom=%v: Match(%q) = %q, want %q", len(lists), opts.Bloom, read, got, strings.Join(want, " "))
		}
		hits += len(want)
	}
	if hits < 500 {
		t.Fatalf("%d lists, bloom=%v: only %d hits: the test needs dense plates", len(lists), opts.Bloom, hits)
	}
	if got := m.MatchBatch(reads, t0, nil); !reflect.DeepEqual(got, matched) {
		t.Fatalf("%d lists, bloom=%v: MatchBatch = %d hits, want those of Match: %d", len(lists), opts.Bloom, len(got), len(matched))
	}
}

func TestAppendVariants(t *testing.T) {
	tests := []struct {
		key  string
		d    int
		want string
	}{
		{"AB", 0, "AB"},
		{"AB", 1, "A AB B"},
		{"AAB", 1, "AA AAB AB"},
		{"ABC", 2, "A AB ABC AC B BC C"},
		{"1ABC234", 1, "1AB234 1ABC23 1ABC234 1ABC24 1ABC34 1AC234 1BC234 ABC234"},
	}
	for _, tt := range tests {
		var got []string
		for _, c := range appendVariants(nil, []byte(tt.key), tt.d) {
			got = append(got, string(appendKey(nil, c)))
		}
		slices.Sort(got)
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("variants of %q at %d = %q, want %q", tt.key, tt.d, g, tt.want)
		}
	}
}
