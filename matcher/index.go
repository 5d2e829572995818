package matcher

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/cespare/xxhash/v2"

	"github.com/anpr/anpr/plate"
)

// bloomFP is the false-positive rate of the per-shard bloom filters.
const bloomFP = 0.001

// index is one immutable generation of loaded entries. Nothing in it is
// written after build returns, which is what lets Match read it without
// locks.
type index struct {
	exact  keyspace // entries of Exact lists, keyed by the normalized plate
	canon  keyspace // entries of OCR (and, for now, Fuzzy) lists, keyed by the OCR canonical form
	counts []int    // loaded entries per list, in New order
}

// keyspace maps the 64-bit hash of a key to the entries with that key.
// Entries are stored grouped by hash so a lookup yields a contiguous span.
// A fuzzy keyspace (deletion variants of canonical keys) will sit beside
// these two.
type keyspace struct {
	shards []shard
	recs   []Entry  // grouped by key hash, lists in New order within a group
	hashes []uint64 // hashes[i] is the key hash of recs[i]
	lists  []uint16 // lists[i] is the list index of recs[i]
	size   int      // len(recs); 0 means skip the keyspace entirely
	canon  bool     // keys are OCR canonical forms: OCR.Same verifies a candidate
}

type shard struct {
	keys   table              // key hash → position of its first entry in recs
	filter *bloom.BloomFilter // nil unless Options.Bloom
}

type span struct{ start, n uint32 }

func hashString(s string) uint64 { return xxhash.Sum64String(s) }
func hashBytes(b []byte) uint64  { return xxhash.Sum64(b) }

// shardOf maps h to 0..n-1 by multiply-shift, which is monotonic in h:
// entries sorted by hash are also sorted by shard.
func shardOf(h uint64, n int) int { return int((h >> 32) * uint64(n) >> 32) }

// touch loads a word of the first bucket that a lookup of h reads and
// returns it. matchGroup calls it for many reads in a row, so that their
// cache and TLB misses are in flight together before find needs them.
func (ks *keyspace) touch(h uint64) uint32 {
	t := &ks.shards[shardOf(h, len(ks.shards))].keys
	return t.buckets[t.home(h)][0].ref
}

// find returns the span of entries whose key hashes to h.
func (ks *keyspace) find(h uint64) (span, bool) {
	s := &ks.shards[shardOf(h, len(ks.shards))]
	if s.filter != nil {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], h)
		if !s.filter.Test(b[:]) {
			return span{}, false
		}
	}
	start, ok := s.keys.get(h, ks.hashes)
	if !ok {
		return span{}, false
	}
	end := start + 1
	for int(end) < len(ks.hashes) && ks.hashes[end] == h {
		end++
	}
	return span{start: start, n: end - start}, true
}

// collect appends the hits of the entries in sp that r matches. The hash
// only selected candidates: the plate itself is compared here.
func (m *Matcher) collect(ks *keyspace, sp span, r *plate.Read, now time.Time, dst []Hit) []Hit {
	for i := sp.start; i < sp.start+sp.n; i++ {
		e := &ks.recs[i]
		match := Exact
		if e.Plate != r.PlateNorm {
			if !ks.canon || !m.ocr.Same(e.Plate, r.PlateNorm) {
				continue // hash collision
			}
			match = OCR
		}
		if !e.validAt(r.TS) || !countriesAgree(e.Country, r.Country) {
			continue
		}
		l := m.lists[ks.lists[i]]
		l.hits.Inc()
		dst = append(dst, Hit{
			ID:         HitID(r.ReadID, l.name, e.Plate),
			Read:       *r,
			List:       l.name,
			Entry:      *e,
			Match:      match,
			Covert:     l.covert || e.Covert,
			DetectedAt: now,
			list:       l,
		})
	}
	return dst
}

func (e *Entry) validAt(ts time.Time) bool {
	return (e.ValidFrom.IsZero() || !ts.Before(e.ValidFrom)) &&
		(e.ValidUntil.IsZero() || ts.Before(e.ValidUntil))
}

func countriesAgree(a, b string) bool {
	return a == "" || b == "" || strings.EqualFold(a, b)
}

