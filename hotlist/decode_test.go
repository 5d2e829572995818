package hotlist

import (
	"testing"

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
			got, bad := decode([]byte(c.key), []byte(c.value), testKnown)
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
		c, bad := decode([]byte(k), []byte(v), testKnown)
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
