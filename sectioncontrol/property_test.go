package sectioncontrol

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/anpr/anpr/plate"
)

// propConfig has schedules crossing the autumn daylight-saving change and a
// class limit, so the property tests cover every limit rule.
func propConfig(t *testing.T) Config {
	loc, err := time.LoadLocation("Europe/Brussels")
	if err != nil {
		t.Fatal(err)
	}
	cfg := benchConfig()
	s := &cfg.Sections[0]
	s.Location = loc
	s.LengthM = 2000
	s.Schedule = []Window{
		{From: 2 * time.Hour, To: 2*time.Hour + 30*time.Minute, LimitKmh: 100},
		{From: 2*time.Hour + 45*time.Minute, To: 3 * time.Hour, LimitKmh: 90},
		{From: 23 * time.Hour, To: 2*time.Hour + 10*time.Minute, LimitKmh: 110},
	}
	cfg.Cameras[3].Certificate.ValidUntil = time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC)
	return cfg
}

// traffic returns random reads around the 2026 autumn DST change: plates
// passing once or twice, with duplicate reads at both ends, missing reads,
// trucks and cars, speeds from 40 to 300 km/h over 2000 m.
func traffic(rng *rand.Rand, vehicles int) []plate.Read {
	t0 := time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC)
	var reads []plate.Read
	add := func(cam string, ts time.Time, p, class string) {
		r := benchRead(cam, ts, p)
		r.ReadID = fmt.Sprintf("%s/%d/%d", cam, ts.UnixMilli(), len(reads))
		r.VehicleClass = class
		reads = append(reads, r)
	}
	for i := range vehicles {
		p := fmt.Sprintf("R%03d", i%40)
		te := t0.Add(time.Duration(rng.Int64N(int64(2 * time.Hour))))
		classes := [2]string{plate.ClassCar, plate.ClassTruck}
		ce, cx := classes[rng.IntN(2)], classes[rng.IntN(2)]
		travel := time.Duration(2000 / (40 + rng.Float64()*260) * 3.6 * float64(time.Second)).Truncate(time.Millisecond)
		if rng.IntN(10) > 0 {
			for range 1 + rng.IntN(3) {
				add([]string{"A1", "A2"}[rng.IntN(2)], te.Add(time.Duration(rng.Int64N(int64(20*time.Second)))), p, ce)
			}
		}
		if rng.IntN(10) > 0 {
			for range 1 + rng.IntN(3) {
				add([]string{"B1", "B2"}[rng.IntN(2)], te.Add(travel+time.Duration(rng.Int64N(int64(20*time.Second)))), p, cx)
			}
		}
	}
	return reads
}

// feed runs reads through a new Tracker in batches of 2 and returns every
// decision formatted, sorted.
func feed(t *testing.T, cfg Config, reads []plate.Read) ([]string, []*Violation) {
	tr, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var vs []*Violation
	now := time.Unix(0, 0)
	take := func(ds []Decision) {
		for i := range ds {
			s := formatDecision(&ds[i], false)
			if v := ds[i].Violation; v != nil {
				s += " " + v.ID
				vs = append(vs, v)
			}
			got = append(got, s)
		}
	}
	for i := range reads {
		tr.Observe(&reads[i], int64(i))
		if i%2 == 1 {
			now = now.Add(time.Millisecond)
			take(tr.Advance(now))
		}
	}
	now = now.Add(time.Millisecond)
	take(tr.Advance(now))
	take(tr.Advance(now.Add(time.Hour)))
	if tr.Pending() != 0 && tr.Pending() > 40 {
		t.Errorf("pending %d after the flush, want ≤ 40 (entries awaiting exits)", tr.Pending())
	}
	slices.Sort(got)
	return got, vs
}