// buildKey locates one entry during build.
type buildKey struct {
	hash  uint64
	plate string // normalized
	i     uint32 // position in the entries given to Load
	list  uint16
	canon bool // keyspace: false exact, true canon
}

// compareKeys orders keys by keyspace, hash, list, plate and position.
func compareKeys(a, b buildKey) int {
	switch {
	case a.canon != b.canon:
		if a.canon {
			return 1
		}
		return -1
	case a.hash != b.hash:
		return cmp.Compare(a.hash, b.hash)
	case a.list != b.list:
		return cmp.Compare(a.list, b.list)
	case a.plate != b.plate: // a hash collision, or the same plate twice
		return strings.Compare(a.plate, b.plate)
	}
	return cmp.Compare(a.i, b.i)
}

// build validates and normalizes entries and returns a new index.
func (m *Matcher) build(entries []Entry) (*index, error) {
	if len(entries) > 1<<32-1 {
		return nil, fmt.Errorf("%d entries: at most %d", len(entries), 1<<32-1)
	}
	keys := make([]buildKey, 0, len(entries))
	var buf [plate.MaxLen]byte
	for i := range entries {
		e := &entries[i]
		li, ok := m.byName[e.List]
		if !ok {
			return nil, fmt.Errorf("entry %d: unknown list %q", i, e.List)
		}
		norm, field, reason := e.check()
		if field != "" {
			return nil, fmt.Errorf("entry %d (list %q): %s: %s", i, e.List, field, reason)
		}
		k := buildKey{plate: norm, i: uint32(i), list: li}
		if m.lists[li].mode == Exact {
			k.hash = hashString(norm)
		} else {
			k.canon = true
			k.hash = hashBytes(m.ocr.AppendCanonical(buf[:0], norm))
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	// Of entries with the same list and plate keep the last given, which
	// sorts last.
	kept := keys[:0]
	for j, k := range keys {
		if j+1 < len(keys) && keys[j+1].hash == k.hash && keys[j+1].canon == k.canon &&
			keys[j+1].list == k.list && keys[j+1].plate == k.plate {
			continue
		}
		kept = append(kept, k)
	}
	keys = kept

	ix := &index{counts: make([]int, len(m.lists))}
	for _, k := range keys {
		ix.counts[k.list]++
	}
	split, _ := slices.BinarySearchFunc(keys, true, func(k buildKey, _ bool) int {
		if k.canon {
			return 0
		}
		return -1
	})
	ix.exact = m.buildKeyspace(keys[:split], entries, false)
	ix.canon = m.buildKeyspace(keys[split:], entries, true)
	return ix, nil
}

// buildKeyspace copies the entries of keys, which are sorted by hash, into
// a new keyspace.
func (m *Matcher) buildKeyspace(keys []buildKey, entries []Entry, canon bool) keyspace {
	ks := keyspace{canon: canon, size: len(keys)}
	if len(keys) == 0 {
		return ks
	}
	ks.recs = make([]Entry, len(keys))
	ks.hashes = make([]uint64, len(keys))
	ks.lists = make([]uint16, len(keys))
	distinct := make([]int, m.shards)
	for j, k := range keys {
		if j == 0 || keys[j-1].hash != k.hash {
			distinct[shardOf(k.hash, m.shards)]++
		}
	}
	ks.shards = make([]shard, m.shards)
	tables := newTables(distinct)
	for s := range ks.shards {
		ks.shards[s].keys = tables[s]
		if m.bloom {
			ks.shards[s].filter = bloom.NewWithEstimates(uint(max(distinct[s], 1)), bloomFP)
		}
	}
	for j, k := range keys {
		e := entries[k.i]
		e.List = m.lists[k.list].name
		e.Plate = k.plate
		e.Country = strings.ToUpper(e.Country)
		ks.recs[j] = e
		ks.hashes[j] = k.hash
		ks.lists[j] = k.list
	}
	var b [8]byte
	for start := 0; start < len(keys); {
		h := keys[start].hash
		end := start + 1
		for end < len(keys) && keys[end].hash == h {
			end++
		}
		sh := &ks.shards[shardOf(h, m.shards)]
		sh.keys.put(h, uint32(start))
		if sh.filter != nil {
			binary.LittleEndian.PutUint64(b[:], h)
			sh.filter.Add(b[:])
		}
		start = end
	}
	return ks
}
