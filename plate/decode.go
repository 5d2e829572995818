package plate

import (
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
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
// The strings in r share one copy of data (one allocation), and PlateNorm
// costs a second one unless the plate is already normalized: keeping any
// string of r keeps that copy alive. Decode is safe for concurrent use with
// different r.
func Decode(data []byte, r *Read) error {
	if len(data) > MaxRecordBytes {
		return &DecodeError{Reason: ReasonTooLarge,
			Detail: fmt.Sprintf("record has %d bytes, limit %d", len(data), MaxRecordBytes)}
	}
	s := string(data)
	var f [numFields]token
	if off, code := scanRecord(s, &f); code != synOK {
		return syntaxError(off, code)
	}
	*r = Read{Confidence: -1, Lane: -1, VehicleClass: ClassUnknown}
	return fill(s, &f, r)
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

// fill validates the scanned fields into r.
func fill(s string, f *[numFields]token, r *Read) error {
	var err error
	var ok bool
	if r.ReadID, ok, err = text(s, f[fReadID], "read_id", MaxReadIDLen); err != nil {
		return err
	} else if !ok {
		return missing("read_id")
	}
	if r.CameraID, ok, err = text(s, f[fCameraID], "camera_id", MaxCameraIDLen); err != nil {
		return err
	} else if !ok {
		return missing("camera_id")
	}

	ts, ok, err := stringField(s, f[fTS], "ts")
	if err != nil {
		return err
	} else if !ok {
		return missing("ts")
	}
	if r.TS, ok = parseTime(ts); !ok {
		return invalid("ts", "ts must be an RFC 3339 time between years 0000 and 9999, like 2026-11-22T07:00:00.123Z")
	}

	if r.Plate, ok, err = stringField(s, f[fPlate], "plate"); err != nil {
		return err
	} else if !ok {
		return missing("plate")
	}
	if r.PlateNorm, ok = Normalize(r.Plate); !ok {
		var buf [64]byte
		n := len(AppendNormalized(buf[:0], r.Plate))
		unit := "characters"
		if n == 1 {
			unit = "character"
		}
		return invalid("plate", fmt.Sprintf("plate has %d %s after normalizing, need %d..%d", n, unit, MinLen, MaxLen))
	}

	country, _, err := stringField(s, f[fCountry], "country")
	if err != nil {
		return err
	}
	if country != "" {
		i, j := letter(country, 0), letter(country, 1)
		if len(country) != 2 || i < 0 || j < 0 {
			return invalid("country", "country must be an ISO 3166-1 alpha-2 code (two letters) or empty")
		}
		r.Country = countryCodes[(i*26+j)*2:][:2]
	}

	if t := f[fConfidence]; t.kind != 0 && t.kind != 'n' {
		if t.kind != '0' {
			return invalid("confidence", "confidence must be a number")
		}
		c, err := parseFloat(s[t.start:t.end])
		if err != nil || !(c >= 0 && c <= 1) {
			return invalid("confidence", "confidence must be between 0 and 1")
		}
		if c == 0 {
			c = 0 // -0 is 0
		}
		r.Confidence = c
	}

	if t := f[fLane]; t.kind != 0 && t.kind != 'n' {
		if t.kind != '0' {
			return invalid("lane", "lane must be a number")
		}
		if r.Lane, ok = parseLane(s[t.start:t.end]); !ok {
			return invalid("lane", "lane must be an integer >= 0")
		}
	}

	class, _, err := stringField(s, f[fVehicleClass], "vehicle_class")
	if err != nil {
		return err
	}
	if class != "" {
		if r.VehicleClass = internClass(class); r.VehicleClass == "" {
			return invalid("vehicle_class", "vehicle_class must be one of car, van, truck, bus, motorcycle, unknown")
		}
	}

	if r.ImageRef, _, err = stringField(s, f[fImageRef], "image_ref"); err != nil {
		return err
	}
	if len(r.ImageRef) > MaxImageRefLen { // bytes ≥ characters: count only then
		if n, _ := textLen(r.ImageRef); n > MaxImageRefLen {
			return invalid("image_ref", fmt.Sprintf("image_ref has %d characters, limit %d", n, MaxImageRefLen))
		}
	}
	return nil
}

// stringField returns the string value of t; ok is false when t is absent or
// null.
func stringField(s string, t token, name string) (v string, ok bool, err error) {
	switch t.kind {
	case 0, 'n':
		return "", false, nil
	case '"':
		v = s[t.start:t.end]
		if t.flags&flEsc != 0 {
			v = unescape(v)
		}
		return v, true, nil
	}
	return "", false, invalid(name, name+" must be a string")
}

// text returns an identifier of 1..max characters without control characters.
func text(s string, t token, name string, max int) (string, bool, error) {
	s, ok, err := stringField(s, t, name)
	if !ok || err != nil {
		return s, ok, err
	}
	n, ctrl := len(s), false
	if t.flags&flNotPlain != 0 {
		n, ctrl = textLen(s)
	}
	switch {
	case n < 1 || n > max:
		return "", false, invalid(name, fmt.Sprintf("%s has %d characters, need 1..%d", name, n, max))
	case ctrl:
		return "", false, invalid(name, name+" contains a control character")
	}
	return s, true, nil
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
	cent, ok0 := num2(s, 0)
	yy, ok1 := num2(s, 2)
	month, ok2 := num2(s, 5)
	day, ok3 := num2(s, 8)
	hour, ok4 := num2(s, 11)
	minute, ok5 := num2(s, 14)
	sec, ok6 := num2(s, 17)
	year := cent*100 + yy
	if !(ok0 && ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	s = s[19:]

	ms := 0
	if s[0] == '.' {
		n := 1
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			if n <= 3 {
				ms = ms*10 + int(s[n]-'0')
			}
			n++
		}
		if n == 1 {
			return time.Time{}, false
		}
		for i := n; i <= 3; i++ {
			ms *= 10
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
// proleptic Gregorian calendar ("days_from_civil", Howard Hinnant): cheaper
// than time.Date.
func daysSinceEpoch(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400 // 0..399
	m := int64(month) + 9
	if month > 2 {
		m = int64(month) - 3
	}
	doy := (153*m+2)/5 + int64(day) - 1 // 0..365
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
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