// TestShuffleWithinLateness: reads delayed by less than max_lateness give
// exactly the decisions of capture order.
func TestShuffleWithinLateness(t *testing.T) {
	cfg := propConfig(t)
	lateness := 2 * time.Minute
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		reads := traffic(rng, 1000)
		slices.SortStableFunc(reads, func(a, b plate.Read) int { return a.TS.Compare(b.TS) })
		want, _ := feed(t, cfg, reads)
		type arrival struct {
			at time.Time
			r  plate.Read
		}
		as := make([]arrival, len(reads))
		for i, r := range reads {
			as[i] = arrival{r.TS.Add(time.Duration(rng.Int64N(int64(lateness)))), r}
		}
		slices.SortStableFunc(as, func(a, b arrival) int { return a.at.Compare(b.at) })
		for i := range as {
			reads[i] = as[i].r
		}
		got, _ := feed(t, cfg, reads)
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d: shuffled decisions differ:\ngot  %q\nwant %q", seed, got, want)
		}
		if len(want) < 100 {
			t.Fatalf("seed %d: only %d decisions: the traffic is too thin", seed, len(want))
		}
	}
}

// TestViolationsRecompute: every violation's corrected speed and limit can
// be recomputed from its own evidence, here by brute force over every second
// of the passage, independently of the Tracker's limit search.
func TestViolationsRecompute(t *testing.T) {
	cfg := propConfig(t)
	s := cfg.Sections[0]
	n := 0
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 2))
		reads := traffic(rng, 1000)
		slices.SortStableFunc(reads, func(a, b plate.Read) int { return a.TS.Compare(b.TS) })
		_, vs := feed(t, cfg, reads)
		for _, v := range vs {
			n++
			dur := v.Exit.TS.Sub(v.Entry.TS)
			measured := s.LengthM / dur.Seconds() * 3.6
			margin := 6.0
			if measured > 100 {
				margin = measured * 0.06
			}
			corrected := math.Floor(measured - margin)
			limit := 0.0
			for ts := v.Entry.TS; !ts.After(v.Exit.TS); ts = ts.Add(time.Second).Truncate(time.Second) {
				limit = max(limit, bruteLimit(s, ts, v.Entry.VehicleClass, v.Exit.VehicleClass))
			}
			limit = max(limit, bruteLimit(s, v.Exit.TS, v.Entry.VehicleClass, v.Exit.VehicleClass))
			if v.CorrectedKmh != corrected || v.LimitKmh != limit || !(corrected > limit) || v.ID != ViolationID(s.ID, v.Plate, v.Entry.CameraID, v.Entry.TS.UnixMilli(), v.Exit.CameraID, v.Exit.TS.UnixMilli()) {
				t.Errorf("%s: got corrected %v limit %v (%s), recomputed corrected %v limit %v",
					v.ID, v.CorrectedKmh, v.LimitKmh, v.LimitReason, corrected, limit)
			}
			if v.Entry.CameraID == "B2" || v.Exit.CameraID == "B2" && !v.Exit.TS.Before(cfg.Cameras[3].Certificate.ValidUntil) {
				t.Errorf("%s: exit camera B2 without a valid certificate at %v", v.ID, v.Exit.TS)
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d violations checked", n)
	}
}

func bruteLimit(s Section, ts time.Time, a, b string) float64 {
	l := s.LimitKmh
	local := ts.In(s.Location)
	tod := time.Duration(local.Hour())*time.Hour + time.Duration(local.Minute())*time.Minute + time.Duration(local.Second())*time.Second
	inWindow := false
	for _, w := range s.Schedule {
		in := w.From <= tod && tod < w.To
		if w.To <= w.From {
			in = tod >= w.From || tod < w.To
		}
		if in && (!inWindow || w.LimitKmh > l) {
			l, inWindow = w.LimitKmh, true
		}
	}
	if a == b {
		if cl, ok := s.ClassLimits[a]; ok {
			l = min(l, cl)
		}
	}
	return l
}

