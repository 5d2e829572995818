package hotlist

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/anpr/anpr/matcher"
)

var testKnown = map[string]bool{"stolen": true, "uninsured": true}

func TestDecode(t *testing.T) {
	for _, c := range []struct {
		name, key, value string
		wantBad          string
		want             matcher.Change
	}{
		{"upsert", "stolen/AB123", `{"list":"stolen","plate":"ab-123","country":"BE","priority":2,"extra":1}`, "",
			matcher.Change{Entry: matcher.Entry{List: "stolen", Plate: "AB123", Country: "BE", Priority: 2}}},
		{"publisher form", "stolen/AB123", entryJSON(matcher.Entry{List: "stolen", Plate: "AB123", Country: "BE", Priority: 2}), "",
			matcher.Change{Entry: matcher.Entry{List: "stolen", Plate: "AB123", Country: "BE", Priority: 2}}},
		{"tombstone", "stolen/AB123", "", "", matcher.Change{Delete: true, Entry: matcher.Entry{List: "stolen", Plate: "AB123"}}},
		{"no slash", "AB123", "", reasonKey, matcher.Change{}},
		{"key not normalized", "stolen/ab123", "", reasonKey, matcher.Change{}},
		{"key plate too short", "stolen/A", "", reasonKey, matcher.Change{}},
		{"bad list name", "st olen/AB123", "", reasonKey, matcher.Change{}},
		{"unknown list", "wanted/AB123", "", reasonUnknownList, matcher.Change{}},
		{"not json", "stolen/AB123", "AB123", reasonJSON, matcher.Change{}},
		{"wrong type", "stolen/AB123", `{"list":"stolen","plate":"AB123","priority":"high"}`, reasonJSON, matcher.Change{}},
		{"invalid", "stolen/AB123", `{"list":"stolen","plate":"AB123","country":"BEL"}`, reasonEntry, matcher.Change{}},
		{"other plate", "stolen/AB123", `{"list":"stolen","plate":"AB124"}`, reasonMismatch, matcher.Change{}},
		{"other list", "stolen/AB123", `{"list":"uninsured","plate":"AB123"}`, reasonMismatch, matcher.Change{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, bad := decode(c.key, c.value, testKnown)
			if bad != c.wantBad || got != c.want {
				t.Errorf("decode = %+v, %q; want %+v, %q", got, bad, c.want, c.wantBad)
			}
		})
	}
}

// FuzzDecode checks that decode never panics and that what it accepts is
// a change the key names and the matcher accepts.
func FuzzDecode(f *testing.F) {
	f.Add("stolen/AB123", `{"list":"stolen","plate":"AB123"}`)
	f.Add("stolen/AB123", "")
	f.Add("uninsured/1ABC234", `{"list":"uninsured","plate":"1-abc-234","valid_from":"2026-01-01T00:00:00Z"}`)
	m, err := matcher.New([]matcher.List{{Name: "stolen", Mode: matcher.OCR}, {Name: "uninsured", Mode: matcher.Exact}}, matcher.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, k, v string) {
		c, bad := decode(k, v, testKnown)
		if bad != "" {
			return
		}
		if got := key(c.Entry.List, c.Entry.Plate); got != k {
			t.Fatalf("decoded key %q from key %q", got, k)
		}
		if err := m.Apply([]matcher.Change{c}); err != nil {
			t.Fatalf("matcher refused a decoded change: %v", err)
		}
	})
}

// entryJSON is what our Publisher writes for e.
func entryJSON(e matcher.Entry) string { return string(e.AppendJSON(nil)) }

func TestParseEntry(t *testing.T) {
	full := matcher.Entry{List: "stolen", Plate: "1ABC234", Country: "BE", Category: "stolen_vehicle",
		Priority: -12, Action: "intercept", Reference: "PV-2026-004211",
		ValidFrom:  time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		ValidUntil: time.Date(2028, 2, 29, 23, 59, 59, 999e6, time.UTC),
		Covert:     true, Reason: "theft reported 2026-11-01, Liège"}
	for _, c := range []struct {
		name, in string
		wantOK   bool
	}{
		{"full", entryJSON(full), true},
		{"minimal", entryJSON(matcher.Entry{List: "l", Plate: "AB1"}), true},
		{"only valid_until", entryJSON(matcher.Entry{List: "l", Plate: "AB1", ValidUntil: full.ValidUntil}), true},
		{"escaped quote", entryJSON(matcher.Entry{List: "l", Plate: "AB1", Reason: `say "hi"`}), false},
		{"space", `{"list": "l","plate":"AB1","country":"","category":"","priority":0,"action":"","reference":"","covert":false,"reason":""}`, false},
		{"other order", `{"plate":"AB1","list":"l","country":"","category":"","priority":0,"action":"","reference":"","covert":false,"reason":""}`, false},
		{"trailing", entryJSON(matcher.Entry{List: "l", Plate: "AB1"}) + " ", false},
		{"leading zero", strings.Replace(entryJSON(matcher.Entry{List: "l", Plate: "AB1", Priority: 7}), ":7", ":07", 1), false},
		{"minus zero", strings.Replace(entryJSON(matcher.Entry{List: "l", Plate: "AB1"}), `"priority":0`, `"priority":-0`, 1), false},
		{"february 30", strings.Replace(entryJSON(full), "2028-02-29", "2028-02-30", 1), false},
		{"1900-02-29", strings.Replace(entryJSON(full), "2028-02-29", "1900-02-29", 1), false},
		{"2000-02-29", strings.Replace(entryJSON(full), "2028-02-29", "2000-02-29", 1), true},
		{"year 0", strings.Replace(entryJSON(full), "2026-11-01", "0000-01-01", 1), true},
		{"april 31", strings.Replace(entryJSON(full), "2026-11-01", "2026-04-31", 1), false},
		{"hour 24", strings.Replace(entryJSON(full), "T23:59", "T24:59", 1), false},
		{"other zone", strings.Replace(entryJSON(full), "00.000Z", "00.000+01:00", 1), false},
		{"invalid utf-8", strings.Replace(entryJSON(full), "Liège", "Li\xe8ge", 1), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got matcher.Entry
			ok := parseEntry(c.in, &got)
			if ok != c.wantOK {
				t.Fatalf("parseEntry(%s) ok = %v, want %v", c.in, ok, c.wantOK)
			}
			if !ok {
				return
			}
			var want matcher.Entry
			if err := json.Unmarshal([]byte(c.in), &want); err != nil {
				t.Fatalf("encoding/json: %v", err)
			}
			if got != want {
				t.Errorf("parseEntry = %+v, want %+v (encoding/json)", got, want)
			}
		})
	}
}

