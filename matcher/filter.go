package matcher

import (
	"math/bits"
	"unsafe"
)

// A variantFilter is a bloom filter in front of the table of a shard of
// the fuzzy keyspace, register-blocked: each key sets filterBits bits of
// one 64-bit word. A fuzzy read probes 1+n deletion variants (n its
// length, at distance 1), nearly all of them absent; at 1e6 entries their
// table buckets are DRAM accesses, while the filters (filterBitsPerKey
// bits per variant, about 10 MB) mostly stay in the last-level cache, and
// a probe reads one word, which matchGroup touches ahead as it does table
// buckets. With 10 bits per key and 4 bits set, 1.8 % of absent keys pass
// (Poisson-loaded words); the table confirms them.
//
// The filters of the bits-and-blooms package (Options.Bloom) read k words
// at random per probe and hash again; this one reuses the key hash.
type variantFilter struct {
	words []uint64 // never empty, so that a probe needs no check
}

// filterBitsPerKey is the size of a variantFilter per key, in bits.
const filterBitsPerKey = 10

func newVariantFilter(n int) variantFilter {
	return variantFilter{words: make([]uint64, max(1, (n*filterBitsPerKey+63)/64))}
}

// word returns the index of the word of hash h. The bits of h that choose
// the shard (its top bits) and the table bucket are scrambled by an odd
// multiplier first, so that the words of a shard are used evenly.
func (f *variantFilter) word(h uint64) uint64 {
	hi, _ := bits.Mul64(h*0x9e3779b97f4a7c15, uint64(len(f.words)))
	return hi
}

// mask returns the bits that h sets in its word: four 6-bit fields of
// its low 24 bits.
func filterMask(h uint64) uint64 {
	return 1<<(h&63) | 1<<(h>>6&63) | 1<<(h>>12&63) | 1<<(h>>18&63)
}

func (f *variantFilter) add(h uint64) { f.words[f.word(h)] |= filterMask(h) }

// has reports whether h may have been added: false means it was not.
func (f *variantFilter) has(h uint64) bool {
	m := filterMask(h)
	return f.words[f.word(h)]&m == m
}

// prefetch starts loading the word of h.
func (f *variantFilter) prefetch(h uint64) { prefetch(unsafe.Pointer(&f.words[f.word(h)])) }
