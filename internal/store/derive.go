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

// tokens holds the strings the tokens stand for, for one passage.
type tokens [numTokens][]byte

// fill computes the tokens of a passage of camera captured at ts with read
// id readID, in buf's room. The time forms need a four-digit year; outside
// it they match nothing.
func (t *tokens) fill(buf []byte, camera, readID string, ts time.Time) []byte {
	buf = buf[:0]
	mark := func(k, from int) { t[k] = buf[from:len(buf):len(buf)] }
	buf = append(buf, camera...)
	mark(tokCamera, 0)
	n := len(buf)
	buf = append(buf, readID...)
	mark(tokReadID, n)
	ts = time.UnixMilli(ts.UnixMilli()).UTC()
	y, mo, d := ts.Date()
	if y < 1000 || y > 9999 {
		for k := tokStampBasic; k < numTokens; k++ {
			t[k] = nil
		}
		return buf
	}
	h, mi, s := ts.Clock()
	// 20060102T150405.000Z: the other forms are cut from it.
	n = len(buf)
	buf = digits(buf, y, 4)
	buf = digits(buf, int(mo), 2)
	buf = digits(buf, d, 2)
	buf = append(buf, 'T')
	buf = digits(buf, h*10000+mi*100+s, 6)
	buf = append(buf, '.')
	buf = digits(buf, ts.Nanosecond()/1e6, 3)
	buf = append(buf, 'Z')
	mark(tokStampBasic, n)
	st := buf[n:]
	n = len(buf)
	buf = append(buf, st[0:4]...)
	buf = append(buf, '-')
	buf = append(buf, st[4:6]...)
	buf = append(buf, '-')
	buf = append(buf, st[6:8]...)
	mark(tokDateISO, n)
	buf = append(buf, 'T')
	buf = append(buf, st[9:11]...)
	buf = append(buf, ':')
	buf = append(buf, st[11:13]...)
	buf = append(buf, ':')
	buf = append(buf, st[13:]...)
	mark(tokStampRFC, n)
	n = len(buf)
	buf = append(buf, st[0:4]...)
	buf = append(buf, '/')
	buf = append(buf, st[4:6]...)
	buf = append(buf, '/')
	buf = append(buf, st[6:8]...)
	mark(tokDatePath, n)
	t[tokDateBasic] = st[0:8:8]
	return buf
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
	var parts [64]int // token or -(end of literal); more than 64 parts: rest literal
	var ends [64]int
	np, lit, i := 0, 0, 0
	for i < len(s) && np < len(parts)-2 {
		best, bestLen := 0, 0
		for k := 1; k < numTokens; k++ {
			if w := t[k]; mask&(1<<k) != 0 && len(w) > bestLen && s[i] == w[0] && strings.HasPrefix(s[i:], string(w)) {
				best, bestLen = k, len(w)
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
		case x>>3 == 0 && mask&(1<<k) != 0 && t[k] != nil:
			sb.Write(t[k])
		default:
			d.fail()
		}
	}
	return sb.String()
}