// TestIdleFlushLosesNothing: in traffic whose reads arrive up to 2 s out of
// order, with idle flushes in every pause of 5 s, the pair decisions are
// exactly those of the same reads without any flush. (An idle flush used to
// move the lateness watermark past the newest read plus dedupe, dropping
// every read of the next 30 s of capture time.)
func TestIdleFlushLosesNothing(t *testing.T) {
	cfg := benchConfig()
	type arrival struct {
		at time.Time
		r  plate.Read
	}
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 5))
		t0 := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
		var as []arrival
		add := func(cam string, ts time.Time, p string) {
			r := benchRead(cam, ts, p)
			as = append(as, arrival{ts.Add(time.Duration(rng.Int64N(int64(2 * time.Second)))), r})
		}
		te := t0
		for i := range 300 {
			te = te.Add(time.Duration(rng.ExpFloat64() * float64(8*time.Second))).Truncate(time.Millisecond)
			p := fmt.Sprintf("N%03d", i)
			tx := te.Add(time.Duration(20+rng.IntN(20)) * time.Second)
			add("A1", te, p)
			add("B1", tx, p)
			if rng.IntN(3) == 0 {
				add("A2", te.Add(time.Duration(rng.IntN(1000))*time.Millisecond), p)
				add("B2", tx.Add(time.Duration(rng.IntN(1000))*time.Millisecond), p)
			}
		}
		slices.SortStableFunc(as, func(a, b arrival) int { return a.at.Compare(b.at) })
		run := func(flush bool) (pairs []string, pauses int) {
			tr, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			take := func(ds []Decision) {
				for i := range ds {
					if o := ds[i].Outcome; o != OutcomeUnmatchedEntry && o != OutcomeUnmatchedExit {
						pairs = append(pairs, formatDecision(&ds[i], false))
					}
				}
			}
			clock := func(at time.Time) time.Time {
				if flush {
					return at
				}
				return t0 // never idle
			}
			for i := range as {
				if i > 0 && as[i].at.Sub(as[i-1].at) >= 5*time.Second {
					pauses++
				}
				take(tr.Advance(clock(as[i].at))) // flushes after a pause
				tr.Observe(&as[i].r, int64(i))
				take(tr.Advance(clock(as[i].at)))
			}
			take(tr.Advance(as[len(as)-1].at.Add(time.Minute)))
			slices.Sort(pairs)
			return pairs, pauses
		}
		want, _ := run(false)
		got, pauses := run(true)
		if pauses < 50 || len(want) < 250 {
			t.Fatalf("seed %d: %d pauses, %d pairs: the traffic is wrong", seed, pauses, len(want))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d: pairs with idle flushes differ from pairs without:\ngot  %d %q\nwant %d %q", seed, len(got), got, len(want), want)
		}
	}
}

// TestSkipChangesNothing: skipping redundant due items (Tracker.insert)
// changes no decision, no Advance it comes out of, no pending count and no
// checkpoint. The traffic is made to meet every case the skip must respect:
// a short max_travel (expiries), an exit cluster that grows past the
// entry's expiry, an earlier entry read arriving after the exit, duplicates,
// plates passing again, reads delayed up to max_lateness; with evictions (a
// small MaxPending) and idle flushes (pauses in the input).
func TestSkipChangesNothing(t *testing.T) {
	cfg := benchConfig()
	cfg.Sections[0].MaxTravel = 90 * time.Second
	cfg.Sections[0].Dedupe = 10 * time.Second
	t0 := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	for seed := range uint64(12) {
		rng := rand.New(rand.NewPCG(seed, 7))
		cfg.MaxPending = 0
		if seed%3 == 1 {
			cfg.MaxPending = 60
		}
		type arrival struct {
			at time.Time
			r  plate.Read
		}
		var as []arrival
		add := func(cam string, ts time.Time, p string) {
			as = append(as, arrival{ts.Add(time.Duration(rng.Int64N(int64(2 * time.Minute)))), benchRead(cam, ts, p)})
		}
		for i := range 800 {
			p := fmt.Sprintf("K%03d", rng.IntN(150))
			te := t0.Add(time.Duration(i) * 2 * time.Second).Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
			tx := te.Add(time.Duration(20+rng.IntN(100)) * time.Second)
			if rng.IntN(4) == 0 {
				add("A2", te.Add(-time.Duration(rng.IntN(40))*time.Second), p) // an earlier entry read
			}
			for k := range 1 + rng.IntN(3) {
				if k == 0 || rng.IntN(2) == 0 {
					add("A1", te.Add(time.Duration(k*rng.IntN(9000))*time.Millisecond), p)
				}
			}
			for k := range rng.IntN(4) {
				add("B1", tx.Add(time.Duration(k*rng.IntN(9000))*time.Millisecond), p) // a cluster that may grow past the expiry
			}
		}
		slices.SortStableFunc(as, func(a, b arrival) int { return a.at.Compare(b.at) })
		run := func(noSkip bool) (out []string, skipped int) {
			tr, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			tr.noSkip = noSkip
			idle := rand.New(rand.NewPCG(seed, 8))
			now := time.Unix(0, 0)
			for i := range as {
				tr.Observe(&as[i].r, int64(i))
				if seed%2 == 1 && idle.IntN(50) == 0 {
					now = now.Add(time.Minute) // idle: a flush
				}
				now = now.Add(time.Millisecond)
				line := fmt.Sprintf("%d pending=%d cp=%x:", i, tr.Pending(), tr.Checkpoint(nil))
				for _, d := range tr.Advance(now) {
					line += " " + formatDecision(&d, true)
				}
				out = append(out, line)
			}
			for _, d := range tr.Advance(now.Add(time.Hour)) {
				out = append(out, formatDecision(&d, true))
			}
			return out, tr.skipped
		}
		want, _ := run(true)
		got, skipped := run(false)
		if skipped < 50 {
			t.Fatalf("seed %d: %d items skipped: the traffic is wrong", seed, skipped)
		}
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("seed %d: with the skip (%d items)\ngot  %s\nwant %s", seed, skipped, got[i], want[i])
			}
		}
		if len(got) != len(want) {
			t.Fatalf("seed %d: %d lines, want %d", seed, len(got), len(want))
		}
	}
}

