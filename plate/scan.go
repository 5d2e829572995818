package plate

// A JSON scanner for one Read: it checks the whole record against RFC 8259
// and notes where the values of the known fields are, without copying or
// allocating (but for field names with escapes).

import (
	"fmt"
	"math/bits"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// token is one scanned JSON value. For a string, start:end are the bounds of
// its contents without the quotes.
type token struct {
	start, end int
	kind       int   // 0 absent, '"' string, '0' number, 'n' null, 't' true or false, '{' object, '[' array
	flags      uint8 // of a string: flEsc, flNotPlain
}

// view returns the value of the string t, sharing s unless it has escapes.
func (t *token) view(s string) string {
	if t.flags&flEsc != 0 {
		return unescape(s[t.start:t.end])
	}
	return s[t.start:t.end]
}

// String flags.
const (
	flEsc      = 1 << iota // has backslash escapes
	flNotPlain             // has something other than printable ASCII (escapes, DEL, non-ASCII)
)

// Syntax errors. The scanning functions are plain functions of (s, i)
// returning positions and one of these codes, so that everything stays in
// registers; Decode turns a code into a *DecodeError.
const (
	synOK = iota
	synObject
	synKey
	synColon
	synObjectEnd
	synArrayEnd
	synValue
	synLiteral
	synNumber
	synUnterminated
	synEscape
	synControl
	synUTF8
	synTrailing
)

var synMessages = [...]string{
	synObject:       "a read must be a JSON object",
	synKey:          "expected a field name",
	synColon:        "expected ':' after a field name",
	synObjectEnd:    "expected ',' or '}' in an object",
	synArrayEnd:     "expected ',' or ']' in an array",
	synValue:        "expected a value",
	synLiteral:      "invalid literal",
	synNumber:       "invalid number",
	synUnterminated: "unterminated string",
	synEscape:       "invalid escape in a string",
	synControl:      "control character in a string",
	synUTF8:         "string is not valid UTF-8",
	synTrailing:     "data after the end of the object",
}

func syntaxError(offset int, code int) error {
	return &DecodeError{Reason: ReasonInvalidJSON,
		Detail: fmt.Sprintf("invalid JSON at offset %d: %s", offset, synMessages[code])}
}

// ws returns the index of the first non-whitespace byte of s at or after i.
func ws(s string, i int) int {
	for i < len(s) && s[i] <= ' ' && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t') {
		i++
	}
	return i
}

// scanRecord scans the top-level object of s, keeping the last value of
// every known field in f. On a syntax error it returns its offset and code.
func scanRecord(s string, f *[numFields]token) (int, int) {
	i := ws(s, 0)
	if i >= len(s) || s[i] != '{' {
		return i, synObject
	}
	if i = ws(s, i+1); i < len(s) && s[i] == '}' {
		return end(s, i+1)
	}
	var unknown token // where the values of unknown fields go
	// Records seldom have whitespace between tokens: the expected byte is
	// tested first, and whitespace skipped only when it is not there.
	for {
		if i >= len(s) || s[i] != '"' {
			if i = ws(s, i); i >= len(s) || s[i] != '"' {
				return i, synKey
			}
		}
		k, j := knownKey(s, i+1)
		if k < 0 {
			var flags uint8
			var code int
			if j, flags, code = scanString(s, i+1); code != synOK {
				return j, code
			}
			key := s[i+1 : j]
			if flags&flEsc != 0 {
				key = unescape(key)
			}
			k = fieldIndex(key)
		}
		t := &unknown
		if uint(k) < numFields { // k ≥ 0, said so that f[k] needs no bounds check
			t = &f[k]
		}
		if i = j + 1; i >= len(s) || s[i] != ':' {
			if i = ws(s, i); i >= len(s) || s[i] != ':' {
				return i, synColon
			}
		}
		if i++; i >= len(s) || s[i] <= ' ' {
			i = ws(s, i)
		}
		var code int
		if i < len(s) && s[i] == '"' {
			// A string, the usual value: up to its first special byte it is
			// scanned here, as skipPlain does (inlined by hand: a call costs
			// more), and by scanString unless that byte is the closing quote.
			j := i + 1
			for {
				if j+8 > len(s) {
					for j < len(s) && !strSpecial[s[j]] {
						j++
					}
					break
				}
				if m := specialMask(load64(s, j)); m != 0 {
					j += bits.TrailingZeros64(m) >> 3
					break
				}
				j += 8
			}
			var flags uint8
			if j >= len(s) || s[j] != '"' {
				if j, flags, code = scanString(s, i+1); code != synOK {
					return j, code
				}
			}
			*t = token{start: i + 1, end: j, kind: '"', flags: flags}
			i = j + 1
		} else if i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '-') {
			j := i // a number, the next usual value: as scanValue would
			if i, code = scanNumber(s, i); code != synOK {
				return i, code
			}
			*t = token{start: j, end: i, kind: '0'}
		} else {
			t.start = i
			if i, t.kind, code = scanValue(s, i); code != synOK {
				return i, code
			}
			t.end, t.flags = i, 0
		}
		if i >= len(s) || s[i] != ',' {
			if i = ws(s, i); i < len(s) && s[i] == '}' {
				return end(s, i+1)
			}
			if i >= len(s) || s[i] != ',' {
				return i, synObjectEnd
			}
		}
		i++
	}
}

