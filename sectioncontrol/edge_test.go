package sectioncontrol

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// The edges of pairing and finality, in milliseconds: section S1 of
// edgeConfig has dedupe 10 s, max_travel 90 s and max_lateness 2 m.
const (
	edgeDedupe   = 10_000
	edgeTravel   = 90_000
	edgeLateness = 120_000
)

// edgeReadDue is readDue in S1: the newest capture time at which a read
// captured at ms is final, unless another read joins its cluster.
func edgeReadDue(ms int64) int64 { return ms + edgeDedupe + 1 + edgeLateness }

// edgeExpiry is when the newest capture time expires an entry captured at
// ms that has no exit: its watermark passes ms + max_travel.
func edgeExpiry(ms int64) int64 { return ms + edgeTravel + 1 + edgeLateness }

// edgeConfig is S1 (entries A1, A2, exits B1, B2; 4000 m, limit 120: a
// pair at max_travel is 160 km/h, a violation) with short windows, and S2,
// whose entry camera T1 moves the newest capture time (the watermark of
// S1) without touching S1's state: a "tick".
func edgeConfig() Config {
	cfg := benchConfig()
	s := &cfg.Sections[0]
	s.LengthM = 4000
	s.Dedupe = edgeDedupe * time.Millisecond
	s.MaxTravel = edgeTravel * time.Millisecond
	s.MaxLateness = edgeLateness * time.Millisecond
	cfg.Sections = append(cfg.Sections, Section{ID: "S2", Entry: []string{"T1"}, Exit: []string{"T2"}, LengthM: 1000, LimitKmh: 120,
		Dedupe: s.Dedupe, MaxLateness: s.MaxLateness})
	return cfg
}

// allFast switches every fast path of the Tracker off (general) or on:
// decidePair, packed pairs and skipped due items.
func allFast(tr *Tracker, general bool) { tr.noFast, tr.noPair, tr.noSkip = general, general, general }

// edgeDay is the day of the edge cases; edgeAt(clock) is a time of it in ms.
var edgeDay = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

func edgeAt(t *testing.T, clock string) int64 {
	t.Helper()
	tod, err := time.Parse("15:04:05.000", clock)
	if err != nil {
		t.Fatal(err)
	}
	return edgeDay.Add(time.Duration(tod.Hour())*time.Hour + time.Duration(tod.Minute())*time.Minute +
		time.Duration(tod.Second())*time.Second + time.Duration(tod.Nanosecond())).UnixMilli()
}

