package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/plate"
	"github.com/anpr/anpr/sectioncontrol"
)

// sections is the engine's section control: the configuration every
// partition's Tracker is built from, the metrics they share, and the
// statistics GET /api/v1/sections/{id}/stats shows. Safe for concurrent use.
type sections struct {
	cfg   sectioncontrol.Config
	m     *sectioncontrol.Metrics
	defs  []byte // GET /api/v1/sections
	since time.Time

	mu    sync.Mutex
	stats map[string]*sectionStats // by section id; guarded by mu
}

// sectionStats counts the decisions of one section since the engine started.
type sectionStats struct {
	outcomes map[string]int64
	// speeds is a histogram of the measured speed of pairs (anomalies
	// excluded) in 1 km/h bins; the last bin holds everything faster.
	speeds [301]int64
	pairs  int64
}

func newSections(cfg sectioncontrol.Config, m *sectioncontrol.Metrics, now time.Time) (*sections, error) {
	s := &sections{cfg: cfg, m: m, since: now.UTC(), stats: make(map[string]*sectionStats)}
	// Fail at Open rather than in the first partition worker.
	if _, err := sectioncontrol.New(cfg, nil); err != nil {
		return nil, fmt.Errorf("section control: %w", err)
	}
	type window struct {
		From     string  `json:"from"`
		To       string  `json:"to"`
		LimitKmh float64 `json:"limit_kmh"`
	}
	type def struct {
		ID          string             `json:"id"`
		Route       string             `json:"route,omitempty"`
		Entry       []string           `json:"entry"`
		Exit        []string           `json:"exit"`
		LengthM     float64            `json:"length_m"`
		LimitKmh    float64            `json:"limit_kmh"`
		ClassLimits map[string]float64 `json:"class_limits,omitempty"`
		Schedule    []window           `json:"schedule,omitempty"`
		MaxTravel   string             `json:"max_travel"`
		Tolerance   any                `json:"tolerance"`
	}
	hm := func(d time.Duration) string {
		return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	eff, err := cfg.WithDefaults() // show what is enforced, not zero values
	if err != nil {
		return nil, fmt.Errorf("section control: %w", err)
	}
	defs := make([]def, 0, len(eff.Sections))
	for _, sec := range eff.Sections {
		d := def{ID: sec.ID, Route: sec.Route, Entry: sec.Entry, Exit: sec.Exit, LengthM: sec.LengthM,
			LimitKmh: sec.LimitKmh, ClassLimits: sec.ClassLimits, MaxTravel: sec.MaxTravel.String(),
			Tolerance: sec.Tolerance.Name}
		if sec.Tolerance.Name == "custom" {
			d.Tolerance = map[string]any{"name": "custom", "margin_kmh": sec.Tolerance.MarginKmh,
				"margin_pct": sec.Tolerance.MarginPct, "pct_above_kmh": sec.Tolerance.PctAboveKmh}
		}
		for _, w := range sec.Schedule {
			d.Schedule = append(d.Schedule, window{hm(w.From), hm(w.To), w.LimitKmh})
		}
		defs = append(defs, d)
		s.stats[sec.ID] = &sectionStats{outcomes: make(map[string]int64)}
	}
	s.defs, err = json.Marshal(map[string]any{"sections": defs})
	if err != nil {
		return nil, err
	}
	s.defs = append(s.defs, '\n')
	return s, nil
}

// SectionsJSON implements api.Sections.
func (s *sections) SectionsJSON() []byte { return s.defs }

// SectionStatsJSON implements api.Sections.
func (s *sections) SectionStatsJSON(id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.stats[id]
	if !ok {
		return nil
	}
	out := map[string]any{
		"section_id":      id,
		"since":           s.since.Format(plate.TimeFormat),
		"vehicles_paired": st.pairs,
	}
	for _, o := range []sectioncontrol.Outcome{
		sectioncontrol.OutcomeViolation, sectioncontrol.OutcomeCompliant, sectioncontrol.OutcomeAnnulled,
		sectioncontrol.OutcomeAnomaly, sectioncontrol.OutcomeUnmatchedEntry, sectioncontrol.OutcomeUnmatchedExit,
		sectioncontrol.OutcomeEvicted,
	} {
		out[o.String()] = st.outcomes[o.String()]
	}
	for name, n := range st.outcomes { // outcomes added later (superseded)
		if _, ok := out[name]; !ok {
			out[name] = n
		}
	}
	speed := map[string]any{}
	for _, p := range []float64{50, 85, 95, 99} {
		if v, ok := st.percentile(p); ok {
			speed["p"+strconv.Itoa(int(p))] = v
		}
	}
	out["speed_kmh"] = speed
	js, _ := json.Marshal(out)
	return append(js, '\n')
}

// percentile is the lower bound of the 1 km/h bin holding the p-th
// percentile of measured speeds.
func (st *sectionStats) percentile(p float64) (int, bool) {
	var n int64
	for _, c := range st.speeds {
		n += c
	}
	if n == 0 {
		return 0, false
	}
	rank := int64(math.Ceil(p / 100 * float64(n)))
	var seen int64
	for kmh, c := range st.speeds {
		if seen += c; seen >= rank {
			return kmh, true
		}
	}
	return len(st.speeds) - 1, true
}

// count adds decisions to the statistics.
func (s *sections) count(ds []sectioncontrol.Decision) {
	if len(ds) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range ds {
		d := &ds[i]
		st := s.stats[d.SectionID]
		if st == nil {
			continue
		}
		st.outcomes[d.Outcome.String()]++
		switch d.Outcome {
		case sectioncontrol.OutcomeUnmatchedEntry, sectioncontrol.OutcomeUnmatchedExit, sectioncontrol.OutcomeEvicted:
			continue
		}
		st.pairs++
		if d.Outcome != sectioncontrol.OutcomeAnomaly {
			st.speeds[min(int(d.MeasuredKmh), len(st.speeds)-1)]++
		}
	}
}

// checkpointKey is the store key of a partition's section-control
// checkpoint.
func checkpointKey(topic string, partition int) string {
	return "sectioncontrol/" + topic + "/" + strconv.Itoa(partition)
}

// evidence completes the reads of a violation: the Tracker keeps only what
// its decisions need (camera, capture time, plate, country, class, offset),
// and the rest (read id, plate as read, confidence, lane, image) comes from
// the batch in hand (found by offset) or, for an earlier read, from the
// stored passage, looked for first among what was written after
// writtenAfter(its offset), then in the whole store. It returns false when
// a read is in neither (a passage already past retention): such a
// violation cannot be proven.
func (e *Engine) evidence(v *sectioncontrol.Violation, batch []plate.Read, offsets []int64, writtenAfter func(off int64) store.Mark) (bool, error) {
	for _, x := range []struct {
		r   *plate.Read
		off int64
	}{{&v.Entry, v.EntryOffset}, {&v.Exit, v.ExitOffset}} {
		r := x.r
		if r.ReadID != "" {
			continue
		}
		if i, ok := slices.BinarySearch(offsets, x.off); ok && sameCapture(&batch[i], r) {
			*r = batch[i]
			e.m.evidence.WithLabelValues("batch").Inc()
			continue
		}
		q := store.PassageQuery{Plate: r.PlateNorm, From: r.TS, To: r.TS.Add(time.Millisecond), Limit: 64}
		found := false
		for _, after := range []store.Mark{writtenAfter(x.off), 0} {
			q.WrittenAfter = after
			stored, _, err := e.store.Passages(q)
			if err != nil {
				return false, fmt.Errorf("evidence of violation %s: %w", v.ID, err)
			}
			if i := slices.IndexFunc(stored, func(b plate.Read) bool { return sameCapture(&b, r) }); i >= 0 {
				*r, found = stored[i], true
				from := "store"
				if after != 0 {
					from = "written_since"
				}
				e.m.evidence.WithLabelValues(from).Inc()
				break
			}
			if after == 0 {
				break
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}

// sameCapture reports whether a is the read the Tracker remembers as b.
// Two reads of one plate at one camera in one millisecond (a camera's
// double read) are both that capture: which one's read id, image and
// confidence the evidence carries may differ between a live run and a
// replay; the time, place and plate proven are the same.
func sameCapture(a, b *plate.Read) bool {
	return a.CameraID == b.CameraID && a.PlateNorm == b.PlateNorm && a.TS.UnixMilli() == b.TS.UnixMilli()
}

// tracker returns a new Tracker for one partition; the configuration was
// validated by newSections.
func (s *sections) tracker() *sectioncontrol.Tracker {
	t, err := sectioncontrol.New(s.cfg, s.m)
	if err != nil {
		panic(fmt.Sprintf("section control: configuration valid at Open is not now: %v", err))
	}
	return t
}
