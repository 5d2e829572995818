package matcher

import (
	"strconv"
	"time"
	"unicode/utf8"

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

// check validates e and returns its normalized plate, or the field at
// fault and why. Reasons never quote the plate (personal data).
func (e *Entry) check() (norm, field, reason string) {
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
	dst = appendString(dst, e.List)
	dst = append(dst, `,"plate":`...)
	dst = appendString(dst, e.Plate)
	dst = append(dst, `,"country":`...)
	dst = appendString(dst, e.Country)
	dst = append(dst, `,"category":`...)
	dst = appendString(dst, e.Category)
	dst = append(dst, `,"priority":`...)
	dst = strconv.AppendInt(dst, int64(e.Priority), 10)
	dst = append(dst, `,"action":`...)
	dst = appendString(dst, e.Action)
	dst = append(dst, `,"reference":`...)
	dst = appendString(dst, e.Reference)
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
	dst = appendString(dst, e.Reason)
	return append(dst, '}')
}

func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, plate.TimeFormat)
	return append(dst, '"')
}

// appendString appends s as a JSON string, as encoding/json would but
// without HTML escaping: invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			if r == utf8.RuneError {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
