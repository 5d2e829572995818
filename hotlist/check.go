package hotlist

import (
	"strings"

	"github.com/anpr/anpr/matcher"
	"github.com/anpr/anpr/plate"
)

// Check validates e with the rules matcher.Load and matcher.Apply apply,
// plus a valid list name, and returns e's normalized plate, or the field
// at fault and why. Reasons never quote the plate. It does not know which
// lists exist.
func Check(e *matcher.Entry) (norm, field, reason string) {
	if e.List != "" && !matcher.ValidListName(e.List) {
		return "", "list", listNameRule
	}
	return e.Check()
}

const listNameRule = "want 1..64 characters of A-Z a-z 0-9 . _ -"

// key returns the record key of the entry of list with normalized plate
// norm.
func key(list, norm string) string { return list + "/" + norm }

// splitKey returns the list and plate of a record key, which must be
// "<list>/<normalized plate>".
func splitKey(k string) (list, norm string, ok bool) {
	list, norm, ok = strings.Cut(k, "/")
	if !ok || !matcher.ValidListName(list) {
		return "", "", false
	}
	if n, valid := plate.Normalize(norm); !valid || n != norm {
		return "", "", false
	}
	return list, norm, true
}
