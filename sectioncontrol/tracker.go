package sectioncontrol

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/anpr/anpr/plate"
)

// Outcome is what became of a pair or of an unpaired read.
type Outcome uint8

// Outcomes, counted in anpr_sectioncontrol_outcomes_total{section,outcome}.
const (
	OutcomeViolation      Outcome = iota // corrected speed above the limit; Decision.Violation is set
	OutcomeCompliant                     // a pair within the limit
	OutcomeAnomaly                       // a pair with duration ≤ 0, an implausible speed or conflicting countries
	OutcomeAnnulled                      // would be a violation, but a camera lacked a valid certificate
	OutcomeUnmatchedEntry                // an entry that expired after max_travel or was replaced by a newer entry
	OutcomeUnmatchedExit                 // an exit with no entry to pair with
	OutcomeEvicted                       // a plate state dropped to keep MaxPending
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"violation", "compliant", "anomaly", "annulled", "unmatched_entry", "unmatched_exit", "evicted"}

func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Decision is one final result of section control.
type Decision struct {
	SectionID string
	Outcome   Outcome
	Plate     string    // normalized
	At        time.Time // capture time of the exit (pairs) or of the entry
	// MeasuredKmh is the pair's average speed (Violation, Compliant,
	// Annulled, Anomaly with a positive duration); zero otherwise.
	MeasuredKmh float64
	// Why explains an Anomaly ("duration", "implausible", "country") or an
	// Annulled pair ("certificate").
	Why       string
	Violation *Violation // for OutcomeViolation only
}

// section is a Section compiled, with its per-partition state.
type section struct {
	Section
	classLimits [numClasses]float64 // 0: no class limit
	windowWhy   []string
	tracks      map[plateKey][]ev
	due         dueHeap
	wm          int64 // watermark: every read captured before it has been observed
	hasWM       bool
	outcomes    [numOutcomes]counter
	late        counter
}

type camRole struct {
	sec  uint16
	exit bool
}

type camera struct {
	idx   uint32
	roles []camRole
}

// Tracker pairs the entry and exit reads of one partition and decides
// violations (see the package documentation for the model and the finality
// rule). It is not safe for concurrent use: one goroutine owns it, as one
// partition worker owns its partition.
type Tracker struct {
	secs      []*section
	cams      map[string]*camera
	camIDs    []string
	certs     []plate.Certificate
	maxSeen   int64
	seen      bool
	observed  bool // reads observed since the last Advance
	lastInput time.Time
	pending   int
	maxPend   int
	m         *Metrics
	out       []Decision
	stale     bool // out was returned: truncate before the next decision
	scratch   []cluster
	order     []int
	member    []int32
}

