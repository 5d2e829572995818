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
	OutcomeSuperseded                    // a violation of a route traversal with a higher one (route_policy highest): not issued
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"violation", "compliant", "anomaly", "annulled", "unmatched_entry", "unmatched_exit", "evicted", "superseded"}

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
	Plate     string    // normalized (the plates of one Advance share one string)
	At        time.Time // capture time of the exit (pairs) or of the entry
	// MeasuredKmh is the pair's average speed (Violation, Compliant,
	// Annulled, Anomaly with a positive duration); zero otherwise.
	MeasuredKmh float64
	// Why explains an Anomaly ("duration", "implausible", "country") or an
	// Annulled pair ("certificate"); for Superseded it is the id of the
	// traversal's violation that was issued.
	Why       string
	Violation *Violation // for OutcomeViolation only
}

// maxMs bounds capture times (year 4199) so that due times pack in 48 bits.
const maxMs = 1<<46 - 1

// section is a Section compiled, with its per-partition state.
type section struct {
	Section
	classLimits                 [numClasses]float64 // 0: no class limit
	classWhy                    [numClasses]string  // "class:truck": built once, not per pair
	windowWhy                   []string
	dedupe, maxTravel, lateness int64         // ms
	tracks                      table[ev]     // one read inline, two packed (flagPair), or where the reads are (flagChunk, flagSpill)
	chunks                      []ev          // chunkLen reads a chunk: the reads of plates with 3 to chunkLen (2 that do not pack), sorted by evBefore
	freeChunks                  []int64       // unused chunks
	spills                      [][]ev        // the reads of plates with more, sorted by evBefore
	freeSpills                  []int64       // unused indices of spills
	shields                     table[shield] // plates whose clusters an idle flush forced (flush.go)
	dirty                       bool          // reads inserted since the last idle flush
	flushedAt                   int64         // maxSeen at the last idle flush; MinInt64: none
	outcomes                    [numOutcomes]counter
	late                        counter
	route, pos                  int // index into Tracker.routes (-1: none, or route_policy each) and position in it
	rank                        int // of ID among the section ids, for the order of decisions
}

type camRole struct {
	sec  uint16
	exit bool
}

type camera struct {
	idx   uint16
	roles []camRole
}

// Tracker pairs the entry and exit reads of one partition and decides
// violations (see the package documentation for the model, the finality
// rule and replay). It is not safe for concurrent use: one goroutine owns
// it, as one partition worker owns its partition.
type Tracker struct {
	secs      []*section
	cams      map[string]*camera
	camIDs    []string
	certs     []plate.Certificate
	maxSeen   int64 // newest capture time observed (ms), if seen
	seen      bool
	due       dueQueue
	compactAt int  // compact the due queue's heap beyond this length
	observed  bool // reads observed since the last Advance
	lastInput time.Time
	nextOff   int64 // offset after the last observed read; -1: none yet
	pending   int
	maxPend   int
	m         *Metrics
	out, ret  []Decision // decisions since the last Advance; the slice it returned
	ord       []outKey   // parallel to out
	quiet     bool       // replaying reads before the checkpoint: decisions were emitted already
	noSkip    bool       // process redundant due items too (tests: the skip changes nothing)
	noPair    bool       // keep two reads in a chunk, not packed (tests: packing changes nothing)
	noFast    bool       // no decidePair (tests: the fast path changes nothing)
	processed [2]int     // process calls that took the general path, decidePair (tests)
	skipped   int        // redundant due items not processed

	routes   []*route // route_policy highest only
	routeDue dueHeap  // route items: sec is the route index (route.go)

	rp       replay
	segShift uint8 // replay segments are aligned blocks of 1<<segShift offsets

	one       [1]ev
	two       [2]ev
	plateBuf  []byte
	plateEnds []int
	kept      []ev
	free      [][]ev
	scratch   []cluster
	order     []int
	member    []int32
	items     []dueItem
	chain     []int
	lasts     []int
	parked    []dueItem
}

