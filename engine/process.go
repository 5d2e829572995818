package engine

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/ingest"
	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/matcher"
	"github.com/anpr/anpr/plate"
	"github.com/anpr/anpr/sectioncontrol"
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

	// Section control; sc is nil when no section is configured.
	sc         *sectioncontrol.Tracker
	cpKey      string // store key of the checkpoint
	cp, lastCP []byte // checkpoint being built, and the one stored last
	skipBelow  int64  // offsets the restored checkpoint already covers
	replayNow  time.Time
	vevents    []store.Event
	vmsgs      []kafka.Message
	// marks are the store's marks taken before each recent batch's Write,
	// by the batch's first offset: the evidence of a violation whose entry
	// read is in one of them is read from the tables written since.
	marks []batchMark
}

type batchMark struct {
	off  int64
	mark store.Mark
}

// maxMarks bounds processor.marks (the batches of a few minutes of a busy
// partition); older entry reads are looked up in the whole store.
const maxMarks = 4096

// markBatch records the store's mark before the Write of the batch that
// starts at offset off. A batch processed again replaces the marks from
// its offset on.
func (p *processor) markBatch(off int64) error {
	m, err := p.e.store.Mark()
	if err != nil {
		return err
	}
	i, _ := slices.BinarySearchFunc(p.marks, off, func(b batchMark, off int64) int { return cmp.Compare(b.off, off) })
	p.marks = p.marks[:i]
	if len(p.marks) == maxMarks {
		p.marks = append(p.marks[:0], p.marks[maxMarks/2:]...)
	}
	p.marks = append(p.marks, batchMark{off, m})
	return nil
}

// writtenAfter returns the mark taken before the read at offset off was
// written, or 0 (the whole store) when it is older than the marks.
func (p *processor) writtenAfter(off int64) store.Mark {
	i, found := slices.BinarySearchFunc(p.marks, off, func(b batchMark, off int64) int { return cmp.Compare(b.off, off) })
	switch {
	case found:
		return p.marks[i].mark
	case i == 0:
		return 0
	}
	return p.marks[i-1].mark
}

// maxRemembered bounds the hits a new partition worker reads back to
// rebuild its suppress windows.
const maxRemembered = 1_000_000

