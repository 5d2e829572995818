package matcher

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anpr/anpr/plate"
)

func readCSVFile(t *testing.T, name string) ([]Entry, []RowError, error) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return ReadCSV(f)
}

func TestReadCSVGood(t *testing.T) {
	entries, bad, err := readCSVFile(t, "testdata/good.csv")
	if err != nil || len(bad) != 0 {
		t.Fatalf("ReadCSV: err %v, bad rows %v; want neither", err, bad)
	}
	want := []Entry{
		{List: "stolen", Plate: "1ABC234", Country: "BE", Category: "stolen_vehicle", Priority: 1,
			Action: "intercept", Reference: "PV-2026-004211",
			ValidFrom:  time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
			ValidUntil: time.Date(2027, 5, 1, 0, 0, 0, 0, time.UTC),
			Reason:     "theft reported 2026-11-01"},
		{List: "wanted", Plate: "AB12CD", Category: "person", Priority: 2, Action: "observe",
			Covert: true, Reason: "multi\nline, with comma"},
		{List: "stolen", Plate: "XYZ789", Country: "NL",
			ValidUntil: time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC)},
	}
	if len(entries) != len(want) {
		t.Fatalf("got %d entries, want %d", len(entries), len(want))
	}
	for i := range want {
		g, w := entries[i], want[i]
		if !g.ValidFrom.Equal(w.ValidFrom) || !g.ValidUntil.Equal(w.ValidUntil) {
			t.Errorf("entry %d: validity %v..%v, want %v..%v", i, g.ValidFrom, g.ValidUntil, w.ValidFrom, w.ValidUntil)
		}
		g.ValidFrom, g.ValidUntil, w.ValidFrom, w.ValidUntil = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if g != w {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
	}
	// The entries load as they are.
	m := mustNew(t, []List{{Name: "stolen", Mode: OCR}, {Name: "wanted", Mode: Exact}}, Options{})
	mustLoad(t, m, entries)
}

func TestReadCSVBadRows(t *testing.T) {
	entries, bad, err := readCSVFile(t, "testdata/bad_rows.csv")
	if err != nil {
		t.Fatalf("ReadCSV: %v", err)
	}
	var plates []string
	for _, e := range entries {
		plates = append(plates, e.Plate)
	}
	if got, want := strings.Join(plates, ","), "1ABC234,9YZA012"; got != want {
		t.Errorf("good entries %s, want %s", got, want)
	}
	want := []RowError{
		{3, "plate", "does not normalize to 2..12 characters A-Z 0-9"},
		{4, "list", "required"},
		{5, "priority", "not an integer"},
		{6, "covert", "not true or false"},
		{7, "valid_from", "not an RFC 3339 time"},
		{8, "valid_until", "not after valid_from"},
		{9, "country", "not an ISO 3166-1 alpha-2 code"},
		{10, "", "2 fields, the header has 7"},
	}
	if len(bad) != len(want) {
		t.Fatalf("got %d row errors %v, want %d", len(bad), bad, len(want))
	}
	for i := range want {
		if bad[i] != want[i] {
			t.Errorf("row error %d = %+v, want %+v", i, bad[i], want[i])
		}
	}
	if got, want := bad[0].Error(), "line 3: plate: does not normalize to 2..12 characters A-Z 0-9"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestReadCSVFileErrors(t *testing.T) {
	tests := []struct {
		name, csv string
		want      []string
	}{
		{"empty", "", []string{"no header row"}},
		{"unknown column", "list,plate,colour\nstolen,1ABC234,red\n", []string{`column 3 "colour": unknown`}},
		{"missing plate", "list,country\nstolen,BE\n", []string{`column "plate": required`}},
		{"missing both", "reason\nx\n", []string{`column "list": required`, `column "plate": required`}},
		{"repeated", "list,plate,plate\n", []string{`column 3 "plate": repeated`}},
		{"unterminated quote", "list,plate\nstolen,\"1ABC\n", []string{"read hotlist csv"}},
	}
	for _, tt := range tests {
		entries, bad, err := ReadCSV(strings.NewReader(tt.csv))
		if err == nil {
			t.Errorf("%s: ReadCSV succeeded with %d entries, want error", tt.name, len(entries))
			continue
		}
		if entries != nil || bad != nil {
			t.Errorf("%s: got entries %v rows %v with an error, want none", tt.name, entries, bad)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q, want it to contain %q", tt.name, err, w)
			}
		}
	}
	if _, _, err := readCSVFile(t, "testdata/unknown_column.csv"); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("unknown_column.csv: error %v, want one naming the column", err)
	}
}

func FuzzReadCSV(f *testing.F) {
	for _, name := range []string{"testdata/good.csv", "testdata/bad_rows.csv", "testdata/unknown_column.csv"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, bad, err := ReadCSV(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, e := range entries {
			if _, field, reason := e.Check(); field != "" {
				t.Errorf("returned entry fails check: %s: %s", field, reason)
			}
			if norm, _ := plate.Normalize(e.Plate); norm != e.Plate {
				t.Errorf("returned plate %q not normalized", e.Plate)
			}
		}
		for _, r := range bad {
			if r.Line < 2 {
				t.Errorf("row error on line %d, want ≥ 2 (line 1 is the header)", r.Line)
			}
		}
	})
}
