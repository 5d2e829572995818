package matcher

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/bits-and-blooms/bloom/v3"

	"github.com/anpr/anpr/plate"
)

// ErrUnknownList is the error, wrapped, of an entry or change naming a list
// the Matcher was not created with.
var ErrUnknownList = errors.New("unknown list")

// Change is one update for Apply: an upsert of Entry or, with Delete, the
// removal of the entry identified by Entry.List and Entry.Plate (the other
// fields are ignored), as a record and a tombstone of the anpr.hotlists
// topic.
type Change struct {
	Delete bool
	Entry  Entry
}

// change is a posting to put into a keyspace or delete from it.
type change struct {
	hash   uint64
	ident  uint64 // see record.go
	seq    uint32 // order given: of changes to the same posting the last wins
	off, n uint32 // the length-prefixed record in its pending arena; n == 0 deletes
	list   uint16
}

func (c *change) del() bool { return c.n == 0 }

// compareChanges orders changes by posting (hash, list, ident), then seq.
func compareChanges(a, b change) int {
	if c := cmp.Compare(a.hash, b.hash); c != 0 {
		return c
	}
	if c := cmp.Compare(a.list, b.list); c != 0 {
		return c
	}
	if c := cmp.Compare(a.ident, b.ident); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// batch collects the changes of one Load or Apply, per keyspace and shard,
// so that each shard's changes are sorted and merged on their own, in
// parallel and within a cache-sized arena. Only the goroutine holding
// Matcher.loadMu uses it.
type batch struct {
	m       *Matcher
	pend    [numKeyspaces][]pending // per shard once used
	fuzzy   []uint64                // canonical key codes of changed Fuzzy entries
	scratch []byte                  // a record being built
}

// pending holds the changes to one shard.
type pending struct {
	chs   []change
	arena []byte // length-prefixed records of the upserts
}

// pending returns the changes to the shard of keyspace k that h falls in.
func (b *batch) pending(k int, h uint64) *pending {
	if b.pend[k] == nil {
		b.pend[k] = make([]pending, b.m.shards)
	}
	return &b.pend[k][shardOf(h, b.m.shards)]
}

// reserve sizes the pending changes of keyspace k for n changes of size
// bytes of records in all, spread evenly over the shards by the hash, so
// that a large Load does not grow them step by step.
func (b *batch) reserve(k, n, size int) {
	b.pend[k] = make([]pending, b.m.shards)
	per := func(x int) int { return x/b.m.shards + x/b.m.shards/16 + 64 }
	for s := range b.pend[k] {
		b.pend[k][s] = pending{chs: make([]change, 0, per(n)), arena: make([]byte, 0, per(size))}
		adviseHuge(b.pend[k][s].arena) // mergeShard reads it at random
	}
}

// recordSize estimates the size of the record of e.
func recordSize(e *Entry) int { return 24 + len(e.Reference) + len(e.Reason) }

// add validates e and adds its upsert or deletion; an error names the
// field at fault, never the plate.
func (b *batch) add(e *Entry, del bool, seq int) error {
	li, ok := b.m.byName[e.List]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownList, e.List)
	}
	var norm, field, reason string
	if del {
		var ok bool
		if norm, ok = plate.Normalize(e.Plate); !ok {
			field, reason = "plate", "does not normalize to 2..12 characters A-Z 0-9"
		}
	} else {
		norm, field, reason = e.Check()
	}
	if field != "" {
		return fmt.Errorf("list %q: %s: %s", e.List, field, reason)
	}
	code, _ := keyCode(norm)
	c := change{seq: uint32(seq), list: li, hash: mix(code)}
	k := ksExact
	if b.m.lists[li].mode != Exact {
		k = ksCanon
		var buf [plate.MaxLen]byte
		canon, _ := keyCode(b.m.ocr.AppendCanonical(buf[:0], norm))
		c.hash, c.ident = mix(canon), code
		if b.m.lists[li].mode == Fuzzy {
			b.fuzzy = append(b.fuzzy, canon)
		}
	}
	p := b.pending(k, c.hash)
	if !del {
		b.scratch = b.m.strs.appendRecord(b.scratch[:0], li, c.ident, e)
		c.off = uint32(len(p.arena))
		p.arena = binary.AppendUvarint(p.arena, uint64(len(b.scratch)))
		p.arena = append(p.arena, b.scratch...)
		c.n = uint32(len(p.arena)) - c.off
	}
	p.chs = append(p.chs, c)
	return nil
}

