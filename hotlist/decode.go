package hotlist

import (
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/anpr/anpr/matcher"
)

// Reasons a record is skipped: the values of the reason label of
// anpr_hotlist_bad_records_total.
const (
	reasonKey         = "bad_key"       // not "<list>/<normalized plate>"
	reasonUnknownList = "unknown_list"  // a list the matcher was not created with
	reasonJSON        = "bad_json"      // not an entry's JSON
	reasonEntry       = "invalid_entry" // fails Check
	reasonMismatch    = "key_mismatch"  // list or plate differ from the key
	reasonRejected    = "rejected"      // matcher.Apply refused it
)

var reasons = []string{reasonKey, reasonUnknownList, reasonJSON, reasonEntry, reasonMismatch, reasonRejected}

// decode turns a record of the hotlist topic into a change, or returns why
// it is skipped. known holds the lists the matcher has. An empty value is
// a tombstone: Kafka clients write it as null, and no entry's JSON is
// empty. The change's strings are substrings of k and v.
func decode(k, v string, known map[string]bool) (c matcher.Change, bad string) {
	list, norm, ok := splitKey(k)
	if !ok {
		return c, reasonKey
	}
	if !known[list] {
		return c, reasonUnknownList
	}
	if len(v) == 0 {
		return matcher.Change{Delete: true, Entry: matcher.Entry{List: list, Plate: norm}}, ""
	}
	if !parseEntry(v, &c.Entry) {
		var err error
		if c.Entry, err = unmarshalEntry(v); err != nil {
			return matcher.Change{}, reasonJSON
		}
	}
	n, field, _ := Check(&c.Entry)
	switch {
	case field != "":
		return matcher.Change{}, reasonEntry
	case c.Entry.List != list || n != norm:
		return matcher.Change{}, reasonMismatch
	}
	c.Entry.List, c.Entry.Plate = list, norm
	return c, ""
}

// unmarshalEntry decodes v with encoding/json. It is a function of its
// own so that only this path pays for the entry escaping to the heap.
func unmarshalEntry(v string) (matcher.Entry, error) {
	var e matcher.Entry
	err := json.Unmarshal([]byte(v), &e)
	return e, err
}

// parseEntry decodes s if it has exactly the form matcher.Entry.AppendJSON
// writes (what our Publisher sends) and reports whether it did; e's
// strings are substrings of s. Anything else (whitespace, other field
// order, escapes, other producers) is left to encoding/json, so false
// never means invalid, and when true e is what json.Unmarshal gives
// (FuzzParseEntry). This is the replay's hot path: one allocation fewer
// per field and no reflection.
func parseEntry(s string, e *matcher.Entry) bool {
	p := entryParser{s: s}
	ok := p.lit(`{"list":`) && p.str(&e.List) &&
		p.lit(`,"plate":`) && p.str(&e.Plate) &&
		p.lit(`,"country":`) && p.str(&e.Country) &&
		p.lit(`,"category":`) && p.str(&e.Category) &&
		p.lit(`,"priority":`) && p.int(&e.Priority) &&
		p.lit(`,"action":`) && p.str(&e.Action) &&
		p.lit(`,"reference":`) && p.str(&e.Reference)
	if ok && p.has(`,"valid_from":`) {
		ok = p.lit(`,"valid_from":`) && p.time(&e.ValidFrom)
	}
	if ok && p.has(`,"valid_until":`) {
		ok = p.lit(`,"valid_until":`) && p.time(&e.ValidUntil)
	}
	return ok && p.lit(`,"covert":`) && p.bool(&e.Covert) &&
		p.lit(`,"reason":`) && p.str(&e.Reason) &&
		p.lit("}") && p.i == len(s)
}

// entryParser reads s from i; each method consumes what it reads and
// reports whether it was there in the expected form.
type entryParser struct {
	s string
	i int
}

func (p *entryParser) has(lit string) bool { return strings.HasPrefix(p.s[p.i:], lit) }

func (p *entryParser) lit(lit string) bool {
	if !p.has(lit) {
		return false
	}
	p.i += len(lit)
	return true
}

// str reads a JSON string without escapes, of valid UTF-8.
func (p *entryParser) str(dst *string) bool {
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		return false
	}
	start, ascii := p.i+1, true
	for i := start; i < len(p.s); i++ {
		switch c := p.s[i]; {
		case c == '"':
			v := p.s[start:i]
			if !ascii && !utf8.ValidString(v) {
				return false // encoding/json substitutes U+FFFD
			}
			*dst, p.i = v, i+1
			return true
		case c < 0x20 || c == '\\':
			return false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return false
}

// int reads a JSON integer of up to 18 digits.
func (p *entryParser) int(dst *int) bool {
	i, neg := p.i, false
	if i < len(p.s) && p.s[i] == '-' {
		neg = true
		i++
	}
	start, n := i, 0
	for ; i < len(p.s) && p.s[i] >= '0' && p.s[i] <= '9'; i++ {
		n = n*10 + int(p.s[i]-'0')
	}
	digits := i - start
	if digits == 0 || digits > 18 || digits > 1 && p.s[start] == '0' || neg && n == 0 {
		return false
	}
	if neg {
		n = -n
	}
	*dst, p.i = n, i
	return true
}

func (p *entryParser) bool(dst *bool) bool {
	switch {
	case p.lit("true"):
		*dst = true
	case p.lit("false"):
		*dst = false
	default:
		return false
	}
	return true
}

// time reads a quoted time in plate.TimeFormat, in UTC:
// "2006-01-02T15:04:05.000Z".
func (p *entryParser) time(dst *time.Time) bool {
	const layout = `"0000-00-00T00:00:00.000Z"`
	if len(p.s)-p.i < len(layout) {
		return false
	}
	s := p.s[p.i : p.i+len(layout)]
	for i := range len(layout) {
		if layout[i] == '0' {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		} else if s[i] != layout[i] {
			return false
		}
	}
	d := func(i int) int { return int(s[i] - '0') }
	year := d(1)*1000 + d(2)*100 + d(3)*10 + d(4)
	month, day := d(6)*10+d(7), d(9)*10+d(10)
	hour, minute, sec := d(12)*10+d(13), d(15)*10+d(16), d(18)*10+d(19)
	ms := d(21)*100 + d(22)*10 + d(23)
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return false
	}
	*dst = time.Date(year, time.Month(month), day, hour, minute, sec, ms*int(time.Millisecond), time.UTC)
	p.i += len(layout)
	return true
}

func daysIn(month, year int) int {
	switch {
	case month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0):
		return 29
	case month == 2:
		return 28
	case month == 4 || month == 6 || month == 9 || month == 11:
		return 30
	}
	return 31
}

// unsafeString returns b as a string without copying: b must never be
// written again. kafka-go allocates every message's key and value afresh
// and keeps no reference to them, so the fetcher hands them to decode
// this way, sparing a copy and an allocation each.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
