package store

import (
	"encoding/binary"
	"strings"
	"time"
)

// Gateways name a read and its image after the camera and the capture time
// (SPEC §3's example: read id "CAM-E40-101/20261122T070000.123Z/1", image
// "s3://anpr/2026/11/22/x.jpg"). Those parts repeat what the passage holds
// already, and zstd, compressing a block of unrelated passages, cannot see
// it. A derived string is therefore stored as parts: literal bytes, or a
// token standing for one of the forms below, computed again from the decoded
// camera id, capture time (UTC, to the ms) and read id. Any string encodes
// (all literal at worst, 1–2 bytes more than plain) and decodes to itself.
//
//	uvarint number of parts, then per part uvarint x:
//	x&7 == 0: literal, x>>3 bytes follow; else token x&7 (x>>3 == 0)
const (
	tokCamera     = 1 + iota // camera_id
	tokReadID                // read_id (in the image ref only)
	tokStampBasic            // 20060102T150405.000Z (ISO 8601 basic, ms)
	tokStampRFC              // 2006-01-02T15:04:05.000Z (RFC 3339, ms)
	tokDatePath              // 2006/01/02
	tokDateBasic             // 20060102
	tokDateISO               // 2006-01-02
	numTokens
)

// tokens holds the strings the tokens stand for, for one passage: the
// camera and read ids as given, the time forms cut from one buffer.
type tokens struct {
	camera, readID string
	time           [56]byte
	span           [numTokens][2]uint8 // of the time forms in time; empty: none
	first          [4]uint64           // bit set of the tokens' first bytes
}

// get returns token k's string (empty: it matches nothing).
func (t *tokens) get(k int) []byte {
	return t.time[t.span[k][0]:t.span[k][1]]
}

// fill computes the tokens of a passage of camera captured at ts with read
// id readID. The time forms need a four-digit year; outside it they match
// nothing.
func (t *tokens) fill(camera, readID string, ts time.Time) {
	*t = tokens{camera: camera, readID: readID}
	t.mark(camera)
	t.mark(readID)
	// 20060102T150405.000Z then 2006-01-02T15:04:05.000Z then 2006/01/02:
	// the date forms are cut from them.
	b, ok := appendStampBasic(t.time[:0], ts)
	if !ok {
		return
	}
	st := b[:20]
	b = append(b, st[0:4]...)
	b = append(b, '-')
	b = append(b, st[4:6]...)
	b = append(b, '-')
	b = append(b, st[6:8]...)
	b = append(b, 'T')
	b = append(b, st[9:11]...)
	b = append(b, ':')
	b = append(b, st[11:13]...)
	b = append(b, ':')
	b = append(b, st[13:]...)
	b = append(b, st[0:4]...)
	b = append(b, '/')
	b = append(b, st[4:6]...)
	b = append(b, '/')
	b = append(b, st[6:8]...)
	t.span[tokStampBasic] = [2]uint8{0, 20}
	t.span[tokDateBasic] = [2]uint8{0, 8}
	t.span[tokStampRFC] = [2]uint8{20, 44}
	t.span[tokDateISO] = [2]uint8{20, 30}
	t.span[tokDatePath] = [2]uint8{44, 54}
	t.first[b[0]>>6] |= 1 << (b[0] & 63) // every time form starts with the year
}

// appendStampBasic appends ts as 20060102T150405.000Z (UTC, to the ms);
// outside the years 1000–9999 it appends nothing and reports false.
func appendStampBasic(dst []byte, ts time.Time) ([]byte, bool) {
	ts = time.UnixMilli(ts.UnixMilli()).UTC()
	y, mo, d := ts.Date()
	if y < 1000 || y > 9999 {
		return dst, false
	}
	h, mi, s := ts.Clock()
	dst = digits(dst, y*10000+int(mo)*100+d, 8)
	dst = append(dst, 'T')
	dst = digits(dst, h*10000+mi*100+s, 6)
	dst = append(dst, '.')
	dst = digits(dst, ts.Nanosecond()/1e6, 3)
	return append(dst, 'Z'), true
}

func (t *tokens) mark(s string) {
	if s != "" {
		t.first[s[0]>>6] |= 1 << (s[0] & 63)
	}
}

// match returns the length of token k if s starts with it, else 0.
func (t *tokens) match(k int, s string) int {
	switch k {
	case tokCamera:
		return prefixLen(s, t.camera)
	case tokReadID:
		return prefixLen(s, t.readID)
	}
	w := t.get(k)
	if len(w) == 0 || len(s) < len(w) || s[:len(w)] != string(w) {
		return 0
	}
	return len(w)
}

// prefixLen is len(w) if s starts with a non-empty w, else 0.
func prefixLen(s, w string) int {
	if w == "" || !strings.HasPrefix(s, w) {
		return 0
	}
	return len(w)
}

// expand appends token k's string, or reports false if it has none.
func (t *tokens) expand(sb *strings.Builder, k int) bool {
	switch k {
	case tokCamera:
		sb.WriteString(t.camera)
		return true
	case tokReadID:
		sb.WriteString(t.readID)
		return true
	}
	w := t.get(k)
	sb.Write(w)
	return len(w) > 0
}

// digits appends v as exactly n decimal digits (0 ≤ v < 10ⁿ).
func digits(b []byte, v, n int) []byte {
	for range n {
		b = append(b, '0')
	}
	for i := len(b) - 1; n > 0; i, n = i-1, n-1 {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// appendDerived appends s as parts, replacing the longest token found at
// each position (tokens allowed by mask, bit k for token k).
func appendDerived(dst []byte, s string, t *tokens, mask int) []byte {
	var parts [64]int // 0 (literal) or the token; past 62 parts the rest is literal
	var ends [64]int  // where each part ends in s
	np, lit, i := 0, 0, 0
	for i < len(s) && np < len(parts)-2 {
		best, bestLen := 0, 0
		if c := s[i]; t.first[c>>6]&(1<<(c&63)) != 0 {
			for k := 1; k < numTokens; k++ {
				if n := t.match(k, s[i:]); mask&(1<<k) != 0 && n > bestLen {
					best, bestLen = k, n
				}
			}
		}
		if best == 0 {
			i++
			continue
		}
		if lit < i {
			parts[np], ends[np] = 0, i
			np++
		}
		parts[np], ends[np] = best, i+bestLen
		np++
		i += bestLen
		lit = i
	}
	if lit < len(s) {
		parts[np], ends[np] = 0, len(s)
		np++
	}
	dst = binary.AppendUvarint(dst, uint64(np))
	start := 0
	for p := range np {
		if parts[p] == 0 {
			dst = binary.AppendUvarint(dst, uint64(ends[p]-start)<<3)
			dst = append(dst, s[start:ends[p]]...)
		} else {
			dst = binary.AppendUvarint(dst, uint64(parts[p]))
		}
		start = ends[p]
	}
	return dst
}

// derived reads a string appendDerived wrote.
func (d *decoder) derived(t *tokens, mask int) string {
	n := d.uvarint()
	var sb strings.Builder
	for ; n > 0 && d.err == nil; n-- {
		x := d.uvarint()
		switch k := int(x & 7); {
		case k == 0:
			sb.Write(d.bytes(x >> 3))
		case x>>3 != 0 || mask&(1<<k) == 0 || !t.expand(&sb, k):
			d.fail()
		}
	}
	return sb.String()
}
