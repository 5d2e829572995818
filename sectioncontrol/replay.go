package sectioncontrol

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Replay. A Tracker's state is a function of the reads it observed and of
// its marks (idle flushes, evictions). To rebuild it after a restart, the
// engine replays the partition from an offset S: every read the Tracker
// still holds, and every read of the entry cluster of each current entry
// (a member may fix where a cluster ends), has an offset ≥ S. The
// checkpoint carries the watermark state just before S, the marks at or
// after S, and the skips.
//
// Reads decided together (a cluster, a pair, an evicted state, a shield's
// stragglers) form a group. A group decided before the checkpoint with a
// read before S would, replayed from S in part, leave state the
// checkpointed Tracker does not have (an exit whose entry lies before S is
// an unmatched exit again; an entry cluster's later reads make a new
// entry). Its reads at or after S are the skips: the replay feeds them to
// the watermark only. S does not have to wait for such groups, so under
// continuous traffic it trails the oldest held read, about max_travel
// behind; the skips are about the vehicles that were inside a section at S.
// Groups wholly at or after S replay as they were decided, and groups
// wholly before it are gone: a plate's decisions in a section depend on
// its clusters in time order, and what a decided group leaves behind is
// no entry awaiting its exit, nothing a later group depends on.
//
// Reads are counted live in segments: runs of offsets within one aligned
// block of 1<<segShift offsets (a Tracker field: tests make it 0), each with
// the watermark state just before its first held read. A current entry
// counts in the segment of the earliest read of its cluster (ev.pin), and a
// held route violation (route.go) in that of the earliest read of its pair,
// so a replay rebuilds them. Shields (flush.go) are not counted: they are
// in the checkpoint, since the groups they guard may be skips. A decided
// read in a later segment than its group's earliest is recorded in that
// earliest segment (dec), and becomes a skip when that segment is popped
// (S passed it). Segments before S are popped, so a checkpoint costs a
// pass over the segments and the skips, not over the pending state.

const defaultSegShift = 12

type segment struct {
	block   int64 // offset >> segShift
	start   int64 // offset of the first read held in it
	live    int64 // reads held counting in it
	maxSeen int64 // watermark state just before start
	seen    bool
	dec     []skip // reads of groups decided whose earliest segment is this one, in later segments
}

// skip is a read that a replay does not feed to section sec (a member of a
// group decided with a read before S).
type skip struct {
	off int64
	sec int
}

// entryKey is a current entry of section sec, by its offset.
type entryKey struct {
	sec int
	off int64
}

type markKind uint8

const (
	markFlush markKind = 1 + iota // section sec was flushed at watermark v
	markEvict                     // section sec's state of plate v was evicted
)

// mark is an event that is not a function of the reads: it happened after
// the read at off and before the next one.
type mark struct {
	off  int64
	sec  int
	kind markKind
	v    int64
}

type replay struct {
	segs     []segment
	marks    []mark
	next     int    // marks[:next] are applied
	end      int64  // while replaying, the checkpoint's next offset C; else MinInt64
	restored []byte // the checkpoint restored, while replaying
	skips    []skip // at or after from; while replaying, sorted, skips[nextSkip:] ahead
	nextSkip int
	from     int64    // S at the last trim
	free     [][]skip // dec slices to reuse
	// Open groups (see decided), unused ones in freeGroups.
	groups     [][]skip
	gmins      []int64
	freeGroups []int32
	cur        map[entryKey]int32
	shields    []keptShield // those of the checkpoint restored, while replaying
}

func (t *Tracker) replaying() bool { return t.nextOff < t.rp.end }

// segAdd counts a read at off, held from now on.
func (t *Tracker) segAdd(off int64) {
	b := off >> t.segShift
	if n := len(t.rp.segs); n == 0 || t.rp.segs[n-1].block != b {
		var dec []skip
		if n := len(t.rp.free); n > 0 {
			dec, t.rp.free = t.rp.free[n-1], t.rp.free[:n-1]
		}
		t.rp.segs = append(t.rp.segs, segment{block: b, start: off, maxSeen: t.maxSeen, seen: t.seen, dec: dec})
	}
	t.rp.segs[len(t.rp.segs)-1].live++
}

func (t *Tracker) segInc(block int64) { t.seg(block).live++ }
func (t *Tracker) segDec(block int64) { t.seg(block).live-- }

