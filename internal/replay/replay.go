// Package replay re-emits stored passages in capture-time order (anpr
// replay): onto a topic, for a what-if run or a test environment, or
// through a hotlist, to answer what it would have hit.
package replay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/matcher"
	"github.com/anpr/anpr/plate"
)

// Selection picks the passages: those captured in [From, To), of Plate
// (normalized) or at Camera when either is set (not both).
type Selection struct {
	From, To      time.Time
	Plate, Camera string
}

// Validate reports every problem of s at once.
func (s Selection) Validate() error {
	var errs []error
	if s.From.IsZero() || s.To.IsZero() {
		errs = append(errs, errors.New("from and to: required"))
	} else if !s.From.Before(s.To) {
		errs = append(errs, errors.New("from must be before to"))
	}
	if s.Plate != "" && s.Camera != "" {
		errs = append(errs, errors.New("plate and camera: give one at most"))
	}
	return errors.Join(errs...)
}

// pageSize is the page each index query returns.
const pageSize = 1000

// Passages calls fn with the selected passages in capture-time order, from
// the index that serves the selection (plate, camera, or every camera hour
// by hour), until fn returns an error.
func Passages(st *store.Store, sel Selection, fn func(plate.Read) error) error {
	if err := sel.Validate(); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	var page func(after string) ([]plate.Read, string, error)
	switch {
	case sel.Plate != "":
		page = func(after string) ([]plate.Read, string, error) {
			return st.Passages(store.PassageQuery{Plate: sel.Plate, From: sel.From, To: sel.To, After: after, Limit: pageSize})
		}
	case sel.Camera != "":
		page = func(after string) ([]plate.Read, string, error) {
			return st.CameraPassages(store.CameraQuery{Camera: sel.Camera, From: sel.From, To: sel.To, After: after, Limit: pageSize})
		}
	default:
		return st.Window(sel.From, sel.To, fn)
	}
	return store.EachPage(page, fn)
}

// Config configures Run.
type Config struct {
	Selection
	// Speed paces the replay: capture times Speed times faster than they
	// were (2: twice as fast). 0 sends as fast as the topic takes them.
	Speed float64
	// Batch is the most messages one Publish sends; default 500.
	Batch int
}

// Publish writes messages to the topic (kclient.Writer.WriteMessages).
type Publish func(ctx context.Context, msgs ...kafka.Message) error

// Run publishes the selected passages as Read JSON keyed by normalized
// plate, in capture-time order, paced by cfg.Speed, and returns how many
// it published. It stops when ctx is done.
func Run(ctx context.Context, st *store.Store, cfg Config, publish Publish) (int, error) {
	if cfg.Speed < 0 {
		return 0, errors.New("replay: speed must not be negative")
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	var (
		batch []kafka.Message
		n     int
		t0    time.Time // capture time of the first passage
		start time.Time // when it was sent
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := publish(ctx, batch...); err != nil {
			return fmt.Errorf("replay: publish: %w", err)
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	err := Passages(st, cfg.Selection, func(r plate.Read) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if cfg.Speed > 0 {
			if t0.IsZero() {
				t0, start = r.TS, time.Now()
			}
			due := start.Add(time.Duration(float64(r.TS.Sub(t0)) / cfg.Speed))
			if wait := time.Until(due); wait > 0 {
				if err := flush(); err != nil {
					return err
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(wait):
				}
			}
		}
		batch = append(batch, kafka.Message{Key: []byte(r.PlateNorm), Value: plate.AppendJSON(nil, &r)})
		if len(batch) == cfg.Batch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, flush()
}

// Hits calls fn with every hit m finds among the selected passages, in
// capture-time order. Nothing is suppressed: each passage that matches is
// one hit, as a list with no suppress window would raise.
func Hits(st *store.Store, sel Selection, m *matcher.Matcher, fn func(*matcher.Hit) error) error {
	var hits []matcher.Hit
	return Passages(st, sel, func(r plate.Read) error {
		hits = m.Match(&r, time.Now(), hits[:0])
		for i := range hits {
			if err := fn(&hits[i]); err != nil {
				return err
			}
		}
		return nil
	})
}
