package sectioncontrol

import (
	"cmp"
	"math"
	"slices"
)

// Routes (route_policy highest). A violation of a route's section is held,
// not emitted, until its traversal can grow no more; then the traversal's
// highest violation is emitted and the others are superseded (doc.go,
// Routes).

// route is one Config route: its sections in configuration order.
type route struct {
	secs []int   // section indices, in route order
	cum  []int64 // cum[p]: the sum of the max_travel (ms) of secs[:p]
	held map[plateKey][]held
}

// held is a violation waiting for the end of its traversal.
type held struct {
	d           Decision
	pos         int // in the route
	entry, exit int64
	excess      float64 // corrected − limit
	pin         int64   // the earliest replay segment of a read of the pair, live while held
	grp         int32   // the open group of the pair's reads, decided with the traversal (replay.go)
}

// compileRoutes groups the sections by route, under route_policy highest.
func (t *Tracker) compileRoutes(policy string) {
	for _, s := range t.secs {
		s.route = -1
	}
	if policy != RouteHighest {
		return
	}
	byName := map[string]int{}
	for i, s := range t.secs {
		if s.Route == "" {
			continue
		}
		ri, ok := byName[s.Route]
		if !ok {
			ri = len(t.routes)
			byName[s.Route] = ri
			t.routes = append(t.routes, &route{cum: []int64{0}, held: map[plateKey][]held{}})
		}
		r := t.routes[ri]
		s.route, s.pos = ri, len(r.secs)
		r.secs = append(r.secs, i)
		r.cum = append(r.cum, r.cum[len(r.cum)-1]+s.maxTravel)
	}
}

// links reports whether b continues a traversal whose last violation is a:
// a later section of the route, entered at or after a's exit, and b's exit
// within the sum of the max_travel of the sections from a's to b's.
func (r *route) links(a, b *held) bool {
	return b.pos > a.pos && b.entry >= a.exit && b.exit-a.entry <= r.cum[b.pos+1]-r.cum[a.pos]
}

// readyAt is the newest capture time from which no violation can join a
// traversal ending with h any more: every route section's watermark has
// passed, by dedupe, the latest exit that could still link (h's entry plus
// the max_travel from h's section to it; h's entry for the sections before,
// whose linking exits precede it).
func (t *Tracker) readyAt(r *route, h *held) int64 {
	at := int64(math.MinInt64)
	for p, i := range r.secs {
		s := t.secs[i]
		d := h.entry
		if p > h.pos {
			d += r.cum[p+1] - r.cum[h.pos]
		}
		at = max(at, d+s.dedupe+s.lateness+1)
	}
	return at
}

// hold keeps the violation d of key in section s until its traversal ends,
// and returns the open group for the reads of its pair.
func (t *Tracker) hold(s *section, key plateKey, d Decision, entry, exit, pin int64, excess float64) int32 {
	r := t.routes[s.route]
	h := held{d: d, pos: s.pos, entry: entry, exit: exit, excess: excess, pin: pin, grp: t.newGroup()}
	hs := r.held[key]
	j, _ := slices.BinarySearchFunc(hs, &h, cmpHeld)
	r.held[key] = slices.Insert(hs, j, h)
	t.segInc(pin)
	t.routeDue.push(makeDue(t.readyAt(r, &h), s.route, key))
	return h.grp
}

// cmpHeld orders held violations by exit, then route position and entry.
func cmpHeld(a held, b *held) int {
	return cmp.Or(cmp.Compare(a.exit, b.exit), cmp.Compare(a.pos, b.pos), cmp.Compare(a.entry, b.entry))
}

// resolveRoutes ends the traversals that can grow no more.
func (t *Tracker) resolveRoutes() {
	for len(t.routeDue) > 0 && t.routeDue[0].trigger() <= t.maxSeen {
		it := t.routeDue.pop()
		t.resolve(it.sec(), it.key)
	}
}

// resolve groups key's held violations on route ri into traversals, in
// exit order (each joins the first traversal whose last violation it
// links, else starts one), and decides every traversal that is ready: its
// highest excess is the violation (a tie goes to the earliest exit), the
// others are superseded.
func (t *Tracker) resolve(ri int, key plateKey) {
	r := t.routes[ri]
	hs := r.held[key]
	if len(hs) == 0 {
		return
	}
	chain := slices.Grow(t.chain[:0], len(hs))[:len(hs)]
	lasts := t.lasts[:0]
	for j := range hs {
		c := slices.IndexFunc(lasts, func(l int) bool { return r.links(&hs[l], &hs[j]) })
		if c < 0 {
			c = len(lasts)
			lasts = append(lasts, j)
		}
		lasts[c] = j
		chain[j] = c
	}
	kept := hs[:0]
	for c, l := range lasts {
		if at := t.readyAt(r, &hs[l]); t.maxSeen < at {
			t.routeDue.push(makeDue(at, ri, key))
			lasts[c] = -1
			continue
		}
		// A traversal is decided as one group: a replay that rebuilt part
		// of it would link its violations otherwise.
		best, gmin := -1, int64(math.MaxInt64)
		for j := range hs {
			if chain[j] == c {
				gmin = min(gmin, hs[j].pin, t.rp.gmins[hs[j].grp])
				if best < 0 || hs[j].excess > hs[best].excess {
					best = j
				}
			}
		}
		for j := range hs {
			if chain[j] != c {
				continue
			}
			h := &hs[j]
			d := h.d
			if j != best {
				d.Outcome, d.Why, d.Violation = OutcomeSuperseded, hs[best].d.Violation.ID, nil
			}
			t.emit(t.secs[r.secs[h.pos]], key, d)
			t.finishGroup(h.grp, gmin)
			t.segDec(h.pin)
		}
	}
	for j := range hs {
		if lasts[chain[j]] == -1 {
			kept = append(kept, hs[j])
		}
	}
	clear(hs[len(kept):])
	if len(kept) == 0 {
		delete(r.held, key)
	} else {
		r.held[key] = kept
	}
	t.chain, t.lasts = chain[:0], lasts[:0]
}