// apply returns a new index: base with the batch's changes.
func (b *batch) apply(base *index) (*index, error) {
	ix := &index{counts: slices.Clone(base.counts), strs: b.m.strs.strs}
	ix.ks = base.ks
	for k := range ix.ks {
		ix.ks[k].shards = slices.Clone(base.ks[k].shards)
	}
	for _, k := range []int{ksExact, ksCanon} {
		if err := b.m.mergeKeyspace(&ix.ks[k], b.pend[k], ix.counts, false); err != nil {
			return nil, err
		}
	}
	b.fuzzyChanges(&base.ks[ksCanon], &ix.ks[ksCanon])
	if err := b.m.mergeKeyspace(&ix.ks[ksFuzzy], b.pend[ksFuzzy], nil, true); err != nil {
		return nil, err
	}
	return ix, nil
}

// mergeKeyspace applies pend, the changes per shard, to the shards of ks,
// in parallel on up to GOMAXPROCS goroutines, and adjusts counts (when not
// nil) by the entries added and removed per list. fuzzy tells that ks is
// the fuzzy keyspace.
func (m *Matcher) mergeKeyspace(ks *keyspace, pend []pending, counts []int, fuzzy bool) error {
	type task struct {
		shard int
		out   *shard
		delta map[uint16]int
		err   error
	}
	var tasks []*task
	for s := range pend {
		if len(pend[s].chs) > 0 {
			tasks = append(tasks, &task{shard: s})
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(tasks)) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(tasks)); i = next.Add(1) - 1 {
				t := tasks[i]
				p := &pend[t.shard]
				t.out, t.delta, t.err = m.mergeShard(ks.shards[t.shard], lastChanges(p.chs, len(ks.shards)), p.arena, len(ks.shards), fuzzy)
			}
		})
	}
	wg.Wait()
	for _, t := range tasks {
		if t.err != nil {
			return t.err
		}
		ks.size += len(t.out.hashes) - len(ks.shards[t.shard].hashes)
		ks.shards[t.shard] = t.out
		for li, d := range t.delta {
			if counts != nil {
				counts[li] += d
			}
		}
	}
	return nil
}

// lastChanges sorts chs, the changes to one shard of nshards, by posting
// and keeps the last change to each.
func lastChanges(chs []change, nshards int) []change {
	chs = sortChanges(chs, nshards)
	kept := chs[:0]
	for j, c := range chs {
		if j+1 < len(chs) && chs[j+1].hash == c.hash && chs[j+1].list == c.list && chs[j+1].ident == c.ident {
			continue
		}
		kept = append(kept, c)
	}
	return kept
}

// sortChanges returns chs, the changes to one shard of nshards, sorted by
// compareChanges. A large batch (a Load) is first distributed by the top
// bits of the hash within the shard, which are uniform, into buckets of a
// few changes each, which are then sorted: about five times faster than
// sorting it whole.
func sortChanges(chs []change, nshards int) []change {
	const perBucket = 4
	b := bits.Len(uint(len(chs) / perBucket))
	if b < 8 {
		slices.SortFunc(chs, compareChanges)
		return chs
	}
	b = min(b, 20)
	bucket := func(c *change) uint64 { return c.hash * uint64(nshards) >> (64 - b) } // as table.home
	ends := make([]int, 1<<b+1)
	for i := range chs {
		ends[bucket(&chs[i])+1]++
	}
	for i := 1; i < len(ends); i++ {
		ends[i] += ends[i-1]
	}
	out := make([]change, len(chs))
	next := slices.Clone(ends[:len(ends)-1])
	for i := range chs {
		k := bucket(&chs[i])
		out[next[k]] = chs[i]
		next[k]++
	}
	for i := range len(ends) - 1 {
		if ends[i+1]-ends[i] > 1 {
			slices.SortFunc(out[ends[i]:ends[i+1]], compareChanges)
		}
	}
	return out
}

