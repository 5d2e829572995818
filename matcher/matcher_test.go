package matcher

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anpr/anpr/plate"
)

var t0 = time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)

// newRead returns a read of p (as the OCR read it) at ts.
func newRead(p, country, camera string, ts time.Time) *plate.Read {
	norm, _ := plate.Normalize(p)
	return &plate.Read{ReadID: camera + "/" + ts.Format(time.RFC3339Nano), CameraID: camera, TS: ts,
		Plate: p, PlateNorm: norm, Country: country, Confidence: -1, Lane: -1,
		VehicleClass: plate.ClassCar}
}

func mustNew(t testing.TB, lists []List, opts Options) *Matcher {
	t.Helper()
	m, err := New(lists, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

func mustLoad(t testing.TB, m *Matcher, entries []Entry) {
	t.Helper()
	if err := m.Load(entries); err != nil {
		t.Fatalf("Load: %v", err)
	}
}

// hitSummary is "list:entry plate:match" per hit, for compact comparisons.
func hitSummary(hits []Hit) string {
	var parts []string
	for _, h := range hits {
		parts = append(parts, h.List+":"+h.Entry.Plate+":"+string(h.Match))
	}
	return strings.Join(parts, " ")
}

func TestMatchModes(t *testing.T) {
	lists := []List{{Name: "ex", Mode: Exact}, {Name: "oc", Mode: OCR}, {Name: "fz", Mode: Fuzzy}}
	entries := []Entry{
		{List: "ex", Plate: "1-ABC-234"},
		{List: "oc", Plate: "1ABC234"},
		{List: "oc", Plate: "IABC234"}, // same canonical form as 1ABC234: both hit
		{List: "fz", Plate: "AB123"},
	}
	tests := []struct {
		read string
		want string
	}{
		{"1ABC234", "ex:1ABC234:exact oc:1ABC234:exact oc:IABC234:ocr"},
		{"1-abc-234", "ex:1ABC234:exact oc:1ABC234:exact oc:IABC234:ocr"},
		{"IA8C234", "oc:1ABC234:ocr oc:IABC234:ocr"},
		{"1ABC2E4", ""},  // E is confusable with nothing
		{"1ABX234", ""},  // one non-confusable character
		{"1ABC23", ""},   // shorter
		{"1ABC2345", ""}, // longer
		{"ABC234", ""},   // first character dropped
		{"1ABC234Z", ""}, // trailing confusable character
		{"AB123", "fz:AB123:exact"},
		{"A8IZ3", "fz:AB123:ocr"},   // distance 0 after the OCR mapping
		{"AB124", "fz:AB123:fuzzy"}, // distance 1 (more cases in TestMatchFuzzy)
		{"AB1245", ""},              // distance 2
		{"", ""},
		{"ABCDEFGHIJKLM", ""}, // not a valid normalized plate: too long
	}
	for _, bloom := range []bool{false, true} {
		m := mustNew(t, lists, Options{Bloom: bloom, Shards: 4})
		mustLoad(t, m, entries)
		for _, tt := range tests {
			r := newRead(tt.read, "", "CAM-1", t0)
			r.PlateNorm = strings.ToUpper(strings.ReplaceAll(tt.read, "-", ""))
			got := hitSummary(m.Match(r, t0, nil))
			if got != tt.want {
				t.Errorf("bloom=%v Match(%q) = %q, want %q", bloom, tt.read, got, tt.want)
			}
		}
	}
}

// TestMatchBatchEqualsMatch checks that MatchBatch returns what Match
// returns read by read, in read order, over more reads than one group.
func TestMatchBatchEqualsMatch(t *testing.T) {
	lists := []List{{Name: "ex", Mode: Exact}, {Name: "oc", Mode: OCR}, {Name: "ex2", Mode: Exact}}
	entries := []Entry{
		{List: "ex", Plate: "1ABC234"},
		{List: "ex2", Plate: "1ABC234", Country: "FR"},
		{List: "oc", Plate: "1ABC234"},
		{List: "oc", Plate: "IABC234"},
		{List: "ex", Plate: "AB12", ValidUntil: t0.Add(time.Minute)},
		{List: "oc", Plate: "XY99", ValidFrom: t0.Add(time.Minute)},
	}
	plates := []string{"1ABC234", "IA8C234", "AB12", "XY99", "ZZ999", "", "ABCDEFGHIJKLM", "1ABC2E4"}
	var reads []plate.Read
	for i := range 3*groupLen + 5 {
		country := []string{"", "BE", "FR"}[i%3]
		r := newRead(plates[i%len(plates)], country, "CAM-1", t0.Add(time.Duration(i)*time.Second))
		r.ReadID = fmt.Sprintf("CAM-1/%d", i)
		reads = append(reads, *r)
	}
	for _, bloom := range []bool{false, true} {
		m := mustNew(t, lists, Options{Bloom: bloom, Shards: 4})
		mustLoad(t, m, entries)
		prefix := []Hit{{ID: "kept"}}
		want := prefix
		for i := range reads {
			want = m.Match(&reads[i], t0, want)
		}
		for _, n := range []int{0, 1, groupLen, len(reads)} {
			got := m.MatchBatch(reads[:n], t0, prefix)
			wantN := prefix
			for i := range reads[:n] {
				wantN = m.Match(&reads[i], t0, wantN)
			}
			if !reflect.DeepEqual(got, wantN) {
				t.Errorf("bloom=%v, %d reads: MatchBatch = %q, want %q", bloom, n, hitSummary(got), hitSummary(wantN))
			}
		}
		if len(want) < 10 {
			t.Fatalf("bloom=%v: only %d hits; the test needs hits", bloom, len(want)-1)
		}
	}
}

func TestMatchHitFields(t *testing.T) {
	m := mustNew(t, []List{{Name: "stolen", Mode: OCR}}, Options{})
	e := Entry{List: "stolen", Plate: "1-abc-234", Country: "be", Category: "stolen_vehicle", Priority: 1,
		Action: "intercept", Reference: "PV-2026-004211", Reason: "theft"}
	mustLoad(t, m, []Entry{e})
	r := newRead("IABC234", "BE", "CAM-E40-101", t0)
	now := t0.Add(time.Second)
	hits := m.Match(r, now, nil)
	if len(hits) != 1 {
		t.Fatalf("got %d hits, want 1", len(hits))
	}
	h := hits[0]
	wantEntry := e
	wantEntry.Plate, wantEntry.Country = "1ABC234", "BE"
	if h.Entry != wantEntry {
		t.Errorf("Entry = %+v, want %+v", h.Entry, wantEntry)
	}
	if want := HitID(r.ReadID, "stolen", "1ABC234"); h.ID != want {
		t.Errorf("ID = %q, want %q", h.ID, want)
	}
	if h.Read != *r {
		t.Errorf("Read = %+v, want %+v", h.Read, *r)
	}
	if h.List != "stolen" || h.Match != OCR || h.Distance != 0 || h.Covert || !h.DetectedAt.Equal(now) {
		t.Errorf("got list %q match %q distance %d covert %v detected %v, want stolen ocr 0 false %v",
			h.List, h.Match, h.Distance, h.Covert, h.DetectedAt, now)
	}
}

func TestMatchValidity(t *testing.T) {
	from, until := t0, t0.Add(time.Hour)
	m := mustNew(t, []List{{Name: "l", Mode: Exact}, {Name: "o", Mode: OCR}}, Options{})
	mustLoad(t, m, []Entry{
		{List: "l", Plate: "BOUNDED", ValidFrom: from, ValidUntil: until},
		{List: "l", Plate: "FROMONLY", ValidFrom: from},
		{List: "l", Plate: "UNTILONLY", ValidUntil: until},
		{List: "o", Plate: "OCRBOUNDED", ValidFrom: from, ValidUntil: until},
	})
	tests := []struct {
		plate string
		ts    time.Time
		want  bool
	}{
		{"BOUNDED", from.Add(-time.Nanosecond), false},
		{"BOUNDED", from, true}, // valid_from inclusive
		{"BOUNDED", until.Add(-time.Nanosecond), true},
		{"BOUNDED", until, false}, // valid_until exclusive
		{"FROMONLY", from.Add(-time.Nanosecond), false},
		{"FROMONLY", from.AddDate(50, 0, 0), true},
		{"UNTILONLY", from.AddDate(-50, 0, 0), true},
		{"UNTILONLY", until, false},
		{"0CRB0UNDED", from, true},
		{"0CRB0UNDED", until, false},
	}
	for _, tt := range tests {
		// DetectedAt (processing time) must not matter: pass a time inside the window.
		got := len(m.Match(newRead(tt.plate, "", "CAM-1", tt.ts), from, nil)) == 1
		if got != tt.want {
			t.Errorf("%s at %v: hit = %v, want %v", tt.plate, tt.ts, got, tt.want)
		}
	}
}

func TestMatchCountry(t *testing.T) {
	m := mustNew(t, []List{{Name: "l", Mode: Exact}}, Options{})
	mustLoad(t, m, []Entry{
		{List: "l", Plate: "BE1", Country: "BE"},
		{List: "l", Plate: "LOWER1", Country: "be"},
		{List: "l", Plate: "ANY1"},
	})
	tests := []struct {
		plate, country string
		want           bool
	}{
		{"BE1", "BE", true},
		{"BE1", "be", true},
		{"BE1", "NL", false},
		{"BE1", "", true},
		{"LOWER1", "BE", true},
		{"LOWER1", "FR", false},
		{"ANY1", "NL", true},
		{"ANY1", "", true},
	}
	for _, tt := range tests {
		got := len(m.Match(newRead(tt.plate, tt.country, "CAM-1", t0), t0, nil)) == 1
		if got != tt.want {
			t.Errorf("entry %s, read country %q: hit = %v, want %v", tt.plate, tt.country, got, tt.want)
		}
	}
}

func TestMatchMultipleListsAndCovert(t *testing.T) {
	m := mustNew(t, []List{
		{Name: "a", Mode: Exact},
		{Name: "b", Mode: OCR, Covert: true},
		{Name: "c", Mode: Exact},
		{Name: "d", Mode: Exact},
	}, Options{})
	mustLoad(t, m, []Entry{
		{List: "d", Plate: "XY123"}, // not hit: other plate
		{List: "c", Plate: "1ABC234", Covert: true},
		{List: "b", Plate: "1ABC234"},
		{List: "a", Plate: "1ABC234"},
	})
	hits := m.Match(newRead("1ABC234", "", "CAM-1", t0), t0, nil)
	got := make(map[string]bool)
	for _, h := range hits {
		got[h.List] = h.Covert
	}
	want := map[string]bool{"a": false, "b": true, "c": true}
	if len(hits) != len(want) {
		t.Fatalf("hits %q, want lists a, b, c", hitSummary(hits))
	}
	for l, covert := range want {
		if c, ok := got[l]; !ok || c != covert {
			t.Errorf("list %s: hit %v covert %v, want hit covert %v", l, ok, c, covert)
		}
	}
	if ids := map[string]bool{hits[0].ID: true, hits[1].ID: true, hits[2].ID: true}; len(ids) != 3 {
		t.Errorf("hit ids not distinct per list: %v", ids)
	}
}

func TestMatchDuplicateEntryLastWins(t *testing.T) {
	m := mustNew(t, []List{{Name: "l", Mode: OCR}}, Options{})
	mustLoad(t, m, []Entry{
		{List: "l", Plate: "1ABC234", Reason: "first"},
		{List: "l", Plate: "1-ABC-234", Reason: "second"},
		{List: "l", Plate: "IABC234", Reason: "other plate"},
	})
	hits := m.Match(newRead("1ABC234", "", "CAM-1", t0), t0, nil)
	var got []string
	for _, h := range hits {
		got = append(got, h.Entry.Reason)
	}
	if want := "second,other plate"; strings.Join(got, ",") != want {
		t.Errorf("reasons %q, want %q", strings.Join(got, ","), want)
	}
	if got := m.Lists()[0].Entries; got != 2 {
		t.Errorf("Entries = %d, want 2", got)
	}
}

func TestMatchNoAllocOnMiss(t *testing.T) {
	m := mustNew(t, []List{{Name: "l", Mode: Exact}, {Name: "o", Mode: OCR}}, Options{Bloom: true})
	mustLoad(t, m, []Entry{{List: "l", Plate: "1ABC234"}, {List: "o", Plate: "2DEF345"}})
	r := newRead("9XYZ999", "", "CAM-1", t0)
	var dst []Hit
	if n := testing.AllocsPerRun(100, func() { dst = m.Match(r, t0, dst[:0]) }); n != 0 {
		t.Errorf("Match on a miss: %v allocs, want 0", n)
	}
	reads := make([]plate.Read, 2*groupLen+1)
	for i := range reads {
		reads[i] = *r
	}
	if n := testing.AllocsPerRun(100, func() { dst = m.MatchBatch(reads, t0, dst[:0]) }); n != 0 {
		t.Errorf("MatchBatch on misses: %v allocs, want 0", n)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name  string
		lists []List
		opts  Options
		want  []string // substrings of the error
	}{
		{"duplicate name", []List{{Name: "a", Mode: Exact}, {Name: "a", Mode: OCR}}, Options{}, []string{`"a" is used twice`}},
		{"empty name", []List{{Mode: Exact}}, Options{}, []string{`name ""`}},
		{"bad name", []List{{Name: "a/b", Mode: Exact}}, Options{}, []string{`name "a/b"`}},
		{"unknown mode", []List{{Name: "a", Mode: "regex"}}, Options{}, []string{`mode "regex"`}},
		{"empty mode", []List{{Name: "a"}}, Options{}, []string{`mode ""`}},
		{"max distance on exact", []List{{Name: "a", Mode: Exact, MaxDistance: 1}}, Options{}, []string{"max_distance 1: only for mode"}},
		{"max distance too big", []List{{Name: "a", Mode: Fuzzy, MaxDistance: 3}}, Options{}, []string{"max_distance 3: outside"}},
		{"every problem at once", []List{{Name: "", Mode: "x"}}, Options{Shards: -1},
			[]string{"shards: -1", `name ""`, `mode "x"`}},
	}
	for _, tt := range tests {
		_, err := New(tt.lists, tt.opts)
		if err == nil {
			t.Errorf("%s: New succeeded, want error", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q, want it to contain %q", tt.name, err, w)
			}
		}
	}
	if _, err := New([]List{{Name: "f", Mode: Fuzzy}, {Name: "o", Mode: OCR, Suppress: -1}}, Options{}); err != nil {
		t.Errorf("New with fuzzy and ocr lists: %v", err)
	}
}

func TestLoadErrorsKeepOldEntries(t *testing.T) {
	m := mustNew(t, []List{{Name: "l", Mode: Exact}}, Options{})
	mustLoad(t, m, []Entry{{List: "l", Plate: "OLD1"}})
	tests := []struct {
		name  string
		entry Entry
		want  string
	}{
		{"unknown list", Entry{List: "nope", Plate: "NEW1"}, `entry 1: unknown list "nope"`},
		{"bad plate", Entry{List: "l", Plate: "X"}, "entry 1: list \"l\": plate: does not normalize"},
		{"long plate", Entry{List: "l", Plate: "ABCDEFGHIJKLM"}, "plate: does not normalize"},
		{"bad country", Entry{List: "l", Plate: "NEW1", Country: "BEL"}, "country: not an ISO"},
		{"empty validity", Entry{List: "l", Plate: "NEW1", ValidFrom: t0, ValidUntil: t0}, "valid_until: not after valid_from"},
		{"long reason", Entry{List: "l", Plate: "NEW1", Reason: strings.Repeat("x", maxText+1)}, "reason: longer than 4096 bytes"},
	}
	for _, tt := range tests {
		err := m.Load([]Entry{{List: "l", Plate: "NEW2"}, tt.entry})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Load error %v, want it to contain %q", tt.name, err, tt.want)
		}
		if strings.Contains(fmt.Sprint(err), tt.entry.Plate) && tt.entry.Plate != "" {
			t.Errorf("%s: error %q names the plate", tt.name, err)
		}
		if len(m.Match(newRead("OLD1", "", "C", t0), t0, nil)) != 1 {
			t.Errorf("%s: old entry gone after a failed Load", tt.name)
		}
	}
}

func TestListsAndMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := mustNew(t, []List{{Name: "a", Mode: Exact}, {Name: "b", Mode: OCR, Covert: true}}, Options{Registerer: reg})
	mustLoad(t, m, []Entry{{List: "a", Plate: "AA1"}, {List: "a", Plate: "AA2"}, {List: "b", Plate: "AA1"}})
	want := []ListInfo{{Name: "a", Mode: Exact, Entries: 2}, {Name: "b", Mode: OCR, Covert: true, Entries: 1}}
	if got := m.Lists(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Lists() = %+v, want %+v", got, want)
	}
	m.Match(newRead("AA1", "", "C", t0), t0, nil)
	m.CountChecks(1)
	m.Match(newRead("AA3", "", "C", t0), t0, nil)
	m.CountChecks(1)
	for _, tt := range []struct {
		name, list string
		want       float64
	}{
		{"anpr_matcher_checks_total", "", 2},
		{"anpr_matcher_entries", "a", 2},
		{"anpr_matcher_entries", "b", 1},
		{"anpr_matcher_hits_total", "a", 1},
		{"anpr_matcher_hits_total", "b", 1},
		{"anpr_matcher_suppressed_total", "a", 0},
	} {
		if got := metricValue(t, reg, tt.name, tt.list); got != tt.want {
			t.Errorf("%s{list=%q} = %v, want %v", tt.name, tt.list, got, tt.want)
		}
	}
	if _, err := New(nil, Options{Registerer: reg}); err == nil {
		t.Error("second New on the same registry succeeded, want a registration error")
	}
}

