package sectioncontrol

import (
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
// checkpoint carries the watermark state just before S and the marks at or
// after S.
//
// Reads decided together (a cluster, a pair, an evicted state) form a group;
// S must not split a group, or the replay would see part of it and leave
// state the checkpointed Tracker does not have (an entry whose exit lies
// before S). So each segment also records the earliest segment of a group
// ending in it (back), and S moves back until no group straddles it.
//
// Reads are counted live in segments: runs of offsets within one aligned
// block of 1<<segShift offsets (a Tracker field: tests make it 0), each with
// the watermark state just before its first held read. A current entry
// counts in the segment of the earliest read of its cluster (ev.pin); a
// shield (flush.go) and a held route violation (route.go) in that of the
// earliest read they were built from, so a replay rebuilds them.
// Segments before S are popped, so a checkpoint costs a pass over the
// segments, not over the pending state.

const defaultSegShift = 12

type segment struct {
	block   int64 // offset >> segShift
	start   int64 // offset of the first read held in it
	live    int64 // reads held counting in it
	back    int64 // the earliest block of a group that ends in this one
	maxSeen int64 // watermark state just before start
	seen    bool
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
	suffix   []int64
}

func (t *Tracker) replaying() bool { return t.nextOff < t.rp.end }

// segAdd counts a read at off, held from now on.
func (t *Tracker) segAdd(off int64) {
	b := off >> t.segShift
	if n := len(t.rp.segs); n == 0 || t.rp.segs[n-1].block != b {
		t.rp.segs = append(t.rp.segs, segment{block: b, back: b, start: off, maxSeen: t.maxSeen, seen: t.seen})
	}
	t.rp.segs[len(t.rp.segs)-1].live++
}

func (t *Tracker) segInc(block int64) { t.seg(block).live++ }
func (t *Tracker) segDec(block int64) { t.seg(block).live-- }

// bridge records a group of reads from block lo to block hi.
func (t *Tracker) bridge(hi, lo int64) {
	if lo < hi {
		s := t.seg(hi)
		s.back = min(s.back, lo)
	}
}

func (t *Tracker) seg(block int64) *segment {
	// Segments are usually dense: try the direct index first.
	if n := len(t.rp.segs); n > 0 {
		if i := block - t.rp.segs[0].block; i >= 0 && i < int64(n) && t.rp.segs[i].block == block {
			return &t.rp.segs[i]
		}
	}
	i, ok := slices.BinarySearchFunc(t.rp.segs, block, func(s segment, b int64) int {
		switch {
		case s.block < b:
			return -1
		case s.block > b:
			return 1
		}
		return 0
	})
	if !ok {
		panic(fmt.Sprintf("BUG: sectioncontrol: no replay segment for block %d", block))
	}
	return &t.rp.segs[i]
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

// trim finds S, drops the segments before it and the marks before S.
func (t *Tracker) trim() {
	segs := t.rp.segs
	k := 0
	for k < len(segs) && segs[k].live == 0 {
		k++
	}
	if k < len(segs) {
		// Move k back while a group ending at or after it began before it.
		sm := slices.Grow(t.rp.suffix[:0], len(segs))[:len(segs)]
		m := int64(math.MaxInt64)
		for j := len(segs) - 1; j >= k; j-- {
			m = min(m, segs[j].back)
			sm[j] = m
		}
		for sm[k] < segs[k].block {
			j := k
			for j > 0 && segs[j-1].block >= sm[k] {
				j--
			}
			m := sm[k]
			for i := k - 1; i >= j; i-- {
				m = min(m, segs[i].back)
				sm[i] = m
			}
			if j == k {
				break
			}
			k = j
		}
		t.rp.suffix = sm[:0]
	}
	t.rp.segs = segs[k:]
	from := t.nextOff
	if len(t.rp.segs) > 0 {
		from = t.rp.segs[0].start
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

const checkpointVersion = 2

// Checkpoint appends to dst a checkpoint from which Restore rebuilds the
// Tracker's state: version 2 is the byte 2, then varints: S, the next
// offset C, seen (0/1), the newest capture time at S, the number of
// sections, each as its id (length, bytes), the number of marks, each as
// kind, offset, section index and value. (Version 1 also had a flush
// watermark per section; it is refused.) Its size
// grows with the sections and the marks since S, not with the pending
// state, so it is cheap enough for every batch. A Tracker that never
// observed a read has S = C = -1. Checkpoint while replaying returns the
// checkpoint restored.
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
	t.nextOff = from
	if next > from {
		t.rp.end, t.rp.restored = next, slices.Clone(cp)
	}
	return from, nil
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