// New returns a Tracker for cfg (defaults applied to a copy). m may be nil
// (no metrics); one Metrics is shared by the trackers of all partitions.
func New(cfg Config, m *Metrics) (*Tracker, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Tracker{cams: map[string]*camera{}, maxPend: cfg.MaxPending, m: m, nextOff: -1}
	t.rp.end = math.MinInt64
	t.compactAt = 1024
	t.segShift = defaultSegShift
	registry := map[string]plate.Certificate{}
	for _, c := range cfg.Cameras {
		registry[c.ID] = c.Certificate
	}
	intern := func(id string) *camera {
		c, ok := t.cams[id]
		if !ok {
			c = &camera{idx: uint16(len(t.camIDs))}
			t.cams[id] = c
			t.camIDs = append(t.camIDs, id)
			t.certs = append(t.certs, registry[id])
		}
		return c
	}
	addRole := func(id string, r camRole) {
		c := intern(id)
		if !slices.Contains(c.roles, r) {
			c.roles = append(c.roles, r)
		}
	}
	for i, s := range cfg.Sections {
		cs := &section{Section: s, flushedAt: math.MinInt64,
			dedupe: s.Dedupe.Milliseconds(), maxTravel: s.MaxTravel.Milliseconds(), lateness: s.MaxLateness.Milliseconds()}
		for class, l := range s.ClassLimits {
			if c := classCode(class); c != 0 {
				cs.classLimits[c], cs.classWhy[c] = l, "class:"+classes[c]
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
			addRole(id, camRole{sec: uint16(i)})
		}
		for _, id := range s.Exit {
			addRole(id, camRole{sec: uint16(i), exit: true})
		}
		t.secs = append(t.secs, cs)
	}
	span := int64(0) // a read's item is due at most this long after the newest capture time
	for _, s := range t.secs {
		span = max(span, s.dedupe+s.lateness+1)
	}
	t.due = newDueQueue(span)
	t.compileRoutes(cfg.RoutePolicy)
	byID := slices.Clone(t.secs)
	slices.SortFunc(byID, func(a, b *section) int { return cmp.Compare(a.ID, b.ID) })
	for r, s := range byID {
		s.rank = r
	}
	return t, nil
}

// Pending returns the number of plate states held: vehicles inside a
// section and reads awaiting a decision.
func (t *Tracker) Pending() int { return t.pending }

// wm is section i's watermark: every read captured before it has been
// observed, or is ignored as late. It never goes back.
func (t *Tracker) wm(i int) int64 {
	if !t.seen {
		return math.MinInt64
	}
	return t.maxSeen - t.secs[i].lateness
}

// Observe takes the read at offset in partition order (offsets strictly
// increase) and every decision that becomes final by it; Advance returns
// them. Reads from cameras of no section, with an unusable plate or capture
// time, or captured before a section's watermark (later than max_lateness),
// or stragglers of a cluster an idle flush forced (see flush.go) are
// ignored, the last two counted in anpr_sectioncontrol_late_reads_total. Observe keeps no reference to r or
// its strings.
func (t *Tracker) Observe(r *plate.Read, offset int64) {
	t.applyMarks(offset - 1)
	t.nextOff = offset + 1
	t.quiet = offset < t.rp.end
	t.observe(r, offset)
	t.applyMarks(offset)
	t.quiet = false
	if t.rp.end != math.MinInt64 && !t.replaying() {
		t.endReplay()
	}
}

func (t *Tracker) observe(r *plate.Read, offset int64) {
	c, ok := t.cams[r.CameraID]
	if !ok {
		return
	}
	key, ok := makeKey(r.PlateNorm)
	if !ok {
		return
	}
	ms := r.TS.UnixMilli()
	if ms < 0 || ms > maxMs {
		return
	}
	t.observed = true
	e := ev{ms: ms, off: offset, cam: c.idx, info: classCode(r.VehicleClass)}
	copy(e.country[:], r.Country)
	for _, role := range c.roles {
		i := int(role.sec)
		s := t.secs[i]
		if ms < t.wm(i) {
			if !t.quiet {
				s.late.Inc()
			}
			continue
		}
		if t.quiet && t.replaySkips(offset, i) {
			continue
		}
		e.info &= classMask
		if role.exit {
			e.info |= flagExit
		}
		if s.shields.len() > 0 {
			if j := s.shields.find(key); j >= 0 && t.shielded(i, e, s.shields.slots[j].val) {
				t.decided(offset, i, s.shields.slots[j].val.gmin) // a straggler is in the shield's group
				continue
			}
		}
		s.dirty = true
		t.segAdd(offset)
		t.insert(i, key, e)
		t.due.push(makeDue(s.readDue(ms), i, key))
	}
	if !t.seen || ms > t.maxSeen {
		t.maxSeen, t.seen = ms, true
		t.sweep()
	}
	if !t.quiet {
		t.evict(offset)
	}
	if len(t.due.far) > t.compactAt {
		t.compactDue()
	}
}

// compactDue drops the due items of plates without state from the queue's
// heap: an entry's expiry item outlives its pair by max_travel, so without
// this the heap would grow with the traffic, not with the pending state (the
// ring's items are due within max_lateness and dedupe). The next compaction
// waits until the heap has doubled: amortized O(1) per push.
func (t *Tracker) compactDue() {
	t.due.filter(false, func(it dueItem) bool {
		s := t.secs[it.sec()]
		return s.has(it.key) || s.shields.find(it.key) >= 0
	})
	t.compactAt = max(2*len(t.due.far), 1024)
}

// readDue is when the newest capture time makes a read captured at ms
// final, unless another read joins its cluster: the trigger of its item.
func (s *section) readDue(ms int64) int64 { return ms + s.dedupe + 1 + s.lateness }

// insert adds e to key's state in section si, keeping the reads sorted by
// evBefore.
//
// An exit joining a lone undecided entry makes the entry's item redundant
// (dueQueue.skip), which saves a lookup of most vehicles: processed at its
// trigger, the item would decide the entry cluster and nothing else (no
// current entry to replace, nothing to emit, no expiry to arm as the exit
// is due no later than the entry's expiry); the next process call of the
// plate, by the exit's item at the latest, takes the same decisions in the
// same sweeps. A read joining such a pair before the entry's item is due
// (it may bring an earlier entry, or lengthen the exit's cluster past the
// expiry) pushes the item again, undoing the skip; a flush drops the
// markers.
func (t *Tracker) insert(si int, key plateKey, e ev) {
	s := t.secs[si]
	i, ok := s.tracks.lookup(key)
	if !ok {
		s.tracks.insertAt(i, key, e)
		t.pending++
		t.m.pendingAdd(1)
		return
	}
	v := s.tracks.slots[i].val
	if v.info&flagPair == 0 { // one read inline: most often an exit joining its entry
		if v.info&(flagEntry|flagExit) == 0 && e.info&flagExit != 0 &&
			e.ms >= v.ms && e.ms+s.dedupe <= v.ms+s.maxTravel && s.shields.len() == 0 && s.readDue(v.ms) > t.maxSeen {
			t.due.skip(makeDue(s.readDue(v.ms), si, key))
		}
		a, b := v, e
		if !evBefore(&v, &e) {
			a, b = e, v
		}
		if t.noPair || !packPair(&a, &b, &s.tracks.slots[i].val) {
			t.put(s, i, append(t.kept[:0], a, b))
			t.kept = t.kept[:0]
		}
		return
	}
	evs := t.readsOf(s, &v)
	if len(evs) == 2 && evs[0].info&(flagEntry|flagExit) == 0 && evs[1].info&flagExit != 0 && s.readDue(evs[0].ms) > t.maxSeen {
		t.due.push(makeDue(s.readDue(evs[0].ms), si, key))
	}
	if v.info&flagPair == flagSpill {
		j, _ := slices.BinarySearchFunc(evs, e, cmpEv)
		s.spills[v.off] = slices.Insert(evs, j, e)
		return
	}
	j := 0 // at most chunkLen reads: a scan, not a binary search calling a comparison
	for j < len(evs) && evBefore(&evs[j], &e) {
		j++
	}
	if v.info&flagPair != flagChunk || len(evs) == chunkLen {
		t.put(s, i, slices.Insert(append(t.kept[:0], evs...), j, e))
		t.kept = t.kept[:0]
		return
	}
	c := s.chunks[v.off*chunkLen : v.off*chunkLen+v.ms+1]
	copy(c[j+1:], c[j:])
	c[j] = e
	v.ms++
	s.tracks.slots[i].val = v
}

// chunkLen is how many reads a chunk holds: an entry and an exit with a
// duplicate or two (a pair alone is packed, if it fits), in 96 bytes (one or two cache lines, where a slice of
// its own costs a miss for its header and one for its reads).
const chunkLen = 4

// readsOf returns the reads the table value v stands for: in t.one or
// t.two (valid until the next call) unless in a chunk or a spill.
func (t *Tracker) readsOf(s *section, v *ev) []ev {
	switch v.info & flagPair {
	case 0:
		t.one[0] = *v
		return t.one[:]
	case flagPair:
		v.unpair(&t.two)
		return t.two[:]
	case flagChunk:
		x := v.off * chunkLen
		return s.chunks[x : x+v.ms : x+chunkLen]
	}
	return s.spills[v.off]
}

// has reports whether key has state in s.
func (s *section) has(key plateKey) bool { return s.tracks.find(key) >= 0 }

// get returns key's slot in s.tracks and its reads (nil: none), valid
// until the next put or insert.
func (t *Tracker) get(s *section, key plateKey) (int, []ev) {
	i := s.tracks.find(key)
	if i < 0 {
		return i, nil
	}
	return i, t.readsOf(s, &s.tracks.slots[i].val)
}

// put replaces the reads in slot i of s.tracks (get's, no insert or remove
// since) by kept (which must not be the slice get returned).
func (t *Tracker) put(s *section, i int, kept []ev) {
	v := s.tracks.slots[i].val
	var p ev
	packed := len(kept) == 2 && !t.noPair && packPair(&kept[0], &kept[1], &p)
	switch inChunk := !packed && len(kept) >= 2 && len(kept) <= chunkLen; {
	case v.info&flagPair == flagChunk && !inChunk:
		s.freeChunks = append(s.freeChunks, v.off)
	case v.info&flagPair == flagSpill && len(kept) <= chunkLen:
		t.freeSpill(s.dropSpill(v.off))
	}
	switch {
	case len(kept) == 0:
		s.tracks.remove(i)
		t.pending--
		t.m.pendingAdd(-1)
	case len(kept) == 1:
		s.tracks.slots[i].val = kept[0]
	case packed:
		s.tracks.slots[i].val = p
	case len(kept) <= chunkLen:
		if v.info&flagPair != flagChunk {
			v = ev{info: flagChunk, off: s.addChunk()}
		}
		v.ms = int64(copy(s.chunks[v.off*chunkLen:v.off*chunkLen+chunkLen], kept))
		s.tracks.slots[i].val = v
	default:
		if v.info&flagPair != flagSpill {
			v = ev{info: flagSpill, off: s.addSpill(t.newSpill())}
			s.tracks.slots[i].val = v
		}
		s.spills[v.off] = append(s.spills[v.off][:0], kept...)
	}
}

// addChunk returns an unused chunk.
func (s *section) addChunk() int64 {
	if n := len(s.freeChunks); n > 0 {
		x := s.freeChunks[n-1]
		s.freeChunks = s.freeChunks[:n-1]
		return x
	}
	s.chunks = append(s.chunks, make([]ev, chunkLen)...)
	return int64(len(s.chunks)/chunkLen - 1)
}

// addSpill stores the reads of a plate with more than chunkLen and returns their
// index, which the plate's slot holds (ev.off with flagSpill).
func (s *section) addSpill(sl []ev) int64 {
	if n := len(s.freeSpills); n > 0 {
		x := s.freeSpills[n-1]
		s.freeSpills = s.freeSpills[:n-1]
		s.spills[x] = sl
		return x
	}
	s.spills = append(s.spills, sl)
	return int64(len(s.spills) - 1)
}

func (s *section) dropSpill(x int64) []ev {
	sl := s.spills[x]
	s.spills[x] = nil
	s.freeSpills = append(s.freeSpills, x)
	return sl
}

func (t *Tracker) newSpill() []ev {
	if n := len(t.free); n > 0 {
		sl := t.free[n-1]
		t.free = t.free[:n-1]
		return sl
	}
	return make([]ev, 0, 4)
}

func (t *Tracker) freeSpill(sl []ev) {
	if len(t.free) < 1024 && cap(sl) <= 16 {
		t.free = append(t.free, sl[:0])
	}
}

// evBefore orders a plate's reads: the current entry first, then by
// capture time, entries before exits, then by offset, so any arrival order
// gives one order.
func evBefore(a, b *ev) bool {
	switch {
	case a.info&flagEntry != b.info&flagEntry:
		return a.info&flagEntry != 0
	case a.ms != b.ms:
		return a.ms < b.ms
	case a.info&flagExit != b.info&flagExit:
		return a.info&flagExit == 0
	}
	return a.off < b.off
}

// cmpEv is evBefore as a comparison.
func cmpEv(a, b ev) int {
	switch {
	case evBefore(&a, &b):
		return -1
	case evBefore(&b, &a):
		return 1
	}
	return 0
}

// sweep takes every decision that the newest capture time made final.
func (t *Tracker) sweep() {
	n := len(t.out)
	for {
		it, redundant, ok := t.due.pop(t.maxSeen)
		if !ok {
			break
		}
		if redundant && !t.noSkip {
			t.skipped++
			continue
		}
		t.process(it.sec(), it.key, t.wm(it.sec()))
	}
	t.resolveRoutes()
	t.sortFrom(n)
}

// sortFrom puts the decisions of one sweep from out[n:] in a canonical
// order, so that the order does not depend on which (possibly stale) due
// items took them: a replayed Tracker has other stale items.
// The order is capture time, section id, plate, outcome and measured speed,
// compared on packed keys (plate keys order as the plates do).
func (t *Tracker) sortFrom(n int) {
	if len(t.out)-n < 2 {
		return
	}
	ord := t.ord[n:]
	sorted := true
	for j := 1; j < len(ord) && sorted; j++ {
		a, b := &ord[j-1], &ord[j]
		sorted = a.ms < b.ms || a.ms == b.ms && (a.rank < b.rank || a.rank == b.rank && a.key < b.key)
	}
	if sorted {
		return // strictly: no tie to break
	}
	slices.SortFunc(ord, func(a, b outKey) int {
		// Not cmp.Or: its arguments are all evaluated, and the last two
		// cost a cache miss each.
		switch {
		case a.ms != b.ms:
			return cmp.Compare(a.ms, b.ms)
		case a.rank != b.rank:
			return cmp.Compare(a.rank, b.rank)
		case a.key != b.key:
			return cmp.Compare(a.key, b.key)
		}
		da, db := &t.out[a.i], &t.out[b.i]
		return cmp.Or(cmp.Compare(da.Outcome, db.Outcome), cmp.Compare(da.MeasuredKmh, db.MeasuredKmh))
	})
	// Apply the permutation in place, cycle by cycle: out[n+k] takes the
	// decision at ord[k].i.
	for j := range ord {
		if ord[j].i < 0 {
			continue
		}
		first := t.out[n+j]
		for k := j; ; {
			src := int(ord[k].i) - n
			ord[k].i = -1
			if src == j {
				t.out[n+k] = first
				break
			}
			t.out[n+k] = t.out[n+src]
			k = src
		}
	}
	for j := range ord {
		ord[j].i = int32(n + j)
	}
}

// outKey is the sort key of the decision out[i].
type outKey struct {
	ms   int64
	rank int // of the section id among the ids
	key  plateKey
	i    int32
}

// cluster is a run of one plate's entry (or exit) reads less than or equal
// to dedupe apart: one entry at its earliest read, one exit at its latest.
type cluster struct {
	exit        bool
	done        bool
	first, last int // indices into the plate's reads
	firstMs     int64
	lastMs      int64
	minSeg      int64 // the earliest replay segment of a member
	grouped     bool  // its reads are in an open group (replay.go)
}

func (c *cluster) rep() int64 {
	if c.exit {
		return c.lastMs
	}
	return c.firstMs
}

// process takes every final decision of one plate in section i at
// watermark wm (above the section's own during an idle flush), in the order
// of the clusters' representative times. It reports whether the plate has
// reads or a shield left in s. A shield expires here, outside flushes.
func (t *Tracker) process(i int, key plateKey, wm int64) (left bool) {
	s := t.secs[i]
	natural := t.wm(i)
	shielded := false
	if s.shields.len() > 0 {
		shielded = wm > natural && s.shields.find(key) >= 0 || wm == natural && t.expireShield(i, key, natural)
	}
	slot, evs := t.get(s, key)
	if evs == nil {
		return shielded
	}
	if len(evs) == 2 && wm == natural && s.shields.len() == 0 && !t.noFast &&
		evs[0].info&(flagEntry|flagExit) == 0 && evs[1].info&flagExit != 0 && evs[1].ms+s.dedupe < natural {
		t.decidePair(i, key, slot, evs)
		return false
	}
	t.processed[0]++
	var f forced
	var last ev
	hadLast := evs[0].info&flagEntry != 0
	hasLast := hadLast
	start := 0
	if hasLast {
		last, start = evs[0], 1
	}
	// Build the clusters of the undecided reads.
	cs := t.scratch[:0]
	member := slices.Grow(t.member[:0], len(evs))[:len(evs)]
	open := [2]int{-1, -1} // the latest cluster of each kind
	for j := start; j < len(evs); j++ {
		e := &evs[j]
		kind := 0
		if e.info&flagExit != 0 {
			kind = 1
		}
		if c := open[kind]; c >= 0 && e.ms-cs[c].lastMs <= s.dedupe {
			cs[c].last, cs[c].lastMs = j, e.ms
			cs[c].minSeg = min(cs[c].minSeg, e.pinSeg(t.segShift))
			member[j] = int32(c)
			continue
		}
		open[kind] = len(cs)
		member[j] = int32(len(cs))
		cs = append(cs, cluster{exit: kind == 1, first: j, last: j, firstMs: e.ms, lastMs: e.ms, minSeg: e.pinSeg(t.segShift)})
	}
	order := t.order[:0]
	for c := range cs {
		order = append(order, c)
	}
	if len(order) > 1 { // usually one cluster, or an entry and an exit in order
		slices.SortFunc(order, func(a, b int) int {
			ca, cb := &cs[a], &cs[b]
			return cmp.Or(cmp.Compare(ca.rep(), cb.rep()), cmp.Compare(b2i(ca.exit), b2i(cb.exit)))
		})
	}
	// A flush (wm above natural) forces the clusters up to the last exit
	// that pairs, and no further: a lone entry or an unmatched exit is no
	// decision worth forcing, and left pending it takes its stragglers.
	forceTo := -1
	if wm > natural {
		forceTo = t.lastPairing(s, cs, order, wm, hasLast, last.ms)
	}
	done := 0 // clusters processed, in order
	newLast := false
	// gl is the open group of last (replay.go), -1 while it is last alone.
	gl := int32(-1)
	if hadLast {
		gl = t.takeCur(i, last.off)
	}
	openLast := func() { // gives last an open group
		if gl < 0 {
			gl = t.newGroup()
			t.addRead(gl, last.off, i, last.pinSeg(t.segShift))
		}
	}
	join := func(c *cluster) { // adds c's reads to gl
		for j := c.first; j <= c.last; j++ {
			if &cs[member[j]] == c {
				t.addRead(gl, evs[j].off, i, evs[j].pinSeg(t.segShift))
			}
		}
		c.grouped = true
	}
	unmatched := func() { // last is decided alone, with the entries it replaced
		t.single(s, OutcomeUnmatchedEntry, key, last.ms)
		if gl >= 0 {
			f.keep(t.rp.gmins[gl])
			t.finishGroup(gl, t.rp.gmins[gl])
			gl = -1
		}
		hasLast = false
	}
	for k, ci := range order {
		c := &cs[ci]
		if c.lastMs+s.dedupe >= natural && k > forceTo {
			break // more reads may still join this cluster
		}
		done++
		c.done = true
		if c.lastMs+s.dedupe >= natural {
			f.add(c, s.dedupe)
		}
		if hasLast && c.rep()-last.ms > s.maxTravel {
			unmatched()
		}
		if !c.exit {
			// An entry replaced is decided by the new one's arrival: a
			// replay must see both, or neither.
			if hasLast {
				t.single(s, OutcomeUnmatchedEntry, key, last.ms)
				openLast()
			}
			if gl >= 0 || c.first != c.last {
				if gl < 0 {
					gl = t.newGroup()
				}
				join(c)
			}
			last, hasLast, newLast = evs[c.first], true, true
			last.info |= flagEntry
			last.setPin(c.minSeg, t.segShift)
			continue
		}
		if !hasLast {
			t.single(s, OutcomeUnmatchedExit, key, evs[c.last].ms)
			continue
		}
		pin := min(last.pinSeg(t.segShift), c.minSeg)
		hg := t.pair(i, key, &last, &evs[c.last], pin)
		openLast()
		join(c)
		if hg >= 0 {
			t.mergeGroup(hg, gl)
		} else {
			f.keep(t.rp.gmins[gl])
			t.finishGroup(gl, t.rp.gmins[gl])
		}
		gl, hasLast = -1, false
	}
	if hasLast && natural > last.ms+s.maxTravel && (done == len(order) || cs[order[done]].rep() > last.ms+s.maxTravel) {
		unmatched()
	}
	// An entry awaiting its exit needs an expiry item, unless the first
	// undecided cluster is due no later: the item of its last read (pending,
	// as the cluster is not final) brings the plate back here first. Most
	// exits are read before their entry is final, so most entries need none.
	arm := hasLast && last.info&flagArmed == 0 &&
		(done == len(order) || cs[order[done]].lastMs+s.dedupe > last.ms+s.maxTravel)
	if arm {
		last.info |= flagArmed
	}
	// Keep the entry awaiting its exit, with its open group, and the reads
	// of undecided clusters; the others leave their replay segments, those
	// of unmatched exits recorded for the skips here.
	kept := t.kept[:0]
	if hasLast {
		kept = append(kept, last)
		if newLast {
			t.segInc(last.pinSeg(t.segShift))
		}
		if gl >= 0 {
			t.putCur(i, last.off, gl)
		}
	}
	if hadLast && (!hasLast || newLast) {
		t.segDec(evs[0].pinSeg(t.segShift))
	}
	for j := start; j < len(evs); j++ {
		c := &cs[member[j]]
		if !c.done {
			kept = append(kept, evs[j])
			continue
		}
		if !c.grouped {
			t.decided(evs[j].off, i, c.minSeg)
			f.keep(c.minSeg)
		}
		t.segDec(evs[j].pinSeg(t.segShift))
	}
	t.scratch, t.member, t.order = cs, member, order
	left = len(kept) > 0 || shielded || f.any
	t.put(s, slot, kept)
	t.kept = kept[:0]
	if arm {
		t.due.push(makeDue(last.ms+s.maxTravel+1+s.lateness, i, key))
	}
	if f.any {
		t.shield(i, key, f)
	}
	return left
}

// decidePair is process for most vehicles, taking the same decisions
// without building clusters: the plate's reads evs are an undecided entry
// and an exit, both final (so each a cluster of its own, the entry first),
// no flush and no shield. The entry becomes current with its own pin and,
// unless the exit is beyond max_travel, pairs with the exit.
func (t *Tracker) decidePair(i int, key plateKey, slot int, evs []ev) {
	t.processed[1]++
	s, sh := t.secs[i], t.segShift
	last, x := evs[0], evs[1]
	last.info |= flagEntry
	if x.ms-last.ms > s.maxTravel {
		t.single(s, OutcomeUnmatchedEntry, key, last.ms)
		t.single(s, OutcomeUnmatchedExit, key, x.ms)
	} else {
		pin := min(last.pinSeg(sh), x.pinSeg(sh))
		if g := t.pair(i, key, &last, &x, pin); g >= 0 {
			t.addRead(g, last.off, i, last.pinSeg(sh))
			t.addRead(g, x.off, i, x.pinSeg(sh))
		} else {
			t.decided(last.off, i, pin)
			t.decided(x.off, i, pin)
		}
	}
	t.segDec(last.pinSeg(sh))
	t.segDec(x.pinSeg(sh))
	t.put(s, slot, nil)
}

// lastPairing returns the position in order of the last cluster final at wm
// that is an exit pairing with an entry, or -1: the same walk as process,
// without deciding.
func (t *Tracker) lastPairing(s *section, cs []cluster, order []int, wm int64, hasLast bool, lastMs int64) int {
	k := -1
	for j, ci := range order {
		c := &cs[ci]
		if c.lastMs+s.dedupe >= wm {
			break
		}
		if hasLast && c.rep()-lastMs > s.maxTravel {
			hasLast = false
		}
		switch {
		case !c.exit:
			hasLast, lastMs = true, c.firstMs
		case hasLast:
			k, hasLast = j, false
		}
	}
	return k
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func timeMs(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func (t *Tracker) single(s *section, o Outcome, key plateKey, ms int64) {
	t.emit(s, key, Decision{SectionID: s.ID, Outcome: o, At: timeMs(ms)})
}

// emit records d for the next Advance to return (which sets d.Plate from
// key), and counts it; while replaying reads from before the checkpoint it
// drops d (emitted already).
func (t *Tracker) emit(s *section, key plateKey, d Decision) {
	if t.quiet {
		return
	}
	s.outcomes[d.Outcome].Inc()
	t.ord = append(t.ord, outKey{ms: d.At.UnixMilli(), rank: s.rank, key: key, i: int32(len(t.out))})
	t.out = append(t.out, d)
}

// pair decides an entry-exit pair (SPEC §6). The checks run in the driver's
// favour: anomalies first, then the speed, then the certificates. pin is the
// earliest replay segment of a read of the pair's clusters (for routes). It
// returns the open group for the pair's reads if the violation is held
// (route.go), else -1.
func (t *Tracker) pair(i int, key plateKey, e, x *ev, pin int64) int32 {
	s := t.secs[i]
	d := Decision{SectionID: s.ID, At: timeMs(x.ms)}
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
		case corrected <= s.limitAt(e.ms, e.class(), x.class()):
			d.Outcome = OutcomeCompliant // no limit during the passage is lower than the one at entry
		}
	}
	if d.Outcome == OutcomeViolation {
		limit, why := s.limit(e.ms, x.ms, e.class(), x.class())
		switch {
		case corrected <= limit:
			d.Outcome = OutcomeCompliant
		case !t.certs[e.cam].ValidAt(time.UnixMilli(e.ms)) || !t.certs[x.cam].ValidAt(time.UnixMilli(x.ms)):
			d.Outcome, d.Why = OutcomeAnnulled, "certificate"
		default:
			d.Violation = t.violation(s, key, e, x, measured, margin, corrected, limit, why)
			if s.route >= 0 {
				return t.hold(s, key, d, e.ms, x.ms, pin, corrected-limit)
			}
		}
	}
	t.emit(s, key, d)
	return -1
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

// evict drops the plate states whose next due item is the earliest across
// sections (the oldest, in practice) until MaxPending holds, recording each
// as a mark so that a replay evicts the same states.
func (t *Tracker) evict(offset int64) {
	if t.pending <= t.maxPend {
		return
	}
	parked := t.parked[:0]
	defer func() {
		for _, it := range parked {
			t.due.push(it) // a shield's expiry
		}
		t.parked = parked[:0]
	}()
	for t.pending > t.maxPend {
		it, _, ok := t.due.pop(math.MaxInt64) // a redundant item's plate still has state to evict
		if !ok {
			break
		}
		i := it.sec()
		if !t.secs[i].has(it.key) {
			if t.secs[i].shields.find(it.key) >= 0 {
				parked = append(parked, it)
			}
			continue
		}
		t.record(mark{off: offset, sec: i, kind: markEvict, v: int64(it.key)})
		t.evictState(i, it.key)
	}
}

func (t *Tracker) evictState(i int, key plateKey) {
	s := t.secs[i]
	slot, evs := t.get(s, key)
	if evs == nil {
		return
	}
	ms := evs[0].ms
	lo := int64(math.MaxInt64)
	for j := range evs {
		lo = min(lo, evs[j].pinSeg(t.segShift))
	}
	if evs[0].info&flagEntry != 0 {
		if g := t.takeCur(i, evs[0].off); g >= 0 {
			t.finishGroup(g, min(lo, t.rp.gmins[g]))
		}
	}
	for j := range evs {
		t.decided(evs[j].off, i, lo)
		t.segDec(evs[j].pinSeg(t.segShift))
	}
	t.put(s, slot, nil)
	if !t.quiet {
		t.m.evicted()
	}
	t.single(s, OutcomeEvicted, key, ms)
}