// TestLoadSwapWhileMatching checks under -race that a Match sees one
// generation of the index: both keyspaces and their entries come from the
// same Load.
func TestLoadSwapWhileMatching(t *testing.T) {
	m := mustNew(t, []List{{Name: "ex", Mode: Exact}, {Name: "oc", Mode: OCR}}, Options{Shards: 4})
	const plates = 50
	gen := func(tag string) []Entry {
		var es []Entry
		for i := range plates {
			p := fmt.Sprintf("GEN%03d", i)
			es = append(es, Entry{List: "ex", Plate: p, Reason: tag}, Entry{List: "oc", Plate: p, Reason: tag})
		}
		return es
	}
	genA, genB := gen("A"), gen("B")
	mustLoad(t, m, genA)

	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Go(func() {
			var dst []Hit
			reads := make([]plate.Read, 1+g%2*(2*groupLen)) // Match, or MatchBatch of many reads
			for n := 0; !done.Load() || n < 1000; n++ {
				for i := range reads {
					reads[i] = *newRead(fmt.Sprintf("GEN%03d", (g*7+n+i)%plates), "", "C", t0)
				}
				if len(reads) == 1 {
					dst = m.Match(&reads[0], t0, dst[:0])
				} else {
					dst = m.MatchBatch(reads, t0, dst[:0])
				}
				// A batch sees one index: every hit is of one generation.
				if len(dst) != 2*len(reads) || slices.ContainsFunc(dst, func(h Hit) bool { return h.Entry.Reason != dst[0].Entry.Reason }) {
					errs <- fmt.Sprintf("torn read: %d hits %q", len(dst), hitSummary(dst))
					return
				}
				if l := m.Lists(); l[0].Entries != plates || l[1].Entries != plates {
					errs <- fmt.Sprintf("Lists() = %+v during swap", l)
					return
				}
			}
		})
	}
	for i := range 200 {
		if i%2 == 0 {
			mustLoad(t, m, genB)
		} else {
			mustLoad(t, m, genA)
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// metricValue returns the value of the counter or gauge name with label
// list (none when list is empty) in reg.
func metricValue(t *testing.T, reg prometheus.Gatherer, name, list string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if list != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != list) {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s{list=%q} not found", name, list)
	return 0
}
