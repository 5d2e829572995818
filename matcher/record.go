package matcher

import (
	"encoding/binary"
	"strings"
	"time"
	"unsafe"
)

// An entry is stored packed in its shard's arena as a record:
//
//	list        2 bytes, big-endian (so records sort by list)
//	ident       uvarint: the key code of the entry's plate in the canon
//	            keyspace, of the canonical key in the fuzzy keyspace, 0 in
//	            the exact keyspace (the plate is the key)
//	— the rest only in the exact and canon keyspaces —
//	flags       1 byte: flagCovert, flagFrom, flagUntil
//	country     str
//	valid_from  varint Unix ms, if flagFrom
//	valid_until varint Unix ms, if flagUntil
//	category    str
//	priority    varint
//	action      str
//	reference   str
//	reason      str
//
// A str is a uvarint x then, when x is odd, x>>1 bytes of text; when x is
// even, x>>1 is an id in the matcher's interner (country, category and
// action repeat a handful of values over millions of entries). Fields
// the match path checks come first. An Entry is built from its record only
// for a hit or a lookup.
const (
	flagCovert = 1 << iota
	flagFrom
	flagUntil
)

// maxInterned bounds the interner: beyond it, new values are stored
// inline, so a feed with unexpectedly many distinct categories costs
// memory per entry instead of growing the interner without end.
const maxInterned = 1 << 16

// interner gives the strings it has seen small ids; strs[0] is "". Only
// the goroutine holding Matcher.loadMu writes it; an index keeps the strs
// slice header of its generation, whose elements are never written again.
type interner struct {
	ids  map[string]uint32
	strs []string
}

func newInterner() *interner {
	return &interner{ids: map[string]uint32{"": 0}, strs: []string{""}}
}

// appendStr appends s as a str, interned if intern is set and there is
// room.
func (in *interner) appendStr(dst []byte, s string, intern bool) []byte {
	if intern {
		id, ok := in.ids[s]
		if !ok && len(in.strs) < maxInterned {
			s = strings.Clone(s) // do not keep the caller's larger buffer alive
			id, ok = uint32(len(in.strs)), true
			in.ids[s] = id
			in.strs = append(in.strs, s)
		}
		if ok {
			return binary.AppendUvarint(dst, uint64(id)<<1)
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(s))<<1|1)
	return append(dst, s...)
}

// appendRecord appends the record of e, whose plate and country have been
// checked, of list li.
func (in *interner) appendRecord(dst []byte, li uint16, ident uint64, e *Entry) []byte {
	dst = binary.BigEndian.AppendUint16(dst, li)
	dst = binary.AppendUvarint(dst, ident)
	var flags byte
	if e.Covert {
		flags |= flagCovert
	}
	if !e.ValidFrom.IsZero() {
		flags |= flagFrom
	}
	if !e.ValidUntil.IsZero() {
		flags |= flagUntil
	}
	dst = append(dst, flags)
	dst = in.appendStr(dst, strings.ToUpper(e.Country), true) // no copy when upper case already
	if flags&flagFrom != 0 {
		dst = binary.AppendVarint(dst, e.ValidFrom.UnixMilli())
	}
	if flags&flagUntil != 0 {
		dst = binary.AppendVarint(dst, e.ValidUntil.UnixMilli())
	}
	dst = in.appendStr(dst, e.Category, true)
	dst = binary.AppendVarint(dst, int64(e.Priority))
	dst = in.appendStr(dst, e.Action, true)
	dst = in.appendStr(dst, e.Reference, false)
	return in.appendStr(dst, e.Reason, false)
}

// recReader decodes a record front to back. Records are written by this
// package only, so it does not check them.
type recReader struct {
	b    []byte
	strs []string
}

func (r *recReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	r.b = r.b[n:]
	return v
}

func (r *recReader) varint() int64 {
	v, n := binary.Varint(r.b)
	r.b = r.b[n:]
	return v
}

// str returns the next str; text is returned as a view of the record
// when view is set, else copied.
func (r *recReader) str(view bool) string {
	x := r.uvarint()
	if x&1 == 0 {
		return r.strs[x>>1]
	}
	n := x >> 1
	s := r.b[:n]
	r.b = r.b[n:]
	if view {
		return unsafeString(s)
	}
	return string(s)
}

// recHead is what the match path reads of a record before deciding that
// it hits.
type recHead struct {
	list        uint16
	ident       uint64
	flags       byte
	country     string // a view of the record: do not keep
	from, until int64  // Unix ms, when flagged
}

// head decodes the head of rec, of the exact or canon keyspace, and
// leaves r at the category.
func (r *recReader) head(rec []byte) recHead {
	r.b = rec
	h := recHead{list: binary.BigEndian.Uint16(rec)}
	r.b = r.b[2:]
	h.ident = r.uvarint()
	h.flags = r.b[0]
	r.b = r.b[1:]
	h.country = r.str(true)
	if h.flags&flagFrom != 0 {
		h.from = r.varint()
	}
	if h.flags&flagUntil != 0 {
		h.until = r.varint()
	}
	return h
}

// validAt reports whether ts is within the validity window: from ≤ ts <
// until, both in whole milliseconds (Unix ms, floored).
func (h *recHead) validAt(ts time.Time) bool {
	if h.flags&(flagFrom|flagUntil) == 0 {
		return true
	}
	ms := ts.UnixMilli()
	return (h.flags&flagFrom == 0 || ms >= h.from) && (h.flags&flagUntil == 0 || ms < h.until)
}

// entry decodes the rest of the record whose head is h into an Entry of
// list name and normalized plate p.
func (r *recReader) entry(h *recHead, name, p string) Entry {
	e := Entry{List: name, Plate: p, Country: strings.Clone(h.country), Covert: h.flags&flagCovert != 0}
	if h.flags&flagFrom != 0 {
		e.ValidFrom = time.UnixMilli(h.from).UTC()
	}
	if h.flags&flagUntil != 0 {
		e.ValidUntil = time.UnixMilli(h.until).UTC()
	}
	e.Category = r.str(false)
	e.Priority = int(r.varint())
	e.Action = r.str(false)
	e.Reference = r.str(false)
	e.Reason = r.str(false)
	return e
}

// unsafeString views b, which is never written again, as a string.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
