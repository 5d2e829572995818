package matcher

import "unsafe"

// table is an immutable open-addressing hash table from the 64-bit hash
// of a key to the position of the key's first entry in its shard, whose
// hashes array holds every entry's full hash. It replaces a Go map
// on the match path because a miss, the common case, then costs one cache
// line, where a Go map reads a directory, a table header and a group (at
// 1e7 keys a map[uint64]span took 170–280 ns of CPU per lookup, a table
// with 16-byte slots 95–210 ns; both bound by the DRAM access and its TLB
// miss).
//
// A slot keeps 32 bits of the hash and a 32-bit position, so a 64-byte
// bucket holds eight: against slots of a full hash and a span, the tables
// are half the size and a miss less often has to read a second bucket
// (with four slots per bucket at the usual load, about one bucket in
// three is full). A fingerprint that matches is confirmed against the
// full hash in hashes before it counts, so two keys that share the 32
// bits never hide each other; a confirmation costs a second cache miss,
// about once in 10⁸ misses.
type table struct {
	buckets []bucket
	mask    uint64 // len(buckets) - 1, a power of two minus one
	mul     uint64 // the keyspace's number of shards (see home)
	shift   uint8  // 64 - log2(len(buckets))
}

// bucket is one cache line.
type bucket [8]slot

// slot is a key: fp is the low half of its hash, ref 1 + the position of
// its first entry; ref 0 is an empty slot. Bucket indexes use the high
// bits of the hash (see home), so the fingerprint is independent of them.
type slot struct{ fp, ref uint32 }

func fingerprint(h uint64) uint32 { return uint32(h) }

// maxLoad bounds the share of occupied slots, keeping probe sequences
// short.
const maxLoad = 0.75

// hugePage is the size of a transparent huge page on amd64 and arm64
// (with 4 KiB base pages).
const hugePage = 2 << 20

// newTable returns a table sized for n keys of a shard of a keyspace of
// shards shards. From one huge page on, its buckets are advised to use
// huge pages (adviseHuge): at ten million entries the tables of a
// keyspace span 128 MB, far beyond what the TLB maps with 4 KiB pages.
func newTable(n, shards int) table {
	nb, shift := 1, uint8(64)
	for float64(nb*len(bucket{}))*maxLoad < float64(n) {
		nb *= 2
		shift--
	}
	t := table{buckets: make([]bucket, nb), mask: uint64(nb - 1), mul: uint64(shards), shift: shift}
	if nb*int(unsafe.Sizeof(bucket{})) >= hugePage {
		adviseHuge(t.buckets)
	}
	return t
}

// home is the index of the first bucket that h probes. The keyspace's
// shard of h is the high word of h × shards (shardOf), the low word the
// position of h within its shard, whose top bits are the bucket index.
// Both are monotonic in h, so a shard whose keys are put in hash order
// fills its table front to back, a sequential sweep rather than a random
// write per key.
func (t *table) home(h uint64) uint64 { return h * t.mul >> t.shift }

// put adds the key of hash h, which must not be in t yet, whose first
// entry is at position pos (< 1<<32 - 1).
func (t *table) put(h uint64, pos uint32) {
	for i := t.home(h); ; i = (i + 1) & t.mask {
		b := &t.buckets[i]
		for j := range b {
			if b[j].ref == 0 {
				b[j] = slot{fp: fingerprint(h), ref: pos + 1}
				return
			}
		}
	}
}

// get returns the position of the first entry of the key of hash h;
// hashes[i] is the hash of entry i. It reads every slot of a bucket
// without an early exit, which keeps its branches predictable on a miss.
func (t *table) get(h uint64, hashes []uint64) (uint32, bool) {
	fp := fingerprint(h)
	for i := t.home(h); ; i = (i + 1) & t.mask {
		b := &t.buckets[i]
		for j := range b {
			if b[j].fp == fp && b[j].ref != 0 && hashes[b[j].ref-1] == h {
				return b[j].ref - 1, true
			}
		}
		if b[len(b)-1].ref == 0 { // not full: h would have been placed here
			return 0, false
		}
	}
}