// New returns a Tracker for cfg (defaults applied to a copy). m may be nil
// (no metrics); one Metrics is shared by the trackers of all partitions.
func New(cfg Config, m *Metrics) (*Tracker, error) {
	cfg.Sections = slices.Clone(cfg.Sections)
	if err := cfg.applyDefaults(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Tracker{cams: map[string]*camera{}, maxPend: cfg.MaxPending, m: m}
	intern := func(id string) *camera {
		c, ok := t.cams[id]
		if !ok {
			c = &camera{idx: uint32(len(t.camIDs))}
			t.cams[id] = c
			t.camIDs = append(t.camIDs, id)
			t.certs = append(t.certs, plate.Certificate{})
		}
		return c
	}
	for _, c := range cfg.Cameras {
		t.certs[intern(c.ID).idx] = c.Certificate
	}
	for i, s := range cfg.Sections {
		cs := &section{Section: s, tracks: map[plateKey][]ev{}}
		for class, l := range s.ClassLimits {
			if c := classCode(class); c != 0 {
				cs.classLimits[c] = l
			}
		}
		for _, w := range s.Schedule {
			cs.windowWhy = append(cs.windowWhy, w.reason())
		}
		for o := range numOutcomes {
			cs.outcomes[o] = m.outcome(s.ID, o)
		}
		cs.late = m.lateReads(s.ID)
		for _, id := range s.Entry {
			c := intern(id)
			c.roles = append(c.roles, camRole{sec: uint16(i)})
		}
		for _, id := range s.Exit {
			c := intern(id)
			c.roles = append(c.roles, camRole{sec: uint16(i), exit: true})
		}
		t.secs = append(t.secs, cs)
	}
	return t, nil
}

// Pending returns the number of plate states held: vehicles inside a
// section and reads awaiting a decision.
func (t *Tracker) Pending() int { return t.pending }

// Observe takes one read in partition order. Reads from cameras of no
// section, with an unusable plate, or captured before a section's watermark
// (later than max_lateness, or after an idle flush) are ignored, the last
// counted in anpr_sectioncontrol_late_reads_total. Observe keeps no
// reference to r or its strings.
func (t *Tracker) Observe(r *plate.Read) {
	c, ok := t.cams[r.CameraID]
	if !ok || len(c.roles) == 0 {
		return
	}
	key, ok := makeKey(r.PlateNorm)
	if !ok {
		return
	}
	ms := r.TS.UnixMilli()
	if !t.seen || ms > t.maxSeen {
		t.maxSeen, t.seen = ms, true
	}
	t.observed = true
	e := ev{ms: ms, cam: c.idx, class: classCode(r.VehicleClass)}
	copy(e.country[:], r.Country)
	for _, role := range c.roles {
		s := t.secs[role.sec]
		if s.hasWM && ms < s.wm {
			s.late.Inc()
			continue
		}
		if e.evidence == "" {
			e.evidence = packEvidence(r)
		}
		e.flags = 0
		if role.exit {
			e.flags = flagExit
		}
		evs, ok := s.tracks[key]
		if !ok {
			t.pending++
			t.m.pendingAdd(1)
		}
		i, _ := slices.BinarySearchFunc(evs, e, cmpEv)
		s.tracks[key] = slices.Insert(evs, i, e)
		s.due.push(dueItem{due: ms + s.Dedupe.Milliseconds() + 1, key: key})
		if !ok && t.pending > t.maxPend {
			t.evictOldest()
		}
	}
}

// cmpEv orders a plate's reads: the processed entry first, then by capture
// time, entries before exits, then by evidence so any arrival order gives
// one order.
func cmpEv(a, b ev) int {
	return cmp.Or(
		-cmp.Compare(a.flags&flagEntry, b.flags&flagEntry),
		cmp.Compare(a.ms, b.ms),
		cmp.Compare(a.flags&flagExit, b.flags&flagExit),
		cmp.Compare(a.evidence, b.evidence),
	)
}

// Advance moves each section's watermark and returns every decision that
// became final, ordered by At, section and plate. now is the processing
// time (an injected clock): when no read was observed for a section's
// idle_flush, its watermark jumps past the newest read seen plus dedupe,
// which takes every pending pair decision. The returned slice is valid until
// the next Advance.
func (t *Tracker) Advance(now time.Time) []Decision {
	t.reset()
	defer func() { t.stale = true }()
	if t.observed || t.lastInput.IsZero() {
		t.lastInput, t.observed = now, false
	}
	if !t.seen {
		return t.out
	}
	for _, s := range t.secs {
		wm := t.maxSeen - s.MaxLateness.Milliseconds()
		if now.Sub(t.lastInput) >= s.IdleFlush {
			wm = t.maxSeen + s.Dedupe.Milliseconds() + 1
		}
		if !s.hasWM || wm > s.wm {
			s.wm, s.hasWM = wm, true
		}
		for len(s.due) > 0 && s.due[0].due <= s.wm {
			it := s.due.pop()
			t.process(s, it.key, now)
		}
	}
	slices.SortFunc(t.out, func(a, b Decision) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.SectionID, b.SectionID), cmp.Compare(a.Plate, b.Plate), cmp.Compare(a.Outcome, b.Outcome))
	})
	return t.out
}

// cluster is a run of one plate's entry (or exit) reads less than or equal
// to dedupe apart: one entry at its earliest read, one exit at its latest.
type cluster struct {
	exit        bool
	done        bool
	first, last int // indices into the plate's reads
	firstMs     int64
	lastMs      int64
}

func (c *cluster) rep() int64 {
	if c.exit {
		return c.lastMs
	}
	return c.firstMs
}