// TestPackChangesNothing: keeping two reads packed in a table value
// (packPair) instead of in a chunk changes nothing (see differential): the
// traffic meets the limits of packing as well as the pairs that fit.
func TestPackChangesNothing(t *testing.T) {
	differential(t, 1000, func(tr *Tracker, general bool) { tr.noPair = general }, countPacked)
}

// countPacked counts the plates of the first section with two reads packed
// (taken) and in a chunk (not).
func countPacked(tr *Tracker) (taken, not int) {
	for _, sl := range tr.secs[0].tracks.slots {
		switch {
		case sl.key == 0:
		case sl.val.info&flagPair == flagPair:
			taken++
		case sl.val.info&flagPair == flagChunk && sl.val.ms == 2:
			not++
		}
	}
	return taken, not
}

// TestFastPairChangesNothing: process's fast path (decidePair) takes the
// decisions the general path would (see differential).
func TestFastPairChangesNothing(t *testing.T) {
	differential(t, 20, func(tr *Tracker, general bool) { tr.noFast = general }, countFastPair)
}

// countFastPair counts the process calls since the last count that took
// decidePair (taken) and the general path (not).
func countFastPair(tr *Tracker) (taken, not int) {
	taken, not = tr.processed[1], tr.processed[0]
	tr.processed = [2]int{}
	return taken, not
}