// TestEdgeOutcomes checks hand-computed decisions (SPEC §6) of reads exactly
// at, and a millisecond either side of, max_travel, dedupe, max_lateness and
// the moment a cluster becomes final, with every fast path on and off
// (compareFast), and when each is taken. Each read is observed and followed
// by an Advance; want are the decisions of S1 that Advance returns. T1 reads
// only move the watermark (S1's is the newest capture time minus 2 m).
func TestEdgeOutcomes(t *testing.T) {
	type op struct {
		clock, cam string // plate P; cam T1: a tick
		want       []string
	}
	const (
		entry     = "entry=A1/20261122T070000.000Z/1"
		at90s     = "measured=160.00 corrected=150 limit=120 reason=base" // 4000 m in 90 s or 89.999 s
		at80s     = "measured=180.00 corrected=169 limit=120 reason=base" // in 80 s or 79.999 s
		x0130     = "2026-11-22T07:01:30.000Z S1 P violation " + at90s
		x0120     = "2026-11-22T07:01:20.000Z S1 P violation " + at80s + " " + entry + " exit=B1/20261122T070120.000Z/1"
		unmatched = "2026-11-22T07:00:00.000Z S1 P unmatched_entry"
	)
	for _, c := range []struct {
		name string
		fast bool // decidePair decides the pair (else the general path takes every decision)
		ops  []op
	}{
		{"exit at max_travel pairs", true, []op{
			{"07:00:00.000", "A1", nil},
			{"07:01:30.000", "B1", nil},
			{"07:03:40.001", "T1", []string{x0130 + " " + entry + " exit=B1/20261122T070130.000Z/1"}}, // readDue of the exit
		}},
		{"exit a ms before max_travel pairs", true, []op{
			{"07:00:00.000", "A1", nil},
			{"07:01:29.999", "B1", nil},
			{"07:03:40.000", "T1", []string{"2026-11-22T07:01:29.999Z S1 P violation " + at90s + " " + entry + " exit=B1/20261122T070129.999Z/1"}},
		}},
		{"exit a ms after max_travel pairs with nothing", true, []op{
			{"07:00:00.000", "A1", nil},
			{"07:01:30.001", "B1", nil},
			{"07:03:40.002", "T1", []string{unmatched, "2026-11-22T07:01:30.001Z S1 P unmatched_exit"}},
		}},
		{"exit at the entry's millisecond is an anomaly", true, []op{
			{"07:00:00.000", "A1", nil},
			{"07:00:00.000", "B1", nil},
			{"07:02:10.001", "T1", []string{"2026-11-22T07:00:00.000Z S1 P anomaly why=duration"}},
		}},
		{"exit at max_travel final only at its readDue", false, []op{
			{"07:00:00.000", "A1", nil},
			{"07:01:30.000", "B1", nil},
			{"07:03:40.000", "T1", nil}, // the watermark is at the exit plus dedupe: a read there would join it
			{"07:03:40.001", "T1", []string{x0130 + " " + entry + " exit=B1/20261122T070130.000Z/1"}},
		}},
		// The exit read first (its entry's item is not skipped): the entry's
		// item is processed with the watermark exactly at the exit plus
		// dedupe, where the pair is not final: a second exit read captured
		// at the watermark is not late and joins the exit, exactly dedupe
		// after it.
		{"exit not final at its dedupe edge, a read joins it", false, []op{
			{"07:01:20.000", "B1", nil},
			{"07:00:00.000", "A1", nil},
			{"07:03:30.000", "T1", nil},
			{"07:01:30.000", "B2", nil},
			{"07:03:30.001", "T1", nil}, // the first exit's readDue: its cluster grew
			{"07:03:40.000", "T1", nil},
			{"07:03:40.001", "T1", []string{x0130 + " " + entry + " exit=B2/20261122T070130.000Z/1"}},
		}},
		{"a read a ms more than max_lateness late is ignored", false, []op{
			{"07:01:20.000", "B1", nil},
			{"07:00:00.000", "A1", nil},
			{"07:03:30.000", "T1", nil},
			{"07:01:29.999", "B2", nil}, // before the watermark
			{"07:03:30.001", "T1", []string{x0120}},
		}},
		{"an exit read dedupe and a ms after the first is an exit of its own", false, []op{
			{"07:01:20.000", "B1", nil},
			{"07:00:00.000", "A1", nil},
			{"07:03:30.000", "T1", nil},
			{"07:01:30.001", "B2", nil},
			{"07:03:30.001", "T1", []string{x0120}},
			{"07:03:40.001", "T1", nil},
			{"07:03:40.002", "T1", []string{"2026-11-22T07:01:30.001Z S1 P unmatched_exit"}},
		}},
		{"an entry read dedupe after the first joins it", false, []op{
			{"07:00:00.000", "A1", nil},
			{"07:00:10.000", "A2", nil},
			{"07:01:30.000", "B1", nil},
			{"07:03:40.001", "T1", []string{x0130 + " " + entry + " exit=B1/20261122T070130.000Z/1"}},
		}},
		{"an entry read dedupe and a ms after the first replaces it", false, []op{
			{"07:00:00.000", "A1", nil},
			{"07:00:10.001", "A2", nil},
			{"07:01:30.000", "B1", nil},
			{"07:03:40.001", "T1", []string{unmatched, // 79.999 s
				"2026-11-22T07:01:30.000Z S1 P violation " + at80s + " entry=A2/20261122T070010.001Z/1 exit=B1/20261122T070130.000Z/1"}},
		}},
		{"an exit exactly max_lateness late pairs", false, []op{
			{"07:00:00.000", "A1", nil},
			{"07:03:20.000", "T1", nil}, // the entry is final and current
			{"07:01:20.000", "B1", nil}, // at the watermark
			{"07:03:30.000", "T1", nil},
			{"07:03:30.001", "T1", []string{x0120}}, // the exit's readDue and the entry's expiry
		}},
		{"an exit a ms more than max_lateness late is ignored, the entry expires", false, []op{
			{"07:00:00.000", "A1", nil},
			{"07:03:20.000", "T1", nil},
			{"07:01:19.999", "B1", nil},
			{"07:03:30.000", "T1", nil}, // the watermark at entry + max_travel: not expired
			{"07:03:30.001", "T1", []string{unmatched}},
		}},
		{"an entry exactly max_lateness late pairs", true, []op{
			{"07:01:30.000", "B1", nil},
			{"07:02:00.000", "T1", nil},
			{"07:00:00.000", "A1", nil}, // at the watermark
			{"07:03:40.001", "T1", []string{x0130 + " " + entry + " exit=B1/20261122T070130.000Z/1"}},
		}},
		{"an entry a ms more than max_lateness late is ignored", false, []op{
			{"07:01:30.000", "B1", nil},
			{"07:02:00.001", "T1", nil},
			{"07:00:00.000", "A1", nil},
			{"07:03:40.001", "T1", []string{"2026-11-22T07:01:30.000Z S1 P unmatched_exit"}},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var steps []diffStep
			for i, o := range c.ops {
				p := "P"
				if o.cam == "T1" {
					p = "TICK"
				}
				steps = append(steps, diffStep{r: benchRead(o.cam, time.UnixMilli(edgeAt(t, o.clock)).UTC(), p), off: int64(i), what: fmt.Sprintf("op %d", i)})
			}
			taken, _, decided := compareFast(t, c.name, edgeConfig(), steps, allFast, countFastPair)
			for i, ds := range decided {
				var got, want []string
				for _, d := range ds {
					if d.SectionID != "S1" {
						continue
					}
					if d.Violation != nil { // the read ids from the "store", as the engine does: which reads paired
						v := *d.Violation
						v.Entry.ReadID, v.Exit.ReadID = steps[v.EntryOffset].r.ReadID, steps[v.ExitOffset].r.ReadID
						d.Violation = &v
					}
					got = append(got, formatDecision(&d, false))
				}
				if i < len(c.ops) {
					want = c.ops[i].want
				}
				if !slices.Equal(got, want) {
					at := "the final flush"
					if i < len(c.ops) {
						at = fmt.Sprintf("%s %s", c.ops[i].clock, c.ops[i].cam)
					}
					t.Errorf("after %s:\ngot  %s\nwant %s", at, strings.Join(got, "\n     "), strings.Join(want, "\n     "))
				}
			}
			if c.fast != (taken > 0) {
				t.Errorf("decidePair taken %d times, want it taken: %v", taken, c.fast)
			}
		})
	}
}