// end checks that only whitespace follows the object, which ends before s[i].
func end(s string, i int) (int, int) {
	if i = ws(s, i); i != len(s) {
		return i, synTrailing
	}
	return i, synOK
}

// knownKey is the fast path for field names: it matches the known names,
// written without escapes, starting at s[i] just after the opening quote. It
// returns the field and the index of the closing quote, or -1, and then the
// caller scans the name with scanString.
func knownKey(s string, i int) (field, end int) {
	// t has room for the longest name and its quote; its constant length
	// spares the comparisons below their bounds checks.
	if i < 0 || i > len(s)-len(`vehicle_class"`) {
		return -1, 0
	}
	t := s[i : i+len(`vehicle_class"`)]
	switch t[0] {
	case 'r':
		if t[:8] == `read_id"` {
			return fReadID, i + 7
		}
	case 'c':
		switch {
		case t[:10] == `camera_id"`:
			return fCameraID, i + 9
		case t[:8] == `country"`:
			return fCountry, i + 7
		case t[:11] == `confidence"`:
			return fConfidence, i + 10
		}
	case 't':
		if t[:3] == `ts"` {
			return fTS, i + 2
		}
	case 'p':
		if t[:6] == `plate"` {
			return fPlate, i + 5
		}
	case 'l':
		if t[:5] == `lane"` {
			return fLane, i + 4
		}
	case 'v':
		if t[:14] == `vehicle_class"` {
			return fVehicleClass, i + 13
		}
	case 'i':
		if t[:10] == `image_ref"` {
			return fImageRef, i + 9
		}
	}
	return -1, 0
}

// fieldIndex returns the field named key, or -1.
func fieldIndex(key string) int {
	switch key {
	case "read_id":
		return fReadID
	case "camera_id":
		return fCameraID
	case "ts":
		return fTS
	case "plate":
		return fPlate
	case "country":
		return fCountry
	case "confidence":
		return fConfidence
	case "lane":
		return fLane
	case "vehicle_class":
		return fVehicleClass
	case "image_ref":
		return fImageRef
	}
	return -1
}

// scanValue scans the value starting at s[i] and returns the index after it
// and its kind. Objects and arrays are checked and skipped; the recursion
// depth is bounded by MaxRecordBytes.
func scanValue(s string, i int) (end, kind, code int) {
	if i >= len(s) {
		return i, 0, synValue
	}
	switch c := s[i]; {
	case c == '"':
		if end, _, code = scanString(s, i+1); code != synOK {
			return end, 0, code
		}
		return end + 1, '"', synOK
	case c == '-' || c >= '0' && c <= '9':
		end, code = scanNumber(s, i)
		return end, '0', code
	case c == 't':
		return scanLiteral(s, i, "true", 't')
	case c == 'f':
		return scanLiteral(s, i, "false", 't')
	case c == 'n':
		return scanLiteral(s, i, "null", 'n')
	case c == '{':
		i = ws(s, i+1)
		if i < len(s) && s[i] == '}' {
			return i + 1, '{', synOK
		}
		for {
			if i >= len(s) || s[i] != '"' {
				return i, 0, synKey
			}
			if i, _, code = scanString(s, i+1); code != synOK {
				return i, 0, code
			}
			i = ws(s, i+1)
			if i >= len(s) || s[i] != ':' {
				return i, 0, synColon
			}
			if i, _, code = scanValue(s, ws(s, i+1)); code != synOK {
				return i, 0, code
			}
			i = ws(s, i)
			if i < len(s) && s[i] == ',' {
				i = ws(s, i+1)
				continue
			}
			if i < len(s) && s[i] == '}' {
				return i + 1, '{', synOK
			}
			return i, 0, synObjectEnd
		}
	case c == '[':
		i = ws(s, i+1)
		if i < len(s) && s[i] == ']' {
			return i + 1, '[', synOK
		}
		for {
			if i, _, code = scanValue(s, i); code != synOK {
				return i, 0, code
			}
			i = ws(s, i)
			if i < len(s) && s[i] == ',' {
				i = ws(s, i+1)
				continue
			}
			if i < len(s) && s[i] == ']' {
				return i + 1, '[', synOK
			}
			return i, 0, synArrayEnd
		}
	}
	return i, 0, synValue
}