// FuzzParseEntry checks that whatever parseEntry accepts, encoding/json
// decodes to the same entry.
func FuzzParseEntry(f *testing.F) {
	f.Add(entryJSON(matcher.Entry{List: "stolen", Plate: "1ABC234", Country: "BE", Priority: 3, Reason: "x"}))
	f.Add(entryJSON(matcher.Entry{List: "l", Plate: "AB1", ValidFrom: time.Date(2026, 1, 31, 1, 2, 3, 4e6, time.UTC),
		ValidUntil: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), Covert: true}))
	f.Add(`{"list":"l","plate":"AB1","country":"","category":"","priority":-123456789012345678,"action":"é","reference":"","covert":false,"reason":""}`)
	f.Fuzz(func(t *testing.T, s string) {
		var got matcher.Entry
		if !parseEntry(s, &got) {
			return
		}
		var want matcher.Entry
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatalf("parseEntry accepted what encoding/json refuses (%v): %q", err, s)
		}
		if got != want {
			t.Fatalf("parseEntry(%q) = %+v, encoding/json %+v", s, got, want)
		}
	})
}

// FuzzParseEntryAppendJSON checks that parseEntry takes everything our
// Publisher writes without escapes, and decodes it as encoding/json does.
func FuzzParseEntryAppendJSON(f *testing.F) {
	f.Add("stolen", "1ABC234", "BE", "cat", 1, "act", "ref", int64(1798761600000), int64(0), false, "why")
	f.Add("l", "AB1", "", "", -5, "", "", int64(-62135596800000), int64(253402300799999), true, "a\"b")
	f.Fuzz(func(t *testing.T, list, pl, country, category string, priority int, action, reference string,
		fromMS, untilMS int64, covert bool, reason string) {
		e := matcher.Entry{List: list, Plate: pl, Country: country, Category: category, Priority: priority,
			Action: action, Reference: reference, Covert: covert, Reason: reason}
		if fromMS != 0 {
			e.ValidFrom = time.UnixMilli(fromMS).UTC()
		}
		if untilMS != 0 {
			e.ValidUntil = time.UnixMilli(untilMS).UTC()
		}
		s := entryJSON(e)
		var want matcher.Entry
		jsonErr := json.Unmarshal([]byte(s), &want)
		var got matcher.Entry
		ok := parseEntry(s, &got)
		plain := func(v string) bool {
			for i := 0; i < len(v); i++ {
				if v[i] < 0x20 || v[i] == '"' || v[i] == '\\' || v[i] >= utf8.RuneSelf {
					return false
				}
			}
			return true
		}
		inRange := func(t time.Time) bool { return t.IsZero() || t.Year() >= 0 && t.Year() <= 9999 }
		if !ok {
			if jsonErr == nil && plain(list+pl+country+category+action+reference+reason) &&
				inRange(e.ValidFrom) && inRange(e.ValidUntil) && priority > -1e18 && priority < 1e18 {
				t.Fatalf("parseEntry refused what the Publisher writes: %q", s)
			}
			return
		}
		if jsonErr != nil {
			t.Fatalf("parseEntry accepted what encoding/json refuses (%v): %q", jsonErr, s)
		}
		if got != want {
			t.Fatalf("parseEntry(%q) = %+v, encoding/json %+v", s, got, want)
		}
	})
}

// BenchmarkDecode measures decoding one record in the Publisher's form,
// with the hand-written parser and with encoding/json alone.
//
//	go test -run '^$' -bench '^BenchmarkDecode$' -benchtime 1s ./hotlist/
func BenchmarkDecode(b *testing.B) {
	e := matcher.Entry{List: "uninsured", Plate: "PL0012345", Country: "BE", Category: "uninsured",
		Action: "stop", Reference: "REF-12345", ValidFrom: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	k, v := key(e.List, e.Plate), entryJSON(e)
	b.Run("path=fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, bad := decode(k, v, testKnown); bad != "" {
				b.Fatal(bad)
			}
		}
	})
	b.Run("path=encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c matcher.Change
			if err := json.Unmarshal([]byte(v), &c.Entry); err != nil {
				b.Fatal(err)
			}
		}
	})
}
