package matcher

import (
	"math/bits"
	"unsafe"
)

// A variantFilter is a bloom filter in front of the table of a shard of
// the fuzzy keyspace, register-blocked: each key sets four bits of one
// 64-bit word. A fuzzy read probes 1+n deletion variants (n its length,
// at distance 1), nearly all of them absent. A probe of the filter reads
// one word, which matchGroup prefetches as soon as the hash is made, and
// the filters are a tenth of the size of the tables (10 bits per variant
// against 8-byte slots at most three quarters full: 10 MB against 128 MB
// at 1e6 entries at distance 1), so they more often stay in cache;
// only the variants that pass reach the table, whose lookup costs more
// instructions. With 10 bits per key, 1.8 % of absent keys pass
// (Poisson-loaded words; 8 bits: 3.3 %, 12 bits: 1.1 %). At 1e6 entries
// the filters took about a third off a check (BenchmarkMatchFuzzy, with
// prefetching either way).
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

// filterMask returns the bits that h sets in its word: four 6-bit fields of
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