func scanLiteral(s string, i int, lit string, kind int) (end, k, code int) {
	if !strings.HasPrefix(s[i:], lit) {
		return i, 0, synLiteral
	}
	return i + len(lit), kind, synOK
}

// strSpecial marks the bytes that end the fast path of a string scan: all
// but printable ASCII.
var strSpecial = func() (t [256]bool) {
	for c := range t {
		t[c] = c < 0x20 || c == '"' || c == '\\' || c >= 0x7f
	}
	return t
}()

// Broadcast constants for testing eight bytes at a time (SWAR).
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// load64 returns s[i:i+8] as a little-endian number (one load once compiled).
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// special8 returns the index of the first special byte (strSpecial) among
// the eight little-endian bytes in x, or 8.
func special8(x uint64) int { return bits.TrailingZeros64(specialMask(x)) >> 3 }

// specialMask returns x with the top bit of its lowest special byte
// (strSpecial) set, maybe of higher bytes too, and no other bit: zero when
// none of the eight bytes is special.
func specialMask(x uint64) uint64 {
	// Per byte, b-c sets the top bit when b < c, through the borrow; (b^c)-1
	// when b == c; b+1 when b == 0x7f; bytes ≥ 0x80 have it already. A borrow
	// or a carry only leaves a byte so flagged, so it can flag bytes above a
	// special one, never below: the lowest flag is exact (Bit Twiddling
	// Hacks, "haszero").
	return ((x - lsb*0x20) | ((x ^ lsb*'"') - lsb) | ((x ^ lsb*'\\') - lsb) | (x + lsb) | x) & msb
}

// skipPlain returns the index of the first special byte (strSpecial) of s
// at or after i, or len(s): eight bytes at a time, then the last ones.
func skipPlain(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		if m := specialMask(load64(s, i)); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(s) && !strSpecial[s[i]] {
		i++
	}
	return i
}

// scanString scans the contents of a string starting at s[i], just after the
// opening quote, and returns the index of the closing quote.
func scanString(s string, i int) (end int, flags uint8, code int) {
	start := i
	for {
		if i = skipPlain(s, i); i >= len(s) {
			return i, 0, synUnterminated
		}
		switch c := s[i]; {
		case c == '"':
			if flags&flNotPlain != 0 && !utf8.ValidString(s[start:i]) {
				return start, 0, synUTF8
			}
			return i, flags, synOK
		case c == '\\':
			flags |= flEsc | flNotPlain
			if i+1 >= len(s) {
				return i, 0, synUnterminated
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s) || hex4(s[i+2:i+6]) < 0 {
					return i, 0, synEscape
				}
				i += 6
			default:
				return i, 0, synEscape
			}
		case c < 0x20:
			return i, 0, synControl
		default: // DEL or non-ASCII; UTF-8 is checked once at the end
			flags |= flNotPlain
			i++
		}
	}
}

// scanNumber scans a number starting at s[i].
func scanNumber(s string, i int) (end, code int) {
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return i, synNumber
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return i, synNumber
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return i, synNumber
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	return i, synOK
}

// hex4 returns the value of four hex digits, or -1.
func hex4(s string) rune {
	var r rune
	for i := 0; i < 4; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unescape decodes the contents of a string that scanString accepted. It is
// not inlined so that token.view, on the hot path, is.
//
//go:noinline
func unescape(raw string) string {
	b := appendUnescaped(make([]byte, 0, len(raw)), raw)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// appendUnescaped appends the decoded contents of a string that scanString
// accepted to b: no more bytes than raw has. Like encoding/json, it turns a
// \u escape of a lone surrogate into U+FFFD.
func appendUnescaped(b []byte, raw string) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := hex4(raw[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2 = hex4(raw[i+2 : i+6])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			b = utf8.AppendRune(b, r)
			continue
		default: // '"', '\\', '/'
			b = append(b, raw[i+1])
		}
		i += 2
	}
	return b
}
