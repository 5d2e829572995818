package plate

import (
	"fmt"
	"strings"
)

// DefaultOCRClasses are the characters an OCR engine confuses (SPEC §4).
// Each string is one class; its first character is the class's canonical form.
var DefaultOCRClasses = []string{"0ODQ", "1I", "2Z", "5S", "6G", "8B"}

// OCRTable maps every character of a normalized plate to the canonical
// character of its confusion class. It is immutable once built and safe for
// concurrent use.
type OCRTable struct {
	m [256]byte
}

// NewOCRTable builds a table from classes of normalized characters (A-Z,
// 0-9). A character may belong to one class only.
func NewOCRTable(classes []string) (*OCRTable, error) {
	t := &OCRTable{}
	for i := range t.m {
		t.m[i] = byte(i)
	}
	seen := make(map[byte]string)
	for _, class := range classes {
		if len(class) < 2 {
			return nil, fmt.Errorf("ocr class %q: needs at least two characters", class)
		}
		for i := 0; i < len(class); i++ {
			c := class[i]
			if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return nil, fmt.Errorf("ocr class %q: %q is not A-Z or 0-9", class, c)
			}
			if prev, dup := seen[c]; dup {
				return nil, fmt.Errorf("ocr class %q: %q is already in class %q", class, c, prev)
			}
			seen[c] = class
			t.m[c] = class[0]
		}
	}
	return t, nil
}

// DefaultOCRTable is the table built from DefaultOCRClasses.
var DefaultOCRTable = mustOCRTable(DefaultOCRClasses)

func mustOCRTable(classes []string) *OCRTable {
	t, err := NewOCRTable(classes)
	if err != nil {
		panic("BUG: " + err.Error())
	}
	return t
}

// Canonical returns the normalized plate norm with every character replaced
// by its class's canonical character. It allocates only when something
// changes.
func (t *OCRTable) Canonical(norm string) string {
	for i := 0; i < len(norm); i++ {
		if t.m[norm[i]] != norm[i] {
			var buf [MaxLen]byte
			return string(t.AppendCanonical(buf[:0], norm))
		}
	}
	return norm
}

// AppendCanonical appends the canonical form of norm to dst.
func (t *OCRTable) AppendCanonical(dst []byte, norm string) []byte {
	for i := 0; i < len(norm); i++ {
		dst = append(dst, t.m[norm[i]])
	}
	return dst
}

// Same reports whether two normalized plates are equal after OCR mapping.
func (t *OCRTable) Same(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if t.m[a[i]] != t.m[b[i]] {
			return false
		}
	}
	return true
}

// String lists the table's classes, each with its canonical character first
// so that NewOCRTable(strings.Fields(t.String())) builds the same table.
func (t *OCRTable) String() string {
	classes := map[byte][]byte{}
	var order []byte
	for c := 0; c < 256; c++ {
		canon := t.m[c]
		if canon == byte(c) && !hasOthers(t, byte(c)) {
			continue
		}
		if _, ok := classes[canon]; !ok {
			order = append(order, canon)
			classes[canon] = []byte{canon}
		}
		if canon != byte(c) {
			classes[canon] = append(classes[canon], byte(c))
		}
	}
	parts := make([]string, 0, len(order))
	for _, canon := range order {
		parts = append(parts, string(classes[canon]))
	}
	return strings.Join(parts, " ")
}

func hasOthers(t *OCRTable, c byte) bool {
	for i := 0; i < 256; i++ {
		if i != int(c) && t.m[i] == c {
			return true
		}
	}
	return false
}