// decided records that the read at off left section sec in a group whose
// earliest read is in segment gmin: replays from after gmin skip it. The
// record waits in the latest segment at or before gmin (a replay builds no
// segment of reads it skipped), or is a skip if S is past gmin already (an
// open group's, a restored shield's).
func (t *Tracker) decided(off int64, sec int, gmin int64) {
	segs := t.rp.segs
	switch {
	case off>>t.segShift <= gmin:
	case len(segs) == 0 || gmin < segs[0].block:
		if off >= t.rp.from {
			t.rp.skips = append(t.rp.skips, skip{off: off, sec: sec})
		}
	default:
		i := t.segAt(gmin)
		segs[i].dec = append(segs[i].dec, skip{off: off, sec: sec})
	}
}

// Open groups. A group that may still grow keeps its reads in groups[g]
// and the earliest segment of one in gmins[g]: the group of a current
// entry with more than its own read (its cluster's later reads, and the
// entries it replaced, whose decisions its arrival took), keyed in cur by
// the entry, and the group of a held route violation (its pair's reads
// until its traversal is decided).

func (t *Tracker) newGroup() int32 {
	if n := len(t.rp.freeGroups); n > 0 {
		g := t.rp.freeGroups[n-1]
		t.rp.freeGroups = t.rp.freeGroups[:n-1]
		t.rp.gmins[g] = math.MaxInt64
		return g
	}
	t.rp.groups = append(t.rp.groups, nil)
	t.rp.gmins = append(t.rp.gmins, math.MaxInt64)
	return int32(len(t.rp.groups) - 1)
}

// addRead adds the read at off of section sec, live in segment seg, to
// open group g.
func (t *Tracker) addRead(g int32, off int64, sec int, seg int64) {
	t.rp.groups[g] = append(t.rp.groups[g], skip{off: off, sec: sec})
	t.rp.gmins[g] = min(t.rp.gmins[g], seg)
}

// mergeGroup moves the reads of open group src into dst.
func (t *Tracker) mergeGroup(dst, src int32) {
	t.rp.groups[dst] = append(t.rp.groups[dst], t.rp.groups[src]...)
	t.rp.gmins[dst] = min(t.rp.gmins[dst], t.rp.gmins[src])
	t.freeGroup(src)
}

// finishGroup records the reads of open group g as decided in a group
// whose earliest segment is gmin, and frees g.
func (t *Tracker) finishGroup(g int32, gmin int64) {
	for _, sk := range t.rp.groups[g] {
		t.decided(sk.off, sk.sec, gmin)
	}
	t.freeGroup(g)
}

func (t *Tracker) freeGroup(g int32) {
	t.rp.groups[g] = t.rp.groups[g][:0]
	t.rp.freeGroups = append(t.rp.freeGroups, g)
}

// takeCur returns the open group of the current entry at off in section
// sec and forgets it, or -1.
func (t *Tracker) takeCur(sec int, off int64) int32 {
	if len(t.rp.cur) == 0 {
		return -1
	}
	k := entryKey{sec, off}
	g, ok := t.rp.cur[k]
	if !ok {
		return -1
	}
	delete(t.rp.cur, k)
	return g
}

func (t *Tracker) putCur(sec int, off int64, g int32) {
	if t.rp.cur == nil {
		t.rp.cur = map[entryKey]int32{}
	}
	t.rp.cur[entryKey{sec, off}] = g
}

// replaySkips reports whether the replay skips the read at off in section sec.
func (t *Tracker) replaySkips(off int64, sec int) bool {
	sk := t.rp.skips
	for t.rp.nextSkip < len(sk) && sk[t.rp.nextSkip].off < off {
		t.rp.nextSkip++
	}
	for j := t.rp.nextSkip; j < len(sk) && sk[j].off == off; j++ {
		if sk[j].sec == sec {
			return true
		}
	}
	return false
}

func (t *Tracker) seg(block int64) *segment {
	i := t.segAt(block)
	if i < 0 || t.rp.segs[i].block != block {
		panic(fmt.Sprintf("BUG: sectioncontrol: no replay segment for block %d", block))
	}
	return &t.rp.segs[i]
}

// segAt returns the index of the latest segment at or before block, or -1.
func (t *Tracker) segAt(block int64) int {
	segs := t.rp.segs
	// Segments are usually dense: try the direct index first.
	if n := int64(len(segs)); n > 0 {
		if i := min(block-segs[0].block, n-1); i >= 0 && segs[i].block == block {
			return int(i)
		}
	}
	i, _ := slices.BinarySearchFunc(segs, block+1, func(s segment, b int64) int { return cmp.Compare(s.block, b) })
	return i - 1
}

func (t *Tracker) record(m mark) {
	t.rp.marks = append(t.rp.marks, m)
	t.rp.next = len(t.rp.marks)
}