// TestEdgesChangeNothing is the differential test of the fast paths
// (compareFast) on a workload drawn from the edges only: each case is one
// plate's entry and exit, the exit -1, 0 and +1 ms around 0, dedupe,
// max_travel - dedupe (where insert skips the entry's item) and
// max_travel; observed entry first or exit first; with a second entry or
// exit read -1, 0, +1 ms around dedupe after the first, observed with the
// pair or after the first tick (then around max_lateness late); and ticks
// of the watermark landing exactly on, and a ms either side of, the due
// times of the reads (readDue, the entry's expiry) or a read's arrival
// exactly max_lateness late, one step at a time or in one jump.
func TestEdgesChangeNothing(t *testing.T) {
	steps, cases := edgeSteps()
	for _, c := range []struct {
		name  string
		set   func(tr *Tracker, general bool)
		count func(tr *Tracker) (taken, not int)
	}{
		{"decidePair", func(tr *Tracker, general bool) { tr.noFast = general }, countFastPair},
		{"packed pairs", func(tr *Tracker, general bool) { tr.noPair = general }, countPacked},
		{"skipped items", func(tr *Tracker, general bool) { tr.noSkip = general }, func(tr *Tracker) (taken, not int) {
			taken, not = tr.skipped, tr.processed[0]+tr.processed[1] // items skipped, and processed
			tr.skipped, tr.processed = 0, [2]int{}
			return taken, not
		}},
		{"all", allFast, countFastPair},
	} {
		t.Run(c.name, func(t *testing.T) {
			taken, not, _ := compareFast(t, c.name, edgeConfig(), steps, c.set, c.count)
			// Each path for at least a tenth of the cases, or the workload misses the test.
			if taken < cases/10 || not < cases/10 {
				t.Fatalf("fast path taken %d times, not %d, in %d cases: the workload is wrong", taken, not, cases)
			}
		})
	}
}