// differential checks that a Tracker with a fast path (set(tr, false))
// takes the decisions of one without (set(tr, true)), in the same Advances,
// with the same pending counts, replay segments and checkpoints. count
// reports after each read how often the fast path was taken and not (each
// must reach atLeast per seed, or the traffic misses the test). The traffic
// meets the edges of both paths and of packing: offsets spaced so that some
// differences overflow a packed pair, offsets crossing 2^48, pinned entries
// (clusters spanning replay segments), mixed countries, exits beyond the
// range of a packed capture time (max_travel 24 h), exits after max_travel,
// a gap in the traffic (the watermark jumps), ties, duplicates, earlier entries arriving late (a negative offset
// difference); with evictions and idle flushes.
func differential(t *testing.T, atLeast int, set func(tr *Tracker, general bool), count func(tr *Tracker) (taken, not int)) {
	t.Helper()
	cfg := benchConfig()
	cfg.Sections[0].Dedupe = 10 * time.Second
	t0 := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	countries := []string{"BE", "BE", "BE", "NL", ""}
	for seed := range uint64(12) {
		rng := rand.New(rand.NewPCG(seed, 9))
		cfg.Sections[0].MaxTravel = 90 * time.Second
		if seed%4 == 0 { // with offsets 1 apart: the capture time difference overflows alone
			cfg.Sections[0].MaxTravel = 24 * time.Hour
		}
		cfg.MaxPending = 0
		if seed%3 == 1 {
			cfg.MaxPending = 60
		}
		stride, base := int64(1)+int64(seed%4)<<20, int64(0) // a packed offset difference overflows past 2^27
		if seed%6 == 5 {
			base = 1<<pairOffLow - 1000*stride
		}
		type arrival struct {
			at time.Time
			r  plate.Read
		}
		var as []arrival
		lateBy := 2 * time.Minute
		add := func(cam string, ts time.Time, p string) {
			r := benchRead(cam, ts, p)
			r.Country = countries[rng.IntN(len(countries))]
			as = append(as, arrival{ts.Add(time.Duration(rng.Int64N(int64(lateBy)))), r})
		}
		for i := range 800 {
			p := fmt.Sprintf("K%03d", rng.IntN(150))
			te := t0.Add(time.Duration(i) * 2 * time.Second).Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
			if i >= 400 {
				te = te.Add(10 * time.Minute) // a gap: the watermark jumps past pairs, some beyond max_travel
			}
			tx := te.Add(time.Duration(20+rng.IntN(100)) * time.Second)
			if seed%4 == 0 && rng.IntN(8) == 0 {
				tx = te.Add(20 * time.Hour) // past 2^26 ms
			}
			lateBy = 2 * time.Minute
			if rng.IntN(3) == 0 { // the most common vehicle: its exit read before its entry is final
				lateBy = 5 * time.Second
				add("A1", te, p)
				add("B1", tx, p)
				continue
			}
			switch rng.IntN(8) {
			case 0, 1:
				add("A2", te.Add(-time.Duration(rng.IntN(40))*time.Second), p)
			case 2:
				add("A2", te, p) // a tie, ordered by offset
			}
			for k := range 1 + rng.IntN(3) {
				if k == 0 || rng.IntN(2) == 0 {
					add("A1", te.Add(time.Duration(k*rng.IntN(9000))*time.Millisecond), p)
				}
			}
			for k := range rng.IntN(3) {
				add("B1", tx.Add(time.Duration(k*rng.IntN(9000))*time.Millisecond), p)
			}
		}
		slices.SortStableFunc(as, func(a, b arrival) int { return a.at.Compare(b.at) })
		idle := rand.New(rand.NewPCG(seed, 8))
		steps := make([]diffStep, len(as))
		for i := range as {
			steps[i] = diffStep{r: as[i].r, off: base + int64(i)*stride}
			if seed%2 == 1 && idle.IntN(50) == 0 {
				steps[i].pause = time.Minute // idle: a flush
			}
		}
		taken, not, _ := compareFast(t, fmt.Sprintf("seed %d", seed), cfg, steps, set, count)
		if taken < atLeast || not < atLeast {
			t.Fatalf("seed %d: fast path taken %d times, not %d: the traffic is wrong", seed, taken, not)
		}
	}
}

// diffStep is one read of a compareFast run: observed at offset off, then
// the processing clock moves by pause and 1 ms, and Advance is called. what
// names the case the read belongs to in failure messages (may be empty).
type diffStep struct {
	r     plate.Read
	off   int64
	pause time.Duration
	what  string
}