// mergeShard returns a new shard: old with chs, which are sorted and
// distinct postings whose length-prefixed records are in src, applied;
// and the number of entries added (removed when negative) per list. The
// postings are rewritten; records are appended to the arena shared with
// old, which is compacted once its garbage exceeds a quarter of its live
// records (and a chunk), so that memory stays within 25 % of a fresh Load
// at a cost amortized over many changes. A shard of the fuzzy keyspace
// (fuzzy) gets a variantFilter instead of the optional bloom filter.
func (m *Matcher) mergeShard(old *shard, chs []change, src []byte, nshards int, fuzzy bool) (*shard, map[uint16]int, error) {
	n := len(old.hashes) + len(chs)
	s := &shard{hashes: make([]uint64, 0, n), refs: make([]uint32, 0, n), arena: old.arena.clone()}
	delta := make(map[uint16]int)
	run := 0 // old postings [run, i) are still to be copied
	copyRun := func(i int) {
		s.hashes = append(s.hashes, old.hashes[run:i]...)
		s.refs = append(s.refs, old.refs[run:i]...)
		run = i
	}
	i := 0
	var touched byte
	for j, c := range chs {
		// Records are read in hash order, at random in src: load the one
		// lookAhead changes on so that its cache miss overlaps the work
		// until then (see matchGroup).
		if j+lookAhead < len(chs) && !chs[j+lookAhead].del() {
			touched += src[chs[j+lookAhead].off]
		}
		// Skip to the first old posting of c's hash or beyond, by binary
		// search: a small batch touches few postings of a large shard.
		k, _ := slices.BinarySearch(old.hashes[i:], c.hash)
		for i += k; i < len(old.hashes) && comparePosting(old, uint32(i), &c) < 0; i++ {
		}
		copyRun(i)
		if i < len(old.hashes) && comparePosting(old, uint32(i), &c) == 0 {
			s.arena.live -= len(old.arena.raw(old.refs[i]))
			i++ // replaced or deleted
			run = i
			delta[c.list]--
		}
		if !c.del() {
			ref, err := s.arena.add(src[c.off : c.off+c.n])
			if err != nil {
				return nil, nil, err
			}
			s.hashes = append(s.hashes, c.hash)
			s.refs = append(s.refs, ref)
			delta[c.list]++
		}
	}
	copyRun(len(old.hashes))
	s.touched = touched
	if len(s.hashes) == 0 {
		return emptyShard, delta, nil
	}
	if garbage := s.arena.size - s.arena.live; garbage > s.arena.live/4+chunkSize {
		if err := s.compact(); err != nil {
			return nil, nil, err
		}
	}

	distinct := 0
	for j, h := range s.hashes {
		if j == 0 || s.hashes[j-1] != h {
			distinct++
		}
	}
	s.keys = newTable(distinct, nshards)
	if fuzzy {
		s.vf = newVariantFilter(distinct)
	} else if m.bloom {
		s.filter = bloom.NewWithEstimates(uint(distinct), bloomFP)
	}
	var b [8]byte
	for j, h := range s.hashes {
		if j > 0 && s.hashes[j-1] == h {
			continue
		}
		s.keys.put(h, uint32(j)) // in hash order: a sweep through the table
		if fuzzy {
			s.vf.add(h)
		}
		if s.filter != nil {
			binary.LittleEndian.PutUint64(b[:], h)
			s.filter.Add(b[:])
		}
	}
	return s, delta, nil
}

// compact copies the records of s, which is not published yet, into a new
// arena of its own, in posting order.
func (s *shard) compact() error {
	var a arena
	for i, ref := range s.refs {
		var err error
		if s.refs[i], err = a.add(s.arena.raw(ref)); err != nil {
			return err
		}
	}
	s.arena = a
	return nil
}

// lookAhead is how many records ahead mergeShard touches.
const lookAhead = 16

// comparePosting compares posting i of s with c by (hash, list, ident).
func comparePosting(s *shard, i uint32, c *change) int {
	if r := cmp.Compare(s.hashes[i], c.hash); r != 0 {
		return r
	}
	rec := s.record(i)
	if r := cmp.Compare(binary.BigEndian.Uint16(rec), c.list); r != 0 {
		return r
	}
	ident, _ := binary.Uvarint(rec[2:])
	return cmp.Compare(ident, c.ident)
}
