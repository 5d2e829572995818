package matcher

import (
	"fmt"
	"strconv"
	"time"

	"github.com/anpr/anpr/plate"
)

// Entry is one hotlist entry (SPEC §4). Zero ValidFrom and ValidUntil mean
// unbounded and are left out of JSON. encoding/json decodes an Entry with
// the struct tags; MarshalJSON writes times in plate.TimeFormat.
type Entry struct {
	List       string    `json:"list"`
	Plate      string    `json:"plate"` // normalized once loaded
	Country    string    `json:"country"`
	Category   string    `json:"category"`
	Priority   int       `json:"priority"`
	Action     string    `json:"action"`
	Reference  string    `json:"reference"`
	ValidFrom  time.Time `json:"valid_from,omitzero"`  // inclusive
	ValidUntil time.Time `json:"valid_until,omitzero"` // exclusive
	Covert     bool      `json:"covert"`
	Reason     string    `json:"reason"`
}

// Check validates e with the rules Load and Apply apply (the list's
// existence aside) and returns its normalized plate, or the field at fault
// and why. Reasons never quote the plate (personal data).
func (e *Entry) Check() (norm, field, reason string) {
	if e.List == "" {
		return "", "list", "required"
	}
	if e.Plate == "" {
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

// MarshalJSON implements json.Marshaler with AppendJSON.
func (e Entry) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

// AppendJSON appends e as SPEC §4 JSON.
func (e *Entry) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"list":`...)
	dst = plate.AppendJSONString(dst, e.List)
	dst = append(dst, `,"plate":`...)
	dst = plate.AppendJSONString(dst, e.Plate)
	dst = append(dst, `,"country":`...)
	dst = plate.AppendJSONString(dst, e.Country)
	dst = append(dst, `,"category":`...)
	dst = plate.AppendJSONString(dst, e.Category)
	dst = append(dst, `,"priority":`...)
	dst = strconv.AppendInt(dst, int64(e.Priority), 10)
	dst = append(dst, `,"action":`...)
	dst = plate.AppendJSONString(dst, e.Action)
	dst = append(dst, `,"reference":`...)
	dst = plate.AppendJSONString(dst, e.Reference)
	if !e.ValidFrom.IsZero() {
		dst = append(dst, `,"valid_from":`...)
		dst = appendTime(dst, e.ValidFrom)
	}
	if !e.ValidUntil.IsZero() {
		dst = append(dst, `,"valid_until":`...)
		dst = appendTime(dst, e.ValidUntil)
	}
	dst = append(dst, `,"covert":`...)
	dst = strconv.AppendBool(dst, e.Covert)
	dst = append(dst, `,"reason":`...)
	dst = plate.AppendJSONString(dst, e.Reason)
	return append(dst, '}')
}

// appendTime appends t as a quoted JSON time in plate.TimeFormat.
func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = plate.AppendTime(dst, t)
	return append(dst, '"')
}
