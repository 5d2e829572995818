package matcher

import (
	"encoding/binary"
	"math/bits"
	"unsafe"

	"github.com/bits-and-blooms/bloom/v3"
)

// bloomFP is the false-positive rate of the per-shard bloom filters.
const bloomFP = 0.001

// Keyspaces of an index, in the order Match reports their hits.
const (
	ksExact = iota // entries of Exact lists, keyed by the normalized plate
	ksCanon        // entries of OCR and Fuzzy lists, keyed by the OCR canonical form
	ksFuzzy        // deletion variants of the canonical forms of Fuzzy entries (fuzzy.go)
	numKeyspaces
)

// index is one immutable generation of loaded entries. Nothing reachable
// from it is written after it is published, which is what lets Match read
// it without locks; the next generation shares the shards that did not
// change (copy on write).
type index struct {
	ks     [numKeyspaces]keyspace
	counts []int    // loaded entries per list, in New order
	strs   []string // the interner's strings as of this generation
}

// keyspace maps the hash of a key to postings (entries, or candidate keys
// in the fuzzy keyspace) with that key. It is split into shards by hash
// range (shardOf), each immutable.
type keyspace struct {
	shards []*shard
	size   int // postings in all shards; 0 means skip the keyspace entirely
}

// shard holds the postings of a hash range, sorted by (hash, list,
// ident), each a record (record.go) in arena.
type shard struct {
	keys   table              // key hash → position of its first posting
	hashes []uint64           // hashes[i] is the key hash of posting i
	refs   []uint32           // refs[i] is the record of posting i in arena
	arena  arena              // the records, shared with other generations
	filter *bloom.BloomFilter // nil unless Options.Bloom, and in the fuzzy keyspace
	vf     variantFilter      // of every key, in the fuzzy keyspace only

	touched byte // stored only so that mergeShard's look-ahead loads stay
}

// span is the postings [start, end) of a shard.
type span struct{ start, end uint32 }

// emptyShard is the shard of an empty hash range, shared by all keyspaces.
var emptyShard = &shard{keys: newTable(0, 1), vf: newVariantFilter(0)}

func newIndex(nlists, nshards int) *index {
	ix := &index{counts: make([]int, nlists), strs: []string{""}}
	for k := range ix.ks {
		ix.ks[k].shards = make([]*shard, nshards)
		for s := range ix.ks[k].shards {
			ix.ks[k].shards[s] = emptyShard
		}
	}
	return ix
}

// shardOf maps h to 0..n-1 by multiply-shift, which is monotonic in h:
// postings sorted by hash are also sorted by shard.
func shardOf(h uint64, n int) int {
	hi, _ := bits.Mul64(h, uint64(n))
	return int(hi)
}

func (ks *keyspace) shardOf(h uint64) *shard { return ks.shards[shardOf(h, len(ks.shards))] }

// touch loads a word of the first bucket that a lookup of h reads and
// returns it. matchGroup calls it for many reads in a row, so that their
// cache and TLB misses are in flight together before find needs them.
func (ks *keyspace) touch(h uint64) uint32 {
	t := &ks.shardOf(h).keys
	return t.buckets[t.home(h)][0].ref
}

// prefetch starts loading the first bucket that a lookup of h reads.
func (ks *keyspace) prefetch(h uint64) {
	t := &ks.shardOf(h).keys
	prefetch(unsafe.Pointer(&t.buckets[t.home(h)]))
}

// find returns the shard and span of the postings whose key hashes to h.
func (ks *keyspace) find(h uint64) (*shard, span) {
	s := ks.shardOf(h)
	if s.filter != nil {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], h)
		if !s.filter.Test(b[:]) {
			return s, span{}
		}
	}
	start, ok := s.keys.get(h, s.hashes)
	if !ok {
		return s, span{}
	}
	end := start + 1
	for int(end) < len(s.hashes) && s.hashes[end] == h {
		end++
	}
	return s, span{start: start, end: end}
}

func (s *shard) record(i uint32) []byte { return s.arena.record(s.refs[i]) }