// process takes every final decision of one plate in section s, in the
// order of the clusters' representative times.
func (t *Tracker) process(s *section, key plateKey, now time.Time) {
	evs, ok := s.tracks[key]
	if !ok {
		return
	}
	dedupe, maxTravel := s.Dedupe.Milliseconds(), s.MaxTravel.Milliseconds()
	var last ev
	hasLast := len(evs) > 0 && evs[0].flags&flagEntry != 0
	start := 0
	if hasLast {
		last, start = evs[0], 1
	}
	// Build the clusters of the unprocessed reads.
	cs := t.scratch[:0]
	member := slices.Grow(t.member[:0], len(evs))[:len(evs)]
	open := [2]int{-1, -1} // the latest cluster of each kind
	for i := start; i < len(evs); i++ {
		kind := int(evs[i].flags & flagExit)
		if j := open[kind]; j >= 0 && evs[i].ms-cs[j].lastMs <= dedupe {
			cs[j].last, cs[j].lastMs = i, evs[i].ms
			member[i] = int32(j)
			continue
		}
		open[kind] = len(cs)
		member[i] = int32(len(cs))
		cs = append(cs, cluster{exit: kind == flagExit, first: i, last: i, firstMs: evs[i].ms, lastMs: evs[i].ms})
	}
	order := t.order[:0]
	for i := range cs {
		order = append(order, i)
	}
	slices.SortFunc(order, func(a, b int) int {
		ca, cb := &cs[a], &cs[b]
		return cmp.Or(cmp.Compare(ca.rep(), cb.rep()), cmp.Compare(b2i(ca.exit), b2i(cb.exit)))
	})
	done := 0 // clusters processed, in order
	newLast := false
	for _, ci := range order {
		c := &cs[ci]
		if c.lastMs+dedupe >= s.wm {
			break // more reads may still join this cluster
		}
		done++
		c.done = true
		if hasLast && c.rep()-last.ms > maxTravel {
			t.single(s, OutcomeUnmatchedEntry, key, last.ms)
			hasLast = false
		}
		if !c.exit {
			if hasLast {
				t.single(s, OutcomeUnmatchedEntry, key, last.ms)
			}
			last, hasLast, newLast = evs[c.first], true, true
			last.flags = flagEntry
			continue
		}
		x := &evs[c.last]
		if !hasLast {
			t.single(s, OutcomeUnmatchedExit, key, x.ms)
			continue
		}
		t.pair(s, key, &last, x, now)
		hasLast = false
	}
	if hasLast && s.wm > last.ms+maxTravel && (done == len(order) || cs[order[done]].rep() > last.ms+maxTravel) {
		t.single(s, OutcomeUnmatchedEntry, key, last.ms)
		hasLast = false
	}
	// Keep the entry awaiting its exit and the reads of undecided clusters.
	kept := evs[:0:0]
	if hasLast {
		kept = append(kept, last)
	}
	for i := start; i < len(evs); i++ {
		if !cs[member[i]].done {
			kept = append(kept, evs[i])
		}
	}
	t.scratch, t.member, t.order = cs, member, order
	if len(kept) == 0 {
		delete(s.tracks, key)
		t.pending--
		t.m.pendingAdd(-1)
		return
	}
	s.tracks[key] = slices.Clip(kept)
	if newLast && hasLast {
		s.due.push(dueItem{due: last.ms + maxTravel + 1, key: key})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (t *Tracker) single(s *section, o Outcome, key plateKey, ms int64) {
	t.emit(s, Decision{SectionID: s.ID, Outcome: o, Plate: key.String(), At: time.UnixMilli(ms).UTC()})
}

// emit records d for the next Advance to return, and counts it.
func (t *Tracker) emit(s *section, d Decision) {
	t.reset()
	s.outcomes[d.Outcome].Inc()
	t.out = append(t.out, d)
}

func (t *Tracker) reset() {
	if t.stale {
		t.out, t.stale = t.out[:0], false
	}
}

// pair decides an entry-exit pair (SPEC §6). The checks run in the driver's
// favour: anomalies first, then the speed, then the certificates.
func (t *Tracker) pair(s *section, key plateKey, e, x *ev, now time.Time) {
	d := Decision{SectionID: s.ID, Plate: key.String(), At: time.UnixMilli(x.ms).UTC()}
	durMs := x.ms - e.ms
	var measured, margin, corrected float64
	switch {
	case durMs <= 0:
		d.Outcome, d.Why = OutcomeAnomaly, "duration"
	case e.country != [2]byte{} && x.country != [2]byte{} && e.country != x.country:
		d.Outcome, d.Why = OutcomeAnomaly, "country"
	default:
		measured = MeasuredKmh(s.LengthM, durMs)
		d.MeasuredKmh = measured
		margin = s.Tolerance.Margin(measured)
		corrected = math.Floor(measured - margin)
		switch {
		case measured > s.MaxPlausibleKmh:
			d.Outcome, d.Why = OutcomeAnomaly, "implausible"
		case corrected <= s.limitAt(e.ms, e.class, x.class):
			d.Outcome = OutcomeCompliant // no limit during the passage is lower than the one at entry
		}
	}
	if d.Outcome == OutcomeViolation {
		limit, why := s.limit(e.ms, x.ms, e.class, x.class)
		switch {
		case corrected <= limit:
			d.Outcome = OutcomeCompliant
		case !t.certs[e.cam].ValidAt(time.UnixMilli(e.ms)) || !t.certs[x.cam].ValidAt(time.UnixMilli(x.ms)):
			d.Outcome, d.Why = OutcomeAnnulled, "certificate"
		default:
			d.Violation = t.violation(s, key, e, x, measured, margin, corrected, limit, why, now)
		}
	}
	t.emit(s, d)
}

// MeasuredKmh is SPEC §6's average speed: length over duration, from
// millisecond timestamps, not rounded.
func MeasuredKmh(lengthM float64, durationMs int64) float64 {
	return lengthM / (float64(durationMs) / 1000) * 3.6
}

// CorrectedKmh applies tolerance t to a measured speed:
// floor(measured − margin).
func CorrectedKmh(t Tolerance, measuredKmh float64) float64 {
	return math.Floor(measuredKmh - t.Margin(measuredKmh))
}

// evictOldest drops the plate state whose next deadline is the earliest
// across sections: the oldest entry, in practice.
func (t *Tracker) evictOldest() {
	for t.pending > t.maxPend {
		var best *section
		for _, s := range t.secs {
			if len(s.due) > 0 && (best == nil || s.due[0].due < best.due[0].due) {
				best = s
			}
		}
		if best == nil {
			return
		}
		it := best.due.pop()
		evs, ok := best.tracks[it.key]
		if !ok {
			continue
		}
		delete(best.tracks, it.key)
		t.pending--
		t.m.pendingAdd(-1)
		t.m.evicted()
		t.single(best, OutcomeEvicted, it.key, evs[0].ms)
	}
}
