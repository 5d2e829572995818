package hotlist

import (
	"fmt"
	"strings"

	"github.com/anpr/anpr/matcher"
	"github.com/anpr/anpr/plate"
)

// The matcher's limits, repeated here because they are unexported there;
// TestCheckAgreesWithMatcher keeps them in step.
const (
	maxListName = 64
	maxText     = 4096
)

// Check validates e with the rules matcher.Load and matcher.Apply apply,
// plus a valid list name, and returns e's normalized plate, or the field
// at fault and why. Reasons never quote the plate. It does not know which
// lists exist.
func Check(e *matcher.Entry) (norm, field, reason string) {
	switch {
	case e.List == "":
		return "", "list", "required"
	case !validListName(e.List):
		return "", "list", fmt.Sprintf("want 1..%d characters of A-Z a-z 0-9 . _ -", maxListName)
	case e.Plate == "":
		return "", "plate", "required"
	}
	norm, ok := plate.Normalize(e.Plate)
	if !ok {
		return "", "plate", "does not normalize to 2..12 characters A-Z 0-9"
	}
	if !validCountry(e.Country) {
		return "", "country", "not an ISO 3166-1 alpha-2 code"
	}
	if !e.ValidFrom.IsZero() && !e.ValidUntil.IsZero() && !e.ValidUntil.After(e.ValidFrom) {
		return "", "valid_until", "not after valid_from"
	}
	for _, f := range []struct{ name, v string }{
		{"category", e.Category}, {"action", e.Action}, {"reference", e.Reference}, {"reason", e.Reason},
	} {
		if len(f.v) > maxText {
			return "", f.name, fmt.Sprintf("longer than %d bytes", maxText)
		}
	}
	return norm, "", ""
}

func validListName(s string) bool {
	if len(s) == 0 || len(s) > maxListName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validCountry(s string) bool {
	if s == "" {
		return true
	}
	if len(s) != 2 {
		return false
	}
	for i := 0; i < 2; i++ {
		c := s[i] | 0x20 // lower-case ASCII letters
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// key returns the record key of the entry of list with normalized plate
// norm.
func key(list, norm string) string { return list + "/" + norm }

// splitKey returns the list and plate of a record key, which must be
// "<list>/<normalized plate>".
func splitKey(k string) (list, norm string, ok bool) {
	list, norm, ok = strings.Cut(k, "/")
	if !ok || !validListName(list) {
		return "", "", false
	}
	if n, valid := plate.Normalize(norm); !valid || n != norm {
		return "", "", false
	}
	return list, norm, true
}