func (e *Engine) newProcessor(partition int) ingest.Processor {
	p := &processor{e: e, sup: matcher.NewSuppressor(), inBatch: make(map[string]struct{}), skipBelow: -1}
	if e.sections != nil {
		p.sc = e.sections.tracker()
		p.cpKey = checkpointKey(e.cfg.Topics.Reads, partition)
	}
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

// Rewind restores the partition's section-control state from its stored
// checkpoint: the Tracker is rebuilt by reading again the records it still
// needs (doc.go, Restart).
func (p *processor) Rewind(ctx context.Context, committed int64) (int64, error) {
	p.replayNow = time.Now()
	if p.sc == nil || committed < 0 {
		return committed, nil // a new group reads everything anyway
	}
	cp, err := p.e.store.State(p.cpKey)
	if err != nil || cp == nil {
		return committed, err
	}
	from, err := p.sc.Restore(cp)
	if err != nil {
		p.e.log.Warn("section-control checkpoint not usable; pending pairs of this partition are lost",
			"partition", p.cpKey, "err", err)
		p.sc = p.e.sections.tracker()
		return committed, nil
	}
	if from < 0 { // the tracker had observed nothing
		return committed, nil
	}
	p.lastCP = cp
	p.skipBelow = from
	return min(from, committed), nil
}

// Process runs steps 2 to 6 of the data flow (doc.go) for one batch.
func (p *processor) Process(ctx context.Context, b *ingest.Batch) error {
	if b.Replay {
		return p.replay(ctx, b)
	}
	e := p.e
	e.matching.RLock()
	defer e.matching.RUnlock()
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
	ds, err := p.observe(b, now)
	if err != nil {
		return err
	}
	// Violations are published before they are stored, so a stored one was
	// published: the replay after a restart need not publish them again.
	if err := p.publishViolations(ctx); err != nil {
		return err
	}
	// The hits are produced while the batch is stored: the offsets are
	// committed only once both are done, so a crash or an error in either
	// replays the batch, and the order of the two does not matter to what
	// is kept; the hit reaches dispatch one produce round trip sooner.
	// A read processed again (replay, gateway retry) rewrites its passage
	// with the same key and its hits with the same ids: the store keeps one
	// of each, and the hits are published again (at-least-once, same ids).
	// The mark is taken first: on its error no produce is in flight on p.msgs.
	if len(b.Offsets) > 0 {
		if err := p.markBatch(b.Offsets[0]); err != nil {
			return fmt.Errorf("store batch: %w", err)
		}
	}
	var produced chan error
	if len(p.msgs) > 0 {
		produced = make(chan error, 1)
		go func() { produced <- e.hits.WriteMessages(ctx, p.msgs...) }()
	}
	res, err := e.store.Write(&store.Batch{Reads: p.fresh, Hits: p.events, Violations: p.vevents, State: p.checkpoint()})
	var perr error
	if produced != nil {
		perr = <-produced
	}
	if err != nil {
		return fmt.Errorf("store batch: %w", err)
	}
	if perr != nil {
		return &ingest.KafkaError{Err: fmt.Errorf("produce %d hits: %w", len(p.msgs), perr)}
	}
	p.stored()
	if e.sections != nil {
		e.sections.count(ds)
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

// observe feeds the batch to the Tracker and prepares the violations it
// decided (p.vevents, p.vmsgs). All reads are observed, repeats included,
// so that a replay sees what the live run saw.
func (p *processor) observe(b *ingest.Batch, now time.Time) ([]sectioncontrol.Decision, error) {
	if p.sc == nil {
		p.vevents, p.vmsgs = p.vevents[:0], p.vmsgs[:0]
		return nil, nil
	}
	for i := range b.Reads {
		if b.Offsets[i] >= p.skipBelow {
			p.sc.Observe(&b.Reads[i], b.Offsets[i])
		}
	}
	return p.decided(p.sc.Advance(now), b.Reads, b.Offsets)
}

// decided turns the violations among ds into store events and messages
// (p.vevents, p.vmsgs, replacing those of the previous call), with their
// evidence completed from the batch (reads and their offsets) or the store.
// A violation whose evidence is gone is not issued, and logged.
func (p *processor) decided(ds []sectioncontrol.Decision, batch []plate.Read, offsets []int64) ([]sectioncontrol.Decision, error) {
	p.vevents, p.vmsgs = p.vevents[:0], p.vmsgs[:0]
	for i := range ds {
		v := ds[i].Violation
		if v == nil {
			continue
		}
		ok, err := p.e.evidence(v, batch, offsets, p.writtenAfter)
		if err != nil {
			return nil, err
		}
		if !ok {
			p.e.m.noEvidence.Inc()
			p.e.log.Warn("violation not issued: a read of its evidence is no longer stored", "violation", v.ID, "section", v.SectionID)
			continue
		}
		js := v.AppendJSON(nil)
		p.vevents = append(p.vevents, store.Event{ID: v.ID, ReadID: v.Exit.ReadID, TS: v.Exit.TS, JSON: js})
		p.vmsgs = append(p.vmsgs, kafka.Message{Key: []byte(v.SectionID), Value: js})
	}
	return ds, nil
}

func (p *processor) publishViolations(ctx context.Context) error {
	if len(p.vmsgs) == 0 {
		return nil
	}
	if err := p.e.violations.WriteMessages(ctx, p.vmsgs...); err != nil {
		return &ingest.KafkaError{Err: fmt.Errorf("produce %d violations: %w", len(p.vmsgs), err)}
	}
	return nil
}

// checkpoint returns the State to store with the batch: the Tracker's
// checkpoint if it changed since the last one stored.
func (p *processor) checkpoint() []store.State {
	if p.sc == nil {
		return nil
	}
	p.cp = p.sc.Checkpoint(p.cp[:0])
	if bytes.Equal(p.cp, p.lastCP) {
		return nil
	}
	return []store.State{{Key: p.cpKey, Value: p.cp}}
}

// stored records that the checkpoint built last is in the store.
func (p *processor) stored() {
	if p.sc != nil && !bytes.Equal(p.cp, p.lastCP) {
		p.lastCP = append(p.lastCP[:0], p.cp...)
	}
}

// replay feeds records processed before the restart to the Tracker only:
// their passages and hits are stored, and so are the violations they
// decide, which were published before they were stored. A violation the
// store does not know would mean the replay decided differently from the
// first run (a bug): it is stored and published, and logged.
func (p *processor) replay(ctx context.Context, b *ingest.Batch) error {
	if p.sc == nil {
		return nil
	}
	ds, err := p.observe(b, p.replayNow)
	if err != nil || len(p.vevents) == 0 {
		return err
	}
	if _, err := p.e.store.Write(&store.Batch{Violations: p.vevents}); err != nil {
		return fmt.Errorf("store replayed violations: %w", err)
	}
	var fresh []kafka.Message
	for i, ev := range p.vevents {
		if !ev.Known {
			fresh = append(fresh, p.vmsgs[i])
		}
	}
	if len(fresh) > 0 {
		p.e.log.Warn("replay decided violations the first run had not stored", "partition", b.Partition, "violations", len(fresh))
		p.e.sections.count(ds)
		p.vmsgs = fresh
		return p.publishViolations(ctx)
	}
	return nil
}

// Idle takes the decisions that wait for input to go quiet (idle_flush):
// they are published, then stored with the checkpoint that records the
// flush.
func (p *processor) Idle(ctx context.Context) error {
	if p.sc == nil {
		return nil
	}
	ds, err := p.decided(p.sc.Advance(time.Now()), nil, nil)
	if err != nil {
		return err
	}
	if err := p.publishViolations(ctx); err != nil {
		return err
	}
	st := p.checkpoint()
	if len(p.vevents) > 0 || st != nil {
		if _, err := p.e.store.Write(&store.Batch{Violations: p.vevents, State: st}); err != nil {
			return fmt.Errorf("store violations: %w", err)
		}
		p.stored()
	}
	p.e.sections.count(ds)
	return nil
}
