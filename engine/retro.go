package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/internal/audit"
	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/matcher"
	"github.com/anpr/anpr/plate"
)

// retro searches the stored passages of an entry added to a list with a
// retro window (Hotlist.Retro) and raises the hits that entry would have
// had, with Kind "retro": published on the hits topic, then stored in the
// hit log. Entries come from the hotlist follower (Added) and are searched
// in order by one goroutine (run), which then stores how far on the
// hotlist topic it got (the cursor): a restart is handed the entries put
// after it (hotlist.Config.AddedSince), those put while no instance ran
// included. Safe for concurrent use.
type retro struct {
	e         *Engine
	windows   map[string]time.Duration // list → retro window; only lists with one
	modes     map[string]matcher.Mode
	cursorKey string

	mu     sync.Mutex
	queue  []matcher.Entry // guarded by mu
	next   map[int]int64   // guarded by mu: the position once queue is searched
	wake   chan struct{}   // capacity 1
	stored map[int]int64   // the cursor stored last, nil if none; run's only
}

func newRetro(e *Engine, lists []Hotlist) *retro {
	r := &retro{e: e, windows: map[string]time.Duration{}, modes: map[string]matcher.Mode{},
		cursorKey: "retro/" + e.cfg.Topics.Hotlists, wake: make(chan struct{}, 1)}
	for _, h := range lists {
		if h.Retro > 0 {
			r.windows[h.List.Name] = h.Retro
			r.modes[h.List.Name] = h.List.Mode
		}
	}
	return r
}

// since returns the stored cursor, for hotlist.Config.AddedSince: nil when
// none is stored (a new store: its reads are matched with the lists in
// force; the gap before its first cursor is README's caveat).
func (r *retro) since() (map[int]int64, error) {
	v, err := r.e.store.State(r.cursorKey)
	if err != nil || v == nil {
		return nil, err
	}
	var c map[int]int64
	if err := json.Unmarshal(v, &c); err != nil || c == nil {
		// Searching every entry again costs time; skipping them, hits.
		r.e.log.Warn("retro cursor not usable; every entry of the hotlist topic is searched again", "err", err)
		c = map[int]int64{}
	}
	r.stored = c
	return c, nil
}

// add queues the entries of retro lists and the follower's position after
// them (hotlist.Config.Added); it never blocks.
func (r *retro) add(entries []matcher.Entry, next map[int]int64) {
	r.mu.Lock()
	for _, en := range entries {
		if r.windows[en.List] > 0 {
			r.queue = append(r.queue, en)
		}
	}
	r.next = next
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run searches the queued entries until ctx is done, then stores the
// cursor: a crash before that searches them again at the next start. A
// store or Kafka failure stops it (and the engine) with the error.
func (r *retro) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		}
		r.mu.Lock()
		q, next := r.queue, r.next
		r.queue = nil
		r.mu.Unlock()
		if len(q) > 0 {
			// A read matched before the entries were in force, and not
			// yet stored, would be missed by both the live match and the
			// search: wait for those batches (they hold matching's read
			// lock from match to store). It holds the other batches back
			// for as long.
			r.e.matching.Lock()
			//lint:ignore SA2001 taking the lock is the wait
			r.e.matching.Unlock()
		}
		for _, en := range q {
			if err := r.search(ctx, en); err != nil {
				return fmt.Errorf("retro search of list %s: %w", en.List, err)
			}
		}
		if next == nil || r.stored != nil && maps.Equal(next, r.stored) {
			continue
		}
		v, err := json.Marshal(next)
		if err != nil {
			return err
		}
		if _, err := r.e.store.Write(&store.Batch{State: []store.State{{Key: r.cursorKey, Value: v}}}); err != nil {
			return fmt.Errorf("store retro cursor: %w", err)
		}
		if r.stored == nil {
		}
		r.stored = next
	}
}

