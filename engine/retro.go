package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/matcher"
)

// retro searches the stored passages of an entry added to a list with a
// retro window (Hotlist.Retro) and raises the hits that entry would have
// had, with Kind "retro": stored in the hit log and published on the hits
// topic. Entries come from the hotlist follower (Added) and are searched in
// order by one goroutine (run). Safe for concurrent use.
type retro struct {
	e       *Engine
	windows map[string]time.Duration // list → retro window; only lists with one
	modes   map[string]matcher.Mode

	mu    sync.Mutex
	queue []matcher.Entry // guarded by mu
	wake  chan struct{}   // capacity 1
}

func newRetro(e *Engine, lists []Hotlist) *retro {
	r := &retro{e: e, windows: map[string]time.Duration{}, modes: map[string]matcher.Mode{}, wake: make(chan struct{}, 1)}
	for _, h := range lists {
		if h.Retro > 0 {
			r.windows[h.List.Name] = h.Retro
			r.modes[h.List.Name] = h.List.Mode
		}
	}
	return r
}

// add queues the entries of retro lists; it never blocks.
func (r *retro) add(entries []matcher.Entry) {
	r.mu.Lock()
	for _, en := range entries {
		if r.windows[en.List] > 0 {
			r.queue = append(r.queue, en)
		}
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run searches the queued entries until ctx is done. A store or Kafka
// failure stops it (and the engine) with the error.
func (r *retro) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		}
		r.mu.Lock()
		q := r.queue
		r.queue = nil
		r.mu.Unlock()
		for _, en := range q {
			if err := r.search(ctx, en); err != nil {
				return fmt.Errorf("retro search of list %s: %w", en.List, err)
			}
		}
	}
}

// candidates are the plates whose passages may hold a hit of en: its own
// for an exact list (or a plate too short for the pattern index); for ocr
// the plates equal after the OCR mapping, and for fuzzy those that share a
// trigram with it (a plate more than MaxDistance edits away shares none
// only if it is short: such misses are the caveat of doc.go), both from the
// pattern index over the window's days.
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
	var (
		evs  []store.Event
		msgs []kafka.Message
		hits []matcher.Hit
	)
	for _, p := range plates {
		after := ""
		for {
			reads, next, err := r.e.store.Passages(store.PassageQuery{Plate: p, From: from, To: to, After: after, Limit: 1000})
			if err != nil {
				return err
			}
			for i := range reads {
				hits = r.e.matcher.Match(&reads[i], now, hits[:0])
				for _, h := range hits {
					if h.List != en.List || h.Entry.Plate != en.Plate {
						continue
					}
					h.Kind = matcher.KindRetro
					js := h.AppendJSON(nil)
					evs = append(evs, store.Event{ID: h.ID, ReadID: h.Read.ReadID, TS: h.Read.TS, JSON: js})
					msgs = append(msgs, kafka.Message{Key: []byte(h.Read.PlateNorm), Value: js})
				}
			}
			if next == "" {
				break
			}
			after = next
		}
	}
	if len(evs) == 0 {
		return nil
	}
	// Stored first: a hit id already in the log (a live hit of the same
	// read, or this search run before) is neither stored nor published
	// again.
	if _, err := r.e.store.Write(&store.Batch{Hits: evs}); err != nil {
		return err
	}
	fresh := msgs[:0]
	for i := range evs {
		if !evs[i].Known {
			fresh = append(fresh, msgs[i])
		}
	}
	if len(fresh) > 0 {
		if err := r.e.hits.WriteMessages(ctx, fresh...); err != nil {
			return err
		}
	}
	r.e.log.Info("retro search", "list", en.List, "candidates", len(plates), "hits", len(fresh), "known", len(evs)-len(fresh))
	return nil
}