// compareFast runs steps through a Tracker with a fast path (set(tr,
// false)) and one without (set(tr, true)), then advances the clock by an
// hour (a final flush), and fails unless both take the same decisions in
// the same Advances, with the same pending counts, replay segments and
// checkpoints after every read. It returns how often count reported the
// fast path taken and not in the run with it, and that run's decisions:
// decided[i] those of the Advance after steps[i], decided[len(steps)] those
// of the final flush.
func compareFast(t *testing.T, name string, cfg Config, steps []diffStep, set func(tr *Tracker, general bool), count func(tr *Tracker) (taken, not int)) (taken, not int, decided [][]Decision) {
	t.Helper()
	run := func(general bool) (out []string, taken, not int, decided [][]Decision) {
		tr, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		set(tr, general)
		now := time.Unix(0, 0)
		for i := range steps {
			tr.Observe(&steps[i].r, steps[i].off)
			y, n := count(tr)
			taken, not = taken+y, not+n
			now = now.Add(steps[i].pause + time.Millisecond)
			// The segments too: what a checkpoint would be from, once the
			// reads holding it back are decided.
			h := uint64(0)
			for _, sg := range tr.rp.segs {
				h = (h^uint64(sg.block))*0x100000001b3 ^ uint64(sg.live)<<32 ^ uint64(len(sg.dec))
			}
			line := fmt.Sprintf("%d pending=%d segs=%x cp=%x:", i, tr.Pending(), h, tr.Checkpoint(nil))
			ds := tr.Advance(now)
			for _, d := range ds {
				line += " " + formatDecision(&d, true)
			}
			out = append(out, line)
			decided = append(decided, slices.Clone(ds))
		}
		ds := tr.Advance(now.Add(time.Hour))
		for _, d := range ds {
			out = append(out, formatDecision(&d, true))
		}
		decided = append(decided, slices.Clone(ds))
		return out, taken, not, decided
	}
	want, _, _, _ := run(true)
	got, taken, not, decided := run(false)
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			what := "the final flush"
			if i < len(steps) {
				what = fmt.Sprintf("read %s %s %s (%s)", steps[i].r.TS.Format(plate.TimeFormat), steps[i].r.CameraID, steps[i].r.PlateNorm, steps[i].what)
			}
			t.Fatalf("%s: with the fast path, after %s\ngot  %s\nwant %s", name, what, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d lines, want %d", name, len(got), len(want))
	}
	return taken, not, decided
}

// TestPackPair checks packPair at the limits of what it packs: what it
// packs unpacks to the same reads, what it refuses would not.
func TestPackPair(t *testing.T) {
	const maxMsDiff, maxOffDiff = 1<<pairMsBits - 1, 1<<(pairOffBits-1) - 1
	a := ev{ms: maxMs - maxMsDiff, off: 1<<pairOffLow - 1, cam: 255, info: 5 | flagEntry | flagArmed, country: [2]byte{'B', 'E'}}
	b := ev{ms: maxMs, off: 1<<pairOffLow - 1 - maxOffDiff - 1, cam: 254, info: 3 | flagExit, country: a.country}
	for _, c := range []struct {
		name string
		edit func(a, b *ev)
		ok   bool
	}{
		{"limits", func(a, b *ev) {}, true},
		{"max offset difference", func(a, b *ev) { a.off, b.off = 0, maxOffDiff }, true},
		{"zero", func(a, b *ev) { *a, *b = ev{}, ev{} }, true},
		{"capture times too far apart", func(a, b *ev) { a.ms-- }, false},
		{"exit before entry", func(a, b *ev) { b.ms = a.ms - 1 }, false},
		{"offsets too far apart", func(a, b *ev) { b.off-- }, false},
		{"offsets too far apart, forwards", func(a, b *ev) { a.off, b.off = 0, maxOffDiff+1 }, false},
		{"offset too large", func(a, b *ev) { a.off++; b.off++ }, false},
		{"camera", func(a, b *ev) { a.cam = 256 }, false},
		{"exit camera", func(a, b *ev) { b.cam = 256 }, false},
		{"countries", func(a, b *ev) { b.country = [2]byte{'N', 'L'} }, false},
		{"pinned", func(a, b *ev) { a.pin[2] = 1 }, false},
		{"second pinned", func(a, b *ev) { b.pin[0] = 1 }, false},
		{"second current", func(a, b *ev) { b.info |= flagEntry }, false},
	} {
		a, b := a, b
		c.edit(&a, &b)
		var p ev
		if ok := packPair(&a, &b, &p); ok != c.ok {
			t.Errorf("%s: packPair(%+v, %+v) = %v, want %v", c.name, a, b, ok, c.ok)
			continue
		} else if !ok {
			continue
		}
		if p.info&flagPair != flagPair {
			t.Errorf("%s: packed info %#x lacks flagPair", c.name, p.info)
		}
		var got [2]ev
		p.unpair(&got)
		if got != [2]ev{a, b} {
			t.Errorf("%s: unpacked\ngot  %+v\nwant %+v", c.name, got, [2]ev{a, b})
		}
	}
}
