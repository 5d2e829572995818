package plate

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{"1-abc-234", "1ABC234", true},
		{"1ABC234", "1ABC234", true},
		{" 1 abc 234 ", "1ABC234", true},
		{"AB", "AB", true},
		{"A", "", false},
		{"", "", false},
		{"-.-", "", false},
		{"ABCDEF123456", "ABCDEF123456", true},
		{"ABC-DEF-123-456", "ABCDEF123456", true},
		{"ABCDEF1234567", "", false},
		{"Ä-B1", "B1", true},         // non-ASCII dropped
		{"ÀÉÎ", "", false},           // nothing left
		{"ab\x00\xffc", "ABC", true}, // control and invalid bytes dropped
		{"ｱB1", "B1", true},          // full-width katakana dropped
		{"ＡＢ", "", false},            // full-width Latin is not A-Z
	}
	for _, tt := range tests {
		got, ok := Normalize(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Normalize(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
		if app := string(AppendNormalized([]byte("x"), tt.in)); tt.wantOK && app != "x"+tt.want {
			t.Errorf("AppendNormalized(x, %q) = %q, want x%s", tt.in, app, tt.want)
		}
	}
}

func TestNormalizeAllocs(t *testing.T) {
	for _, tt := range []struct {
		in  string
		max float64
	}{{"1ABC234", 0}, {"1-abc-234", 1}, {"A", 0}} {
		if n := testing.AllocsPerRun(100, func() { Normalize(tt.in) }); n > tt.max {
			t.Errorf("Normalize(%q) allocates %v times, want at most %v", tt.in, n, tt.max)
		}
	}
}

func TestOCRTableDefault(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1ABC234", "1A8C234"},
		{"0ODQ", "0000"},
		{"1I2Z5S6G8B", "1122556688"},
		{"AXY7", "AXY7"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := DefaultOCRTable.Canonical(tt.in); got != tt.want {
			t.Errorf("Canonical(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := string(DefaultOCRTable.AppendCanonical([]byte("x"), tt.in)); got != "x"+tt.want {
			t.Errorf("AppendCanonical(x, %q) = %q, want x%s", tt.in, got, tt.want)
		}
	}
	same := []struct {
		a, b string
		want bool
	}{
		{"1ABC234", "IA8C234", true},
		{"1ABC234", "1ABC234", true},
		{"OOO", "0DQ", true},
		{"S5", "55", true},
		{"1ABC234", "1ABC23", false},
		{"1ABC234", "1ABC235", false},
		{"A", "4", false},
	}
	for _, tt := range same {
		if got := DefaultOCRTable.Same(tt.a, tt.b); got != tt.want {
			t.Errorf("Same(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := DefaultOCRTable.Canonical(tt.a) == DefaultOCRTable.Canonical(tt.b); got != tt.want {
			t.Errorf("Canonical(%q) == Canonical(%q) is %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
	if got, want := DefaultOCRTable.String(), "0DOQ 1I 2Z 5S 6G 8B"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	// Canonical returns its argument when nothing changes.
	if n := testing.AllocsPerRun(100, func() { DefaultOCRTable.Canonical("AXY7") }); n != 0 {
		t.Errorf("Canonical of a canonical plate allocates %v times", n)
	}
}

func TestNewOCRTable(t *testing.T) {
	bad := []struct {
		classes []string
		errHas  string
	}{
		{[]string{"0"}, "at least two"},
		{[]string{"0o"}, "not A-Z or 0-9"},
		{[]string{"0O", "O8"}, "already in class"},
		{[]string{"00"}, "already in class"},
	}
	for _, tt := range bad {
		if _, err := NewOCRTable(tt.classes); err == nil || !strings.Contains(err.Error(), tt.errHas) {
			t.Errorf("NewOCRTable(%q) = %v, want an error about %q", tt.classes, err, tt.errHas)
		}
	}
	tab, err := NewOCRTable([]string{"O0", "BE8"})
	if err != nil {
		t.Fatal(err)
	}
	if got := tab.Canonical("0B8E"); got != "OBBB" {
		t.Errorf("Canonical(0B8E) = %q, want OBBB", got)
	}
	// String lists each class with its canonical character first, so that
	// it builds the same table again.
	if got, want := tab.String(), "O0 B8E"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	again, err := NewOCRTable(strings.Fields(tab.String()))
	if err != nil || *again != *tab {
		t.Errorf("NewOCRTable(String()) differs: %v", err)
	}
	empty, err := NewOCRTable(nil)
	if err != nil || empty.Canonical("0O") != "0O" || empty.String() != "" {
		t.Errorf("empty table: %v, %q, %q", err, empty.Canonical("0O"), empty.String())
	}
}
