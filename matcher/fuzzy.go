package matcher

import (
	"encoding/binary"
	"slices"

	"github.com/anpr/anpr/plate"
)

// Fuzzy matching uses symmetric deletion neighbourhoods. The fuzzy
// keyspace maps every string obtained from the canonical form K of a Fuzzy
// entry by deleting up to d characters (K itself included; d the largest
// MaxDistance of the Fuzzy lists) to K. A read probes the variants of its
// own canonical form R the same way; every K found is a candidate, and the
// true distance between R and K decides. Each edit of an optimal string
// alignment (substitution, insertion, deletion, transposition of adjacent
// characters) is undone by deleting at most one character on each side,
// so every K within distance d of R shares a variant with R: no candidate
// is missed, and no list is scanned.
//
// The distance is the optimal string alignment distance (restricted
// Damerau–Levenshtein): the unrestricted distance may edit a transposed
// pair again ("CA" to "ABC" is 2, OSA 3), which the deletion neighbourhood
// does not cover, and no single-character OCR error does. At distance 1,
// the default, the two are the same.

// maxVariants is the number of deletion variants of a 12-character key at
// distance 2: 1 + 12 + 66.
const maxVariants = 1 + plate.MaxLen + plate.MaxLen*(plate.MaxLen-1)/2

// appendVariants appends the codes of key and of every string made from
// it by deleting up to d characters, each once.
func appendVariants(dst []uint64, key []byte, d int) []uint64 {
	start := len(dst)
	dst = appendDeletions(dst, key, d)
	v := dst[start:]
	if d > 1 {
		slices.Sort(v)
	} // else the only repeats are deletions from a run of one character, adjacent
	return dst[:start+len(slices.Compact(v))]
}

func appendDeletions(dst []uint64, key []byte, d int) []uint64 {
	c, _ := keyCode(key)
	dst = append(dst, c)
	switch d {
	case 0:
	case 1:
		// Without key[i], whose prefix key[:i] has code p, the code is
		// c - (36p + digit(key[i])) · 37^(n-1-i): the prefix moves down
		// one place and the digit goes.
		var p uint64
		for i := range key {
			digit := uint64(keyDigit[key[i]])
			dst = append(dst, c-(36*p+digit)*keyPow[len(key)-1-i])
			p = p*keyBase + digit
		}
	default:
		var buf [plate.MaxLen]byte
		for i := range key {
			v := append(append(buf[:0], key[:i]...), key[i+1:]...)
			dst = appendDeletions(dst, v, d-1)
		}
	}
	return dst
}

// keyPow[i] is keyBase^i.
var keyPow = func() (t [plate.MaxLen]uint64) {
	t[0] = 1
	for i := 1; i < len(t); i++ {
		t[i] = t[i-1] * keyBase
	}
	return t
}()

// osa returns the optimal string alignment distance between a and b, or
// max+1 when it exceeds max. Both have at most plate.MaxLen characters.
func osa(a, b []byte, max int) int {
	if d := len(a) - len(b); d > max || -d > max {
		return max + 1
	}
	// Three rows of the dynamic programming matrix: i-2, i-1, i.
	var rows [3][plate.MaxLen + 1]int
	prev2, prev, cur := &rows[0], &rows[1], &rows[2]
	for j := 0; j <= len(b); j++ {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin > max {
			return max + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(b)], max+1)
}

// fuzzyChanges adds to the batch the fuzzy keyspace changes that follow
// from its changes to Fuzzy entries: the variants of a canonical key are
// added when its first Fuzzy entry arrives (in after but not in before)
// and deleted with its last one.
func (b *batch) fuzzyChanges(before, after *keyspace) {
	slices.Sort(b.fuzzy)
	keys := slices.Compact(b.fuzzy)
	var key [plate.MaxLen]byte
	var vs [maxVariants]uint64
	for _, k := range keys {
		had, has := b.m.hasFuzzy(before, k), b.m.hasFuzzy(after, k)
		if had == has {
			continue
		}
		for _, v := range appendVariants(vs[:0], appendKey(key[:0], k), b.m.maxDistance) {
			c := change{hash: mix(v), ident: k}
			p := b.pending(ksFuzzy, c.hash)
			if has {
				c.off = uint32(len(p.arena))
				p.arena = append(p.arena, byte(2+uvarintLen(k)), 0, 0) // length, list 0
				p.arena = binary.AppendUvarint(p.arena, k)
				c.n = uint32(len(p.arena)) - c.off
			}
			p.chs = append(p.chs, c)
		}
	}
}

// hasFuzzy reports whether ks, a canon keyspace, has an entry of a Fuzzy
// list with canonical key code k.
func (m *Matcher) hasFuzzy(ks *keyspace, k uint64) bool {
	s, sp := ks.find(mix(k))
	for i := sp.start; i < sp.end; i++ {
		if m.lists[binary.BigEndian.Uint16(s.record(i))].mode == Fuzzy {
			return true
		}
	}
	return false
}

func uvarintLen(x uint64) int { return len(binary.AppendUvarint(nil, x)) }
