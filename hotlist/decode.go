package hotlist

import (
	"encoding/json"

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
// empty.
func decode(k, v []byte, known map[string]bool) (c matcher.Change, bad string) {
	list, norm, ok := splitKey(string(k))
	if !ok {
		return c, reasonKey
	}
	if !known[list] {
		return c, reasonUnknownList
	}
	if len(v) == 0 {
		return matcher.Change{Delete: true, Entry: matcher.Entry{List: list, Plate: norm}}, ""
	}
	if err := json.Unmarshal(v, &c.Entry); err != nil {
		return matcher.Change{}, reasonJSON
	}
	n, field, _ := Check(&c.Entry)
	switch {
	case field != "":
		return matcher.Change{}, reasonEntry
	case c.Entry.List != list || n != norm:
		return matcher.Change{}, reasonMismatch
	}
	c.Entry.Plate = norm
	return c, ""
}