// edgeCase is one plate's case of TestEdgesChangeNothing.
type edgeCase struct {
	d         int64  // exit - entry, ms
	exitFirst bool   // the exit observed first
	extra     int    // 0: none, else a second read (edgeExtras)
	lateExtra bool   // the second read observed after the first tick, not with the pair
	lead      bool   // a tick just before the case: a due item in the queue, without which insert cannot skip the entry's item
	country   string // of the exit: "" does not pack
	plan      int    // the ticks (edgeSteps)
}

// edgeExtras are the second reads: another entry or exit dedupe -1, 0 and +1 ms
// after the first.
var edgeExtras = []struct {
	cam      string
	exit     bool
	dedupeBy int64
}{{}, {"B2", true, -1}, {"B2", true, 0}, {"B2", true, 1}, {"A2", false, -1}, {"A2", false, 0}, {"A2", false, 1}}

// edgeSteps returns the reads of TestEdgesChangeNothing and the number of
// cases: every combination of edgeCase's values. The cases are 10 minutes
// apart, so that each begins after the previous one's reads are final.
func edgeSteps() (steps []diffStep, cases int) {
	const D, T, L = edgeDedupe, edgeTravel, edgeLateness
	var all []edgeCase
	for _, d := range []int64{-1, 0, 1, D - 1, D, D + 1, T - D - 1, T - D, T - D + 1, T - 1, T, T + 1} {
		for v := range 2 * 2 * 2 * 2 * len(edgeExtras) {
			c := edgeCase{d: d, exitFirst: v&1 != 0, lateExtra: v&2 != 0, lead: v&4 != 0, country: []string{"BE", ""}[v>>3&1], extra: v >> 4}
			if c.extra == 0 && c.lateExtra {
				continue
			}
			for plan := range 8 {
				c.plan = plan
				all = append(all, c)
			}
		}
	}
	t0 := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC).UnixMilli()
	newest := int64(0)
	var what string
	read := func(cam, p, country string, ms int64) {
		r := benchRead(cam, time.UnixMilli(ms).UTC(), p)
		r.Country = country
		steps = append(steps, diffStep{r: r, off: int64(len(steps)), what: what})
		newest = max(newest, ms)
	}
	tick := func(ms int64) {
		if ms > newest { // an earlier one would not move the watermark
			read("T1", "TICK", "BE", ms)
		}
	}
	around := func(ms ...int64) (out []int64) {
		for _, m := range ms {
			out = append(out, m-1, m, m+1)
		}
		return out
	}
	for k, c := range all {
		e := t0 + int64(k)*600_000
		x := e + c.d
		p := fmt.Sprintf("E%04d", k)
		what = fmt.Sprintf("case %d %+v", k, c)
		if c.lead {
			// The first tick's item goes to the queue's heap (pushed while
			// the previous case's items fill the ring); the second's, pushed
			// into the ring the first one's sweep emptied, keeps it placed
			// before the entry's item.
			tick(min(e, x) - 1000)
			tick(min(e, x) - 999)
		}
		first, second := func() { read("A1", p, "BE", e) }, func() { read("B1", p, c.country, x) }
		secondMs := x
		if c.exitFirst {
			first, second, secondMs = second, first, e
		}
		first()
		var ticks []int64
		switch c.plan {
		case 0:
			ticks = []int64{edgeReadDue(x)}
		case 1:
			ticks = []int64{edgeReadDue(x) - 1, edgeReadDue(x)}
		case 2:
			ticks = []int64{edgeReadDue(x) + 1}
		case 3:
			ticks = around(edgeReadDue(e), edgeReadDue(x))
		case 4:
			ticks = around(edgeExpiry(e), edgeReadDue(x))
		default: // the pair's second read exactly max_lateness late, a ms more or less
			tick(secondMs + L + int64(c.plan-6))
			ticks = around(edgeReadDue(x))
		}
		second()
		slices.Sort(ticks)
		xr := edgeExtras[c.extra]
		extraMs := e + D + xr.dedupeBy
		if xr.exit {
			extraMs = x + D + xr.dedupeBy
		}
		extra := func() {
			if xr.cam != "" {
				read(xr.cam, p, "BE", extraMs)
			}
		}
		if !c.lateExtra {
			extra()
		}
		for i, tk := range ticks {
			tick(tk)
			if i == 0 && c.lateExtra {
				extra()
			}
		}
		if xr.cam != "" {
			for _, tk := range around(edgeReadDue(extraMs)) {
				tick(tk)
			}
		}
	}
	return steps, len(all)
}