// candidates are the plates whose passages may hold a hit of en: its own
// for an exact list (or a plate too short for the pattern index); for ocr
// the plates equal after the OCR mapping, and for fuzzy those that share a
// trigram with it, both from the pattern index over the window's days. The
// pattern index is built over the default OCR table, and a plate within
// MaxDistance edits may share no trigram with the entry (one edit in a
// plate of 5 or fewer characters, two edits 3 apart in one of 7): such
// plates are missed (README, "Retro hits").
func (r *retro) candidates(en matcher.Entry, from, to time.Time) ([]string, error) {
	mode := r.modes[en.List]
	if mode == matcher.Exact || len(en.Plate) < 3 {
		return []string{en.Plate}, nil
	}
	var pats []string
	if mode == matcher.OCR {
		pats = []string{en.Plate}
	} else {
		for i := 0; i+3 <= len(en.Plate); i++ {
			pats = append(pats, "*"+en.Plate[i:i+3]+"*")
		}
	}
	set := []string{en.Plate}
	for _, p := range pats {
		pat, err := store.CompilePattern(p)
		if err != nil {
			return nil, err
		}
		ps, err := r.e.store.PatternPlates(pat, true, from, to)
		if err != nil {
			return nil, err
		}
		set = append(set, ps...)
	}
	slices.Sort(set)
	return slices.Compact(set), nil
}

func (r *retro) search(ctx context.Context, en matcher.Entry) error {
	now := time.Now()
	from, to := now.Add(-r.windows[en.List]), now.Add(time.Hour)
	plates, err := r.candidates(en, from, to)
	if err != nil {
		return err
	}
	var found, hits []matcher.Hit
	for _, p := range plates {
		page := func(after string) ([]plate.Read, string, error) {
			return r.e.store.Passages(store.PassageQuery{Plate: p, From: from, To: to, After: after, Limit: 1000})
		}
		if err := store.EachPage(page, func(rd plate.Read) error {
			hits = r.e.matcher.Match(&rd, now, hits[:0])
			for _, h := range hits {
				if h.List == en.List && h.Entry.Plate == en.Plate {
					found = append(found, h)
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	// The list's suppress window applies as it does live (SPEC §4): in
	// capture order, one hit per camera and window, so a car parked before
	// a camera is not one hit a minute. The same reads give the same hits
	// whenever the search runs.
	slices.SortFunc(found, func(a, b matcher.Hit) int {
		return cmp.Or(a.Read.TS.Compare(b.Read.TS), cmp.Compare(a.ID, b.ID))
	})
	sup := matcher.NewSuppressor()
	var (
		evs  []store.Event
		msgs []kafka.Message
	)
	for _, h := range found {
		if !sup.Allow(&h) {
			continue
		}
		h.Kind = matcher.KindRetro
		js := h.AppendJSON(nil)
		evs = append(evs, store.Event{ID: h.ID, ReadID: h.Read.ReadID, TS: h.Read.TS, JSON: js})
		msgs = append(msgs, kafka.Message{Key: []byte(h.Read.PlateNorm), Value: js})
	}
	// A search of stored passages is an investigative act: audited, with
	// the entry's reference as its case, before anything goes out.
	if _, err := r.e.audit.Append(audit.Record{Who: "retro", Roles: []string{"system"}, Action: "passages.retro",
		CaseRef: en.Reference, Query: fmt.Sprintf("list=%s plate=%s from=%s to=%s", en.List, en.Plate,
			from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339)), Results: len(evs)}); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if len(evs) == 0 {
		return nil
	}
	// Published, then stored, so a stored hit was published (as for
	// violations): a crash in between publishes it again after the restart
	// (at-least-once, same id). A hit id already in the log (a live hit of
	// the same read, or this entry searched before) is not published again.
	ids := make([]string, len(evs))
	for i := range evs {
		ids[i] = evs[i].ID
	}
	known, err := r.e.store.EventsByID(store.Hits, ids)
	if err != nil {
		return err
	}
	isKnown := make(map[string]bool, len(known))
	for _, k := range known {
		isKnown[k.ID] = true
	}
	var fresh []kafka.Message
	var freshEvs []store.Event
	for i := range evs {
		if !isKnown[evs[i].ID] {
			fresh = append(fresh, msgs[i])
			freshEvs = append(freshEvs, evs[i])
		}
	}
	if len(fresh) > 0 {
		if err := r.e.hits.WriteMessages(ctx, fresh...); err != nil {
			return err
		}
		if _, err := r.e.store.Write(&store.Batch{Hits: freshEvs}); err != nil {
			return err
		}
	}
	r.e.log.Info("retro search", "list", en.List, "candidates", len(plates), "hits", len(fresh), "known", len(evs)-len(fresh))
	return nil
}