// applyMarks replays the recorded marks at offsets up to upTo.
func (t *Tracker) applyMarks(upTo int64) {
	for t.rp.next < len(t.rp.marks) && t.rp.marks[t.rp.next].off <= upTo {
		m := t.rp.marks[t.rp.next]
		t.rp.next++
		quiet := t.quiet
		t.quiet = m.off < t.rp.end
		switch m.kind {
		case markFlush:
			t.flush(m.sec, m.v)
		case markEvict:
			t.evictState(m.sec, plateKey(m.v))
		}
		t.quiet = quiet
	}
}

// trim finds S, drops the segments before it, turning their records into
// skips, and drops the skips and marks before S.
func (t *Tracker) trim() {
	segs := t.rp.segs
	k := 0
	for k < len(segs) && segs[k].live == 0 {
		k++
	}
	from := t.nextOff
	if k < len(segs) {
		from = segs[k].start
	}
	if from != t.rp.from {
		kept := t.rp.skips[:0]
		for _, sk := range t.rp.skips {
			if sk.off >= from {
				kept = append(kept, sk)
			}
		}
		// Open groups may keep reads before S: decided drops them.
		t.rp.skips, t.rp.from = kept, from
	}
	if k > 0 {
		for j := range segs[:k] {
			for _, sk := range segs[j].dec {
				if sk.off >= from {
					t.rp.skips = append(t.rp.skips, sk)
				}
			}
			if segs[j].dec != nil {
				t.rp.free = append(t.rp.free, segs[j].dec[:0])
			}
			segs[j].dec = nil
		}
		t.rp.segs = segs[k:]
	}
	k = 0
	for k < t.rp.next && t.rp.marks[k].off < from {
		k++
	}
	if k > 0 {
		t.rp.marks = slices.Delete(t.rp.marks, 0, k)
		t.rp.next -= k
	}
}

const checkpointVersion = 3

