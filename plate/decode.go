package plate

import (
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Reason codes of a rejected record. They are the DLQ "anpr-error" header
// values and the reason label of anpr_ingest_records_rejected_total.
const (
	ReasonInvalidJSON  = "invalid_json"
	ReasonMissingField = "missing_field"
	ReasonInvalidField = "invalid_field"
	ReasonFutureTS     = "future_ts"
	ReasonTooLarge     = "too_large"
)

// Limits of a Read (SPEC §3). Lengths count Unicode characters (code
// points), not bytes.
const (
	MaxRecordBytes = 4096 // a larger record is rejected as too_large
	MaxReadIDLen   = 128
	MaxCameraIDLen = 64
	MaxImageRefLen = 512
	// MaxFuture is how far past the receiver's clock a capture time may be.
	MaxFuture = time.Hour
)

// DecodeError says why a record is not a valid Read.
type DecodeError struct {
	Reason string // one of the Reason constants
	Field  string // the JSON field at fault; empty for invalid_json and too_large
	// Detail is a human-readable explanation for the DLQ and logs. It never
	// echoes input values: plates are personal data.
	Detail string
}

// Error returns "reason: detail".
func (e *DecodeError) Error() string { return e.Reason + ": " + e.Detail }

// Indexes of the fields Decode knows, in the order it validates them.
const (
	fReadID = iota
	fCameraID
	fTS
	fPlate
	fCountry
	fConfidence
	fLane
	fVehicleClass
	fImageRef
	numFields
)

// Decode parses one JSON object into r and validates it against SPEC §3.
// Every field of r is overwritten; absent optional fields are set to -1, ""
// or ClassUnknown. On error the error is a *DecodeError, and r holds partial
// results that must not be used.
//
// The rules beyond the JSON grammar (RFC 8259):
//   - The input must be valid UTF-8 and at most MaxRecordBytes long.
//   - Field names match exactly (encoding/json would also match "READ_ID");
//     unknown fields, of any type, are ignored; of duplicate fields the last
//     wins; null is the same as absent.
//   - read_id: 1..MaxReadIDLen characters, camera_id: 1..MaxCameraIDLen
//     characters, neither with a control character (Unicode Cc).
//   - ts: RFC 3339, any offset, with an optional fraction of any length
//     ("t" and "z" may be lower case, as RFC 3339 allows). It is stored in UTC
//     truncated to the millisecond: anpr keeps capture times to the ms. A time
//     outside the years 0000..9999 in UTC is invalid.
//   - plate: normalizes (Normalize) to MinLen..MaxLen characters; PlateNorm is set.
//   - country: two ASCII letters, stored upper-cased, or "" (unknown).
//   - confidence: a number in 0..1; lane: an integer ≥ 0 (no fraction or
//     exponent, as encoding/json into an int).
//   - vehicle_class: one of the Class constants, ASCII case-insensitive,
//     stored as the constant; "" means ClassUnknown.
//   - image_ref: at most MaxImageRefLen characters.
//
// A syntax error anywhere is reported before any field error; field errors
// are reported in the order above, the first one only. Decode does not check
// the capture time against the clock: call CheckTime.
//
// The strings of r share one allocation, which holds them and nothing else
// of data; r does not refer to data. Decode is safe for concurrent use with
// different r, and data must not change during the call.
func Decode(data []byte, r *Read) error {
	if len(data) > MaxRecordBytes {
		return &DecodeError{Reason: ReasonTooLarge,
			Detail: fmt.Sprintf("record has %d bytes, limit %d", len(data), MaxRecordBytes)}
	}
	// s reads data in place: fill copies the strings r keeps, nothing else
	// of data is copied, and nothing refers to s after this call
	// (TestDecodeCopies; `go build -gcflags=-m` says s does not escape fill).
	s := unsafe.String(unsafe.SliceData(data), len(data))
	var f [numFields]token
	if off, code := scanRecord(s, &f); code != synOK {
		return syntaxError(off, code)
	}
	var err error
	*r, err = fill(s, &f)
	return err
}

// CheckTime returns a future_ts *DecodeError when r's capture time is more
// than MaxFuture after now.
func (r *Read) CheckTime(now time.Time) error {
	if r.TS.After(now.Add(MaxFuture)) {
		return &DecodeError{Reason: ReasonFutureTS, Field: "ts",
			Detail: fmt.Sprintf("ts is %s ahead of the receiver's clock, limit %s",
				r.TS.Sub(now).Truncate(time.Millisecond), MaxFuture)}
	}
	return nil
}

// fill validates the scanned fields of s into a Read. Its result lives on
// the stack until Decode copies it to the caller's Read, so that setting its
// fields needs no write barriers.
func fill(s string, f *[numFields]token) (r Read, err error) {
	r = Read{Confidence: -1, Lane: -1, VehicleClass: ClassUnknown}

	// The strings r keeps are copied to one allocation, b, which has room
	// for them all: unescaped they are no longer than in s, nor PlateNorm
	// than Plate.
	plate := f[fPlate].end - f[fPlate].start
	b := make([]byte, 0, f[fReadID].end-f[fReadID].start+f[fCameraID].end-f[fCameraID].start+
		plate+min(plate, MaxLen)+f[fImageRef].end-f[fImageRef].start)
	b, r.ReadID = keep(b, s, &f[fReadID])
	b, r.CameraID = keep(b, s, &f[fCameraID])
	b, r.Plate = keep(b, s, &f[fPlate])
	b, r.ImageRef = keep(b, s, &f[fImageRef])

	if err := text(&f[fReadID], r.ReadID, "read_id", MaxReadIDLen); err != nil {
		return r, err
	}
	if err := text(&f[fCameraID], r.CameraID, "camera_id", MaxCameraIDLen); err != nil {
		return r, err
	}

	t := &f[fTS]
	if err := required(t, "ts"); err != nil {
		return r, err
	}
	var ok bool
	if r.TS, ok = parseTime(t.view(s)); !ok {
		return r, invalid("ts", "ts must be an RFC 3339 time between years 0000 and 9999, like 2026-11-22T07:00:00.123Z")
	}

	t = &f[fPlate]
	if err := required(t, "plate"); err != nil {
		return r, err
	}
	var norm [MaxLen]byte
	n, clean := normalizeInto(&norm, r.Plate)
	if n < MinLen || n > MaxLen {
		unit := "characters"
		if n == 1 {
			unit = "character"
		}
		return r, invalid("plate", fmt.Sprintf("plate has %d %s after normalizing, need %d..%d", n, unit, MinLen, MaxLen))
	}
	r.PlateNorm = r.Plate
	if !clean {
		k := len(b)
		b = append(b, norm[:n]...)
		r.PlateNorm = since(b, k)
	}

	if t = &f[fCountry]; t.kind != 0 && t.kind != 'n' {
		if t.kind != '"' {
			return r, invalid("country", "country must be a string")
		}
		if country := t.view(s); country != "" {
			i, j := letter(country, 0), letter(country, 1)
			if len(country) != 2 || i < 0 || j < 0 {
				return r, invalid("country", "country must be an ISO 3166-1 alpha-2 code (two letters) or empty")
			}
			r.Country = countryCodes[(i*26+j)*2:][:2]
		}
	}

	if t = &f[fConfidence]; t.kind != 0 && t.kind != 'n' {
		if t.kind != '0' {
			return r, invalid("confidence", "confidence must be a number")
		}
		c, err := parseFloat(s[t.start:t.end])
		if err != nil || !(c >= 0 && c <= 1) {
			return r, invalid("confidence", "confidence must be between 0 and 1")
		}
		if c == 0 {
			c = 0 // -0 is 0
		}
		r.Confidence = c
	}

	if t = &f[fLane]; t.kind != 0 && t.kind != 'n' {
		if t.kind != '0' {
			return r, invalid("lane", "lane must be a number")
		}
		if r.Lane, ok = parseLane(s[t.start:t.end]); !ok {
			return r, invalid("lane", "lane must be an integer >= 0")
		}
	}

	if t = &f[fVehicleClass]; t.kind != 0 && t.kind != 'n' {
		if t.kind != '"' {
			return r, invalid("vehicle_class", "vehicle_class must be a string")
		}
		if class := t.view(s); class != "" {
			if r.VehicleClass = internClass(class); r.VehicleClass == "" {
				return r, invalid("vehicle_class", "vehicle_class must be one of car, van, truck, bus, motorcycle, unknown")
			}
		}
	}

	if t = &f[fImageRef]; t.kind != 0 && t.kind != 'n' {
		if t.kind != '"' {
			return r, invalid("image_ref", "image_ref must be a string")
		}
		if len(r.ImageRef) > MaxImageRefLen { // bytes ≥ characters: count only then
			if n, _ := textLen(r.ImageRef); n > MaxImageRefLen {
				return r, invalid("image_ref", fmt.Sprintf("image_ref has %d characters, limit %d", n, MaxImageRefLen))
			}
		}
	}
	return r, nil
}

// keep appends the string t of s, unescaped, to b and returns b and the
// copy; the copy is "" when t is not a string. b has room for it: it never
// grows, so the strings made from it stay valid and refer to it only.
func keep(b []byte, s string, t *token) ([]byte, string) {
	if t.kind != '"' {
		return b, "" // absent, null or not a string: fill checks it
	}
	n := len(b)
	if t.flags&flEsc == 0 {
		b = append(b, s[t.start:t.end]...)
	} else {
		b = appendUnescaped(b, s[t.start:t.end])
	}
	return b, since(b, n)
}

// since returns the bytes of b from n on as a string.
func since(b []byte, n int) string {
	return unsafe.String(unsafe.SliceData(b[n:]), len(b)-n)
}

// required returns the error for a required field t that is not a string.
func required(t *token, name string) error {
	switch t.kind {
	case '"':
		return nil
	case 0, 'n':
		return missing(name)
	}
	return invalid(name, name+" must be a string")
}

// text checks the required identifier t, whose value is v: 1..max
// characters and no control character.
func text(t *token, v, name string, max int) error {
	if t.kind == '"' && t.flags&flNotPlain == 0 && len(v) >= 1 && len(v) <= max {
		return nil // the usual: printable ASCII, one byte a character
	}
	return checkText(t, v, name, max)
}

// checkText is text for the other cases.
func checkText(t *token, v, name string, max int) error {
	if err := required(t, name); err != nil {
		return err
	}
	n, ctrl := len(v), false
	if t.flags&flNotPlain != 0 {
		n, ctrl = textLen(v)
	}
	switch {
	case n < 1 || n > max:
		return invalid(name, fmt.Sprintf("%s has %d characters, need 1..%d", name, n, max))
	case ctrl:
		return invalid(name, name+" contains a control character")
	}
	return nil
}

func missing(name string) error {
	return &DecodeError{Reason: ReasonMissingField, Field: name, Detail: name + " is required"}
}

func invalid(name, detail string) error {
	return &DecodeError{Reason: ReasonInvalidField, Field: name, Detail: detail}
}

// textLen returns the number of characters of the valid UTF-8 string s and
// whether one of them is a control character (Unicode Cc).
func textLen(s string) (n int, ctrl bool) {
	for i := 0; i < len(s); n++ {
		if c := s[i]; c < utf8.RuneSelf {
			ctrl = ctrl || c < 0x20 || c == 0x7f
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		ctrl = ctrl || r >= 0x80 && r <= 0x9f
		i += size
	}
	return n, ctrl
}

// countryCodes holds every pair of upper-case letters, "AAAB…ZZ", so that a
// country is a constant string whatever case it came in.
var countryCodes = func() string {
	b := make([]byte, 0, 26*26*2)
	for i := byte('A'); i <= 'Z'; i++ {
		for j := byte('A'); j <= 'Z'; j++ {
			b = append(b, i, j)
		}
	}
	return string(b)
}()

// letter returns the index 0..25 of the ASCII letter s[i], or -1.
func letter(s string, i int) int {
	if i >= len(s) {
		return -1
	}
	switch c := s[i]; {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c - 'a')
	}
	return -1
}

var classes = [...]string{ClassCar, ClassVan, ClassTruck, ClassBus, ClassMotorcycle, ClassUnknown}

// internClass returns the Class constant equal to s ignoring ASCII case, or "".
func internClass(s string) string {
	for _, c := range classes {
		if len(c) == len(s) && asciiEqualFold(s, c) {
			return c
		}
	}
	return ""
}

// asciiEqualFold compares s with the lower-case ASCII string lower.
func asciiEqualFold(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// parseFloat parses a JSON number. A short plain decimal, the usual
// confidence, skips strconv: its digits and its power of ten are exact
// float64s, so one division rounds it correctly, as ParseFloat would
// (Clinger's fast path).
func parseFloat(s string) (float64, error) {
	if len(s) > 16 {
		return strconv.ParseFloat(s, 64)
	}
	var mant uint64
	frac, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			if dot {
				frac++
			}
		case c == '.':
			dot = true
		default: // a sign or an exponent
			return strconv.ParseFloat(s, 64)
		}
	}
	// With a dot there are at most 15 digits, below 2⁵³: exact. Without, the
	// conversion rounds once, correctly.
	return float64(mant) / pow10[frac], nil
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// parseLane parses a JSON number that must be an integer ≥ 0 fitting an int;
// "-0" is 0.
func parseLane(s string) (int, bool) {
	if len(s) > 0 && s[0] == '-' {
		return 0, s == "-0"
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false // a fraction or an exponent
		}
		if n > (math.MaxInt-int(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(s) > 0
}

// parseTime parses an RFC 3339 time as Go's time.Parse(time.RFC3339, s)
// does on its strict path, also accepting lower-case "t" and "z", and returns
// it in UTC truncated to the millisecond, without allocating.
func parseTime(s string) (time.Time, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") {
		return time.Time{}, false
	}
	date, ok0 := digitPairs(load64(s, 0), dateLayout, dateSeps)
	day, ok1 := num2(s, 8)
	clock, ok2 := digitPairs(load64(s, 11), clockLayout, clockSeps)
	year := int(date&0xff)*100 + int(date>>16&0xff)
	month := int(date >> 40 & 0xff)
	hour, minute, sec := int(clock&0xff), int(clock>>24&0xff), int(clock>>48&0xff)
	if !(ok0 && ok1 && ok2) || (s[10] != 'T' && s[10] != 't') ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	s = s[19:]

	ms := 0
	if s[0] == '.' {
		n := 1 // the length of the fraction with its dot
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		switch { // the milliseconds are the first three digits
		case n >= 4:
			ms = int(s[1]-'0')*100 + int(s[2]-'0')*10 + int(s[3]-'0')
		case n == 3:
			ms = int(s[1]-'0')*100 + int(s[2]-'0')*10
		case n == 2:
			ms = int(s[1]-'0') * 100
		default:
			return time.Time{}, false
		}
		s = s[n:]
	}

	offset := 0
	switch {
	case s == "Z" || s == "z":
	case len(s) == len("+07:00") && (s[0] == '+' || s[0] == '-') && s[3] == ':':
		hh, ok := num2(s, 1)
		mm, ok1 := num2(s, 4)
		if !ok || !ok1 || hh > 23 || mm > 59 {
			return time.Time{}, false
		}
		offset = (hh*60 + mm) * 60
		if s[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	unix := daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	if unix < minUnix || unix >= maxUnix {
		return time.Time{}, false
	}
	return time.Unix(unix, int64(ms)*int64(time.Millisecond)).UTC(), true
}

// The Unix times of 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z.
const (
	minUnix = -62167219200
	maxUnix = 253402300800
)

// daysSinceEpoch returns the days from 1970-01-01 to the given date of the
// proleptic Gregorian calendar, for the years 0..9999: "days_from_civil"
// (Howard Hinnant) with the year starting in March, shifted by one 400-year
// era so that all of it is unsigned. Cheaper than time.Date.
func daysSinceEpoch(year, month, day int) int64 {
	y, m := uint64(year)+400, uint64(month)-3
	if month <= 2 {
		y, m = y-1, m+12
	}
	days := y*365 + y/4 - y/100 + y/400 + (153*m+2)/5 + uint64(day) - 1
	return int64(days) - 719468 - 146097
}

// Layouts of "2006-01-" and "15:04:05" for digitPairs: '0' where a digit
// goes, the byte expected elsewhere, as little-endian numbers; and masks of
// the bytes expected.
const (
	dateLayout  = '0' | '0'<<8 | '0'<<16 | '0'<<24 | '-'<<32 | '0'<<40 | '0'<<48 | '-'<<56
	dateSeps    = 0xff<<32 | 0xff<<56
	clockLayout = '0' | '0'<<8 | ':'<<16 | '0'<<24 | '0'<<32 | ':'<<40 | '0'<<48 | '0'<<56
	clockSeps   = 0xff<<16 | 0xff<<40
)

// digitPairs reads the eight bytes x (little-endian) laid out as layout and
// seps say, all at once (SWAR). Byte i of its result is the number made of
// the digits at i and i+1, 10*d[i] + d[i+1], wherever two digits start.
func digitPairs(x, layout, seps uint64) (uint64, bool) {
	d := x ^ layout // a digit as 0..9, an expected byte as 0
	// A byte above 9 gets its top bit from +0x76; one ≥ 0x80 has it already,
	// and only such a byte carries into the next.
	ok := ((d+lsb*0x76)|d)&msb == 0 && d&seps == 0
	return d*10 + d>>8, ok
}

// num2 parses the two decimal digits at s[i:i+2].
func num2(s string, i int) (int, bool) {
	a, b := s[i]-'0', s[i+1]-'0' // a byte below '0' wraps above 9
	return int(a)*10 + int(b), a <= 9 && b <= 9
}

// daysIn returns the number of days of month in year (proleptic Gregorian).
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
