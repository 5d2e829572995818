package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/ingest"
	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/matcher"
	"github.com/anpr/anpr/plate"
)

// processor is the pipeline of one partition worker. Its buffers are reused
// from batch to batch; it is used by one goroutine only.
type processor struct {
	e       *Engine
	sup     *matcher.Suppressor
	fresh   []plate.Read
	hits    []matcher.Hit
	events  []store.Event
	msgs    []kafka.Message
	inBatch map[string]struct{}
	// appended[i] is the Kafka time of the record of hits[i].
	appended []time.Time
}

// maxRemembered bounds the hits a new partition worker reads back to
// rebuild its suppress windows.
const maxRemembered = 1_000_000

func (e *Engine) newProcessor(partition int) ingest.Processor {
	p := &processor{e: e, sup: matcher.NewSuppressor(), inBatch: make(map[string]struct{})}
	// Rebuild the suppress windows from the hits already stored, so a
	// restart or a replay suppresses exactly what a run without one would.
	recent, err := e.store.RecentEvents(store.Hits, time.Now().Add(-e.matcher.MaxSuppress()), maxRemembered)
	if err != nil {
		e.log.Warn("suppress windows not rebuilt; repeats may hit once more", "partition", partition, "err", err)
		return p
	}
	for i := len(recent) - 1; i >= 0; i-- { // oldest first
		if err := e.matcher.Remember(p.sup, recent[i].JSON); err != nil {
			e.log.Debug("stored hit not remembered", "err", err)
		}
	}
	return p
}

// Process runs steps 2 to 5 of the data flow (doc.go) for one batch.
func (p *processor) Process(ctx context.Context, b *ingest.Batch) error {
	e := p.e
	now := time.Now()
	p.fresh, p.hits, p.events, p.msgs, p.appended = p.fresh[:0], p.hits[:0], p.events[:0], p.msgs[:0], p.appended[:0]
	clear(p.inBatch)
	for i := range b.Reads {
		r := &b.Reads[i]
		if _, dup := p.inBatch[r.ReadID]; dup {
			continue
		}
		p.inBatch[r.ReadID] = struct{}{}
		p.fresh = append(p.fresh, *r)
	}
	// MatchBatch overlaps the table lookups of many reads; its hits come
	// in read order, so the suppressor still sees them in read order. A
	// hit's read is the first read of b with its ReadID (the one kept
	// above), found by scanning b.Reads forward along with the hits.
	p.hits = e.matcher.MatchBatch(p.fresh, now, p.hits)
	kept, i := p.hits[:0], 0
	for _, h := range p.hits {
		for b.Reads[i].ReadID != h.Read.ReadID {
			i++
		}
		if p.sup.Allow(&h) {
			kept = append(kept, h)
			p.appended = append(p.appended, b.Appended[i])
		}
	}
	p.hits = kept
	e.matcher.CountChecks(len(p.fresh))
	for i := range p.hits {
		h := &p.hits[i]
		js := h.AppendJSON(nil)
		p.events = append(p.events, store.Event{ID: h.ID, ReadID: h.Read.ReadID, TS: h.Read.TS, JSON: js})
		p.msgs = append(p.msgs, kafka.Message{Key: []byte(h.Read.PlateNorm), Value: js})
	}
	// A read processed again (replay, gateway retry) rewrites its passage
	// with the same key and its hits with the same ids: the store keeps one
	// of each, and the hits are published again (at-least-once, same ids).
	res, err := e.store.Write(&store.Batch{Reads: p.fresh, Hits: p.events})
	if err != nil {
		return fmt.Errorf("store batch: %w", err)
	}
	if len(p.msgs) > 0 {
		if err := e.hits.WriteMessages(ctx, p.msgs...); err != nil {
			return fmt.Errorf("produce %d hits: %w", len(p.msgs), err)
		}
	}
	done := time.Now()
	for i := range p.hits {
		h := &p.hits[i]
		e.m.hits.WithLabelValues(h.List).Inc()
		e.m.captureToHit.Observe(done.Sub(h.Read.TS).Seconds())
		e.m.ingestToHit.Observe(done.Sub(p.appended[i]).Seconds())
	}
	e.m.duplicates.Add(float64(len(b.Reads) - len(p.fresh)))
	e.m.republished.Add(float64(res.KnownHits))
	return nil
}