// Checkpoint appends to dst a checkpoint from which Restore rebuilds the
// Tracker's state: version 3 is the byte 3, then varints: S, the next
// offset C, seen (0/1), the newest capture time at S, the number of
// sections, each as its id (length, bytes), the number of marks, each as
// kind, offset, section index and value, the number of skips, each as its
// offset (less the previous skip's, or S for the first) and section index,
// the number of shields, each as section index, plate key, entry and exit
// watermarks and gmin. (Versions 1 and 2 had neither; they are refused.)
// Its size grows with the sections, the marks since S, the vehicles that
// were inside a section at S and the shields, not with the traffic since
// S. A Tracker that never observed a read has S = C = -1. Checkpoint
// while replaying returns the checkpoint restored.
func (t *Tracker) Checkpoint(dst []byte) []byte {
	if t.replaying() {
		return append(dst, t.rp.restored...)
	}
	t.trim()
	from, maxSeen, seen := t.nextOff, t.maxSeen, t.seen
	if len(t.rp.segs) > 0 {
		h := &t.rp.segs[0]
		from, maxSeen, seen = h.start, h.maxSeen, h.seen
	}
	dst = append(dst, checkpointVersion)
	dst = binary.AppendVarint(dst, from)
	dst = binary.AppendVarint(dst, t.nextOff)
	dst = binary.AppendVarint(dst, int64(b2i(seen)))
	dst = binary.AppendVarint(dst, maxSeen)
	dst = binary.AppendUvarint(dst, uint64(len(t.secs)))
	for _, s := range t.secs {
		dst = binary.AppendUvarint(dst, uint64(len(s.ID)))
		dst = append(dst, s.ID...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(t.rp.marks)))
	for _, m := range t.rp.marks {
		dst = append(dst, byte(m.kind))
		dst = binary.AppendVarint(dst, m.off)
		dst = binary.AppendUvarint(dst, uint64(m.sec))
		dst = binary.AppendVarint(dst, m.v)
	}
	dst = binary.AppendUvarint(dst, uint64(len(t.rp.skips)))
	prev := from
	for _, sk := range t.rp.skips {
		dst = binary.AppendVarint(dst, sk.off-prev)
		dst = binary.AppendUvarint(dst, uint64(sk.sec))
		prev = sk.off
	}
	n := 0
	for _, s := range t.secs {
		n += s.shields.len()
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	for i, s := range t.secs {
		for _, sl := range s.shields.slots {
			if sl.key != 0 {
				dst = binary.AppendUvarint(dst, uint64(i))
				dst = binary.AppendUvarint(dst, uint64(sl.key))
				dst = binary.AppendVarint(dst, sl.val.entryWM)
				dst = binary.AppendVarint(dst, sl.val.exitWM)
				dst = binary.AppendVarint(dst, sl.val.gmin)
			}
		}
	}
	return dst
}

// ErrCheckpoint reports a checkpoint Restore cannot use.
var ErrCheckpoint = errors.New("bad section control checkpoint")

// Restore loads checkpoint cp into a new Tracker (same config, nothing
// observed yet) and returns the offset S from which the caller must Observe
// every read of the partition, in order, as before (-1: no read was ever
// observed; start at the committed offset). Marks are applied as their
// offsets pass; decisions taken by reads before the checkpoint's next offset
// C were emitted before, and are dropped (a replay lacks the reads before S,
// so they might even differ). From C on, the Tracker decides exactly as the
// checkpointed one would have. A section of cp that is not in the config is
// ignored, with its marks. An unknown version or a malformed cp is an error
// wrapping ErrCheckpoint.
func (t *Tracker) Restore(cp []byte) (from int64, err error) {
	if t.nextOff != -1 || t.seen {
		return 0, fmt.Errorf("restore: the tracker has observed reads already")
	}
	d := decoder{b: cp}
	if v := d.byte(); v != checkpointVersion {
		return 0, fmt.Errorf("%w: version %d, want %d", ErrCheckpoint, v, checkpointVersion)
	}
	from, next := d.varint(), d.varint()
	seen, maxSeen := d.varint() != 0, d.varint()
	ids := map[string]int{}
	for i, s := range t.secs {
		ids[s.ID] = i
	}
	n := d.uvarint()
	idx := make([]int, 0, min(n, uint64(len(cp))))
	for range n {
		i, ok := ids[d.string()]
		if !ok {
			i = -1
		}
		idx = append(idx, i)
	}
	var marks []mark
	n = d.uvarint()
	for range n {
		m := mark{kind: markKind(d.byte()), off: d.varint()}
		sec, v := d.uvarint(), d.varint()
		if sec >= uint64(len(idx)) || m.kind != markFlush && m.kind != markEvict {
			d.fail()
		}
		if d.err == nil && idx[sec] >= 0 {
			m.sec, m.v = idx[sec], v
			marks = append(marks, m)
		}
	}
	var skips []skip
	n = d.uvarint()
	prev := from
	for range n {
		off, sec := prev+d.varint(), d.uvarint()
		prev = off
		if sec >= uint64(len(idx)) || off < from || off >= next {
			d.fail()
		}
		if d.err == nil && idx[sec] >= 0 {
			skips = append(skips, skip{off: off, sec: idx[sec]})
		}
	}
	var shields []keptShield
	n = d.uvarint()
	for range n {
		sec, key := d.uvarint(), plateKey(d.uvarint())
		sh := shield{entryWM: d.varint(), exitWM: d.varint(), gmin: d.varint()}
		if sec >= uint64(len(idx)) || key == 0 {
			d.fail()
		}
		if d.err == nil && idx[sec] >= 0 {
			shields = append(shields, keptShield{sec: idx[sec], key: key, sh: sh})
		}
	}
	if d.err == nil && (len(d.b) != 0 || next < from || from < -1) {
		d.fail()
	}
	if d.err != nil {
		return 0, fmt.Errorf("restore: %w", d.err)
	}
	if from == -1 {
		return -1, nil
	}
	t.seen, t.maxSeen = seen, maxSeen
	t.rp.marks, t.rp.next = marks, 0
	slices.SortFunc(skips, func(a, b skip) int { return cmp.Or(cmp.Compare(a.off, b.off), cmp.Compare(a.sec, b.sec)) })
	t.rp.skips, t.rp.nextSkip, t.rp.from = skips, 0, from
	t.rp.shields = shields
	t.nextOff = from
	if next > from {
		t.rp.end, t.rp.restored = next, slices.Clone(cp)
	} else {
		t.endReplay()
	}
	return from, nil
}

// keptShield is a shield of a checkpoint, for the end of its replay.
type keptShield struct {
	sec int
	key plateKey
	sh  shield
}

// endReplay takes the shields of the checkpoint: the replay rebuilt those
// whose groups it replayed, and these are all of them.
func (t *Tracker) endReplay() {
	t.rp.end, t.rp.restored = math.MinInt64, nil
	for _, s := range t.secs {
		s.shields = table[shield]{}
	}
	for _, k := range t.rp.shields {
		s := t.secs[k.sec]
		s.shields.insert(k.key, k.sh)
		t.due.push(makeDue(k.sh.until()+s.lateness, k.sec, k.key))
	}
	t.rp.shields = nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("%w: malformed", ErrCheckpoint)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
