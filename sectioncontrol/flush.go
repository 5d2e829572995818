package sectioncontrol

import (
	"math"
	"time"
)

// Idle flush. A flush of section i forces the pairs pending there as if the
// watermark were the newest capture time plus dedupe (process, lastPairing),
// but the lateness watermark stays the natural one: other plates' reads
// captured before the flush point are still accepted. What the flush
// changes is recorded, per plate whose clusters it forced, in a shield:
// reads of that plate that would have joined, or been ordered before, a
// forced cluster are dropped (counted late) instead of being decided on
// their own: a decision taken cannot be taken back, and two decisions for
// one passage could mean two fines (doc.go, Idle flush, lists the cases).

// shield guards one plate's clusters in one section that idle flushes
// forced: an entry read captured before entryWM, or an exit read captured
// before exitWM, is a straggler of a decided cluster, or precedes one.
type shield struct {
	entryWM, exitWM int64
	gmin            int64 // the earliest replay segment of a read of a group it guards: its stragglers' (replay.go)
}

// until is when the shield is useless: every read it guards against is
// late anyway once the section's watermark reaches it.
func (sh shield) until() int64 { return max(sh.entryWM, sh.exitWM) }

// forced collects the clusters one process call forced: those decided that
// the section's natural watermark would not have made final yet.
type forced struct {
	any      bool
	front    int64 // the latest representative time: earlier reads precede a decision
	entryEnd int64 // the latest entry read of a forced cluster plus dedupe plus 1
	exitEnd  int64
	gmin     int64
}

func (f *forced) add(c *cluster, dedupe int64) {
	if !f.any {
		*f = forced{any: true, front: math.MinInt64, entryEnd: math.MinInt64, exitEnd: math.MinInt64, gmin: math.MaxInt64}
	}
	f.front = max(f.front, c.rep())
	if c.exit {
		f.exitEnd = max(f.exitEnd, c.lastMs+dedupe+1)
	} else {
		f.entryEnd = max(f.entryEnd, c.lastMs+dedupe+1)
	}
	f.gmin = min(f.gmin, c.minSeg)
}

// keep widens f to the segment gmin of a group decided with it: a replay
// that does not rebuild the shield whole skips its stragglers.
func (f *forced) keep(gmin int64) {
	if f.any {
		f.gmin = min(f.gmin, gmin)
	}
}

// shield records the clusters f of key in section i.
func (t *Tracker) shield(i int, key plateKey, f forced) {
	s := t.secs[i]
	j := s.shields.find(key)
	ok := j >= 0
	sh := shield{entryWM: math.MinInt64, exitWM: math.MinInt64, gmin: f.gmin}
	if ok {
		sh = s.shields.slots[j].val
		sh.gmin = min(sh.gmin, f.gmin)
	}
	old := sh.until()
	sh.entryWM = max(sh.entryWM, f.front, f.entryEnd)
	sh.exitWM = max(sh.exitWM, f.front, f.exitEnd)
	if ok {
		s.shields.slots[j].val = sh
	} else {
		s.shields.insert(key, sh)
	}
	if !ok || sh.until() > old {
		t.due.push(makeDue(sh.until()+s.lateness, i, key))
	}
}

// expireShield drops key's shield in section i once the natural watermark
// has passed it, and reports whether one is left.
func (t *Tracker) expireShield(i int, key plateKey, natural int64) bool {
	s := t.secs[i]
	j := s.shields.find(key)
	if j >= 0 && natural >= s.shields.slots[j].val.until() {
		s.shields.remove(j)
		return false
	}
	return j >= 0
}

// shielded reports whether sh drops the read e of key in section i (a
// straggler of, or a read before, a forced decision), counting it late.
func (t *Tracker) shielded(i int, e ev, sh shield) bool {
	wm := sh.entryWM
	if e.info&flagExit != 0 {
		wm = sh.exitWM
	}
	if e.ms >= wm {
		return false
	}
	if !t.quiet {
		t.secs[i].late.Inc()
	}
	return true
}

// Advance performs the idle flush and returns every decision taken since
// the previous Advance (by Observe or by the flush), in the order taken;
// each Violation's DetectedAt is set to now. now is the processing time (an
// injected clock): when no read was observed for a section's idle_flush,
// the section's pending pairs are decided, as if its watermark were the
// newest capture time seen plus dedupe (see doc.go, Idle flush); each such
// flush is recorded for replay. The returned slice is valid until the next
// Advance.
func (t *Tracker) Advance(now time.Time) []Decision {
	if t.observed || t.lastInput.IsZero() {
		t.lastInput, t.observed = now, false
	}
	if t.seen && !t.replaying() {
		for i, s := range t.secs {
			if now.Sub(t.lastInput) < s.IdleFlush || !s.dirty && s.flushedAt == t.maxSeen {
				continue
			}
			w := t.maxSeen + s.dedupe + 1
			t.record(mark{off: t.nextOff - 1, sec: i, kind: markFlush, v: w})
			t.flush(i, w)
		}
		t.trim()
	}
	ret := t.out
	t.setPlates(ret)
	for i := range ret {
		if v := ret[i].Violation; v != nil {
			v.DetectedAt = now.UTC()
		}
	}
	t.out, t.ret = t.ret[:0], ret
	t.ord = t.ord[:0]
	return ret
}

// setPlates sets the plates of the decisions out (keyed by t.ord, parallel
// to it) as substrings of one string: one allocation per Advance, not one
// per decision (a plate a caller keeps holds the batch's string: a few
// bytes a decision).
func (t *Tracker) setPlates(out []Decision) {
	buf, ends := t.plateBuf[:0], t.plateEnds[:0]
	for j := range out {
		buf = t.ord[j].key.appendTo(buf)
		ends = append(ends, len(buf))
	}
	all := string(buf)
	start := 0
	for j, end := range ends {
		out[j].Plate, start = all[start:end], end
	}
	t.plateBuf, t.plateEnds = buf, ends
}

// flush forces the decisions of section i at watermark w: every plate with
// a due item at or before w is processed at w. Its items leave the queue,
// but those of a plate with state left (a lone entry, a shield) go back.
func (t *Tracker) flush(i int, w int64) {
	s := t.secs[i]
	s.dirty, s.flushedAt = false, t.maxSeen
	items := t.items[:0]
	t.due.filter(true, func(it dueItem) bool {
		if it.sec() == i && it.trigger()-s.lateness <= w {
			items = append(items, it)
			return false
		}
		return true
	})
	// The order of the plates does not matter: each is decided on its own,
	// the decisions are sorted, and processing one twice at w is a no-op.
	n := len(t.out)
	for _, it := range items {
		if t.process(i, it.key, w) {
			t.due.push(it)
		}
	}
	t.resolveRoutes()
	t.sortFrom(n)
	t.items = items[:0]
}
