package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/plate"
)

// KafkaError is a Processor's error that is Kafka's (a produce that
// failed): the partition worker starts the partition over from its last
// committed offset, with a new Processor, once Kafka answers again,
// instead of stopping the consumer. Any other error a Processor returns
// (a store error) stops the consumer.
type KafkaError struct{ Err error }

func (e *KafkaError) Error() string { return e.Err.Error() }
func (e *KafkaError) Unwrap() error { return e.Err }

// Processor makes the valid reads of one batch durable (stored, matched,
// outputs produced). Process returns only when that is done; an error stops
// the consumer without committing the batch. A Processor belongs to one
// partition worker and is never called concurrently.
type Processor interface {
	// Rewind is called once, before the first fetch, with the partition's
	// committed offset (kafka.FirstOffset when the group has none). It
	// returns the offset to fetch from: the committed one, or an earlier
	// one to rebuild state from records already processed; those records
	// come in batches with Replay set, and their rejects are not sent to
	// the dead-letter topic again.
	Rewind(ctx context.Context, committed int64) (int64, error)
	Process(ctx context.Context, b *Batch) error
	// Idle is called when no record arrived for Config.CommitInterval.
	Idle(ctx context.Context) error
}

// Batch is what a partition worker hands its Processor.
type Batch struct {
	Partition int
	// Replay says the records were processed before (see Rewind).
	Replay bool
	// Reads are the valid reads, in offset order.
	Reads []plate.Read
	// Offsets[i] is the offset of the record of Reads[i].
	Offsets []int64
	// Appended[i] is the Kafka timestamp of the record of Reads[i].
	Appended []time.Time
}

// Config configures a Consumer. Zero values mean the defaults given.
type Config struct {
	Kafka kclient.Config
	// Group is the consumer group id; default "anpr".
	Group string
	// Topic is the reads topic; DLQTopic gets the rejects. Both required.
	Topic, DLQTopic string
	// MaxBatch caps the records of one batch; default 2000.
	MaxBatch int
	// CommitInterval is the time between offset commits (of every
	// partition at once) and the idle time after which a worker calls
	// Processor.Idle; default 200 ms.
	CommitInterval time.Duration
	// NewProcessor returns the processor of a partition for one generation.
	NewProcessor func(partition int) Processor
	// KnownCamera reports whether a camera is in the registry; nil: all are.
	KnownCamera func(id string) bool
	// Now is the clock for the future-capture-time check; default time.Now.
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.Group == "" {
		c.Group = "anpr"
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 2000
	}
	if c.CommitInterval <= 0 {
		c.CommitInterval = 200 * time.Millisecond
	}
	if c.KnownCamera == nil {
		c.KnownCamera = func(string) bool { return true }
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every missing required field at once.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Kafka.Brokers) == 0 {
		errs = append(errs, errors.New("ingest: no brokers"))
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("ingest: no reads topic"))
	}
	if c.DLQTopic == "" {
		errs = append(errs, errors.New("ingest: no dead-letter topic"))
	}
	if c.NewProcessor == nil {
		errs = append(errs, errors.New("ingest: no processor"))
	}
	return errors.Join(errs...)
}

// flushTimeout bounds how long a worker may take to finish the batch in hand
// once it is told to stop.
const flushTimeout = 30 * time.Second

// Consumer consumes the reads topic as a member of the consumer group.
type Consumer struct {
	cfg   Config
	m     *metrics
	dlq   *kclient.Writer
	ready atomic.Bool
	// stalled counts the workers waiting for Kafka to take their outputs.
	stalled atomic.Int32
}

// NewConsumer checks cfg and returns a consumer; it starts nothing.
func NewConsumer(cfg Config) (*Consumer, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Consumer{cfg: cfg, m: newMetrics(cfg.Registerer), dlq: cfg.Kafka.Writer(cfg.DLQTopic)}, nil
}

// Ready reports whether the consumer currently holds a group generation
// and no partition waits for Kafka to take its outputs. Safe for
// concurrent use.
func (c *Consumer) Ready() bool { return c.ready.Load() && c.stalled.Load() == 0 }

// Run joins the group and consumes until ctx is done or a Processor fails.
// It returns only after every partition worker has finished its batch in
// hand and committed it. A broker that cannot be reached is retried with
// backoff, logged once per minute, with Ready false meanwhile.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.dlq.Close()
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                c.cfg.Group,
		Brokers:           c.cfg.Kafka.Brokers,
		Dialer:            c.cfg.Kafka.Dialer(),
		Topics:            []string{c.cfg.Topic},
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: 500 * time.Millisecond,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  5 * time.Second,
		JoinGroupBackoff:  500 * time.Millisecond,
		Timeout:           10 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("consumer group: %w", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var stopOnce sync.Once
	stop := func() { stopOnce.Do(func() { _ = group.Close() }) }
	// Closing the group ends the generation, waits for the workers to flush
	// and commit, and leaves the group so a successor takes over at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	defer stop()

	var failures int
	var lastLog time.Time
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			c.ready.Store(false)
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				stop()
				if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
					return cause
				}
				return nil
			}
			failures++
			if time.Since(lastLog) >= time.Minute {
				c.cfg.Logger.Warn("kafka not reachable or group not joined; retrying",
					"group", c.cfg.Group, "brokers", c.cfg.Kafka.Brokers, "attempts", failures, "err", err)
				lastLog = time.Now()
				failures = 0
			}
			continue
		}
		parts := gen.Assignments[c.cfg.Topic]
		c.cfg.Logger.Info("consumer group generation", "group", c.cfg.Group,
			"generation", gen.ID, "partitions", len(parts))
		c.ready.Store(true)
		lastLog, failures = time.Time{}, 0
		offs := &offsets{c: c, gen: gen, pending: map[int]int64{}, committed: map[int]int64{}}
		for _, pa := range parts {
			// Never commit below the group's offset while replaying.
			offs.committed[pa.ID] = max(pa.Offset, -1)
		}
		gen.Start(offs.run)
		for _, pa := range parts {
			w := &worker{c: c, gen: gen, offs: offs, partition: pa.ID, offset: pa.Offset}
			gen.Start(func(gctx context.Context) {
				if err := w.run(gctx); err != nil {
					c.ready.Store(false)
					cancel(err)
				}
			})
		}
	}
}

// offsets are the committable offsets of one generation's partitions. They
// are committed together, in one request every CommitInterval and when a
// worker stops: a commit per worker had twelve of them wait on the
// coordinator connection at once, where kafka-go's waitResponse spins (3 %
// of the CPU at saturation).
type offsets struct {
	c   *Consumer
	gen *kafka.Generation
	mu  sync.Mutex
	// pending is each partition's offset after its last record handled.
	pending map[int]int64 // guarded by mu
	// commitMu serializes commits, so an offset never goes back.
	commitMu  sync.Mutex
	committed map[int]int64 // guarded by commitMu; -1 none
}

// handled records that the records of partition below off are done.
// Safe for concurrent use.
func (o *offsets) handled(partition int, off int64) {
	o.mu.Lock()
	o.pending[partition] = off
	o.mu.Unlock()
}

// commit commits every partition's pending offset above its committed one.
// Safe for concurrent use.
func (o *offsets) commit() error {
	o.commitMu.Lock()
	defer o.commitMu.Unlock()
	req := map[int]int64{}
	o.mu.Lock()
	for p, off := range o.pending {
		if off > o.committed[p] {
			req[p] = off
		}
	}
	o.mu.Unlock()
	if len(req) == 0 {
		return nil
	}
	if err := o.gen.CommitOffsets(map[string]map[int]int64{o.c.cfg.Topic: req}); err != nil {
		return err
	}
	maps.Copy(o.committed, req)
	o.c.m.commits.Inc()
	return nil
}

// committedOf returns partition's last committed offset; -1 none. Safe for
// concurrent use.
func (o *offsets) committedOf(partition int) int64 {
	o.commitMu.Lock()
	defer o.commitMu.Unlock()
	if off, ok := o.committed[partition]; ok {
		return off
	}
	return -1
}

// run commits every CommitInterval until the generation ends; each worker
// commits once more when it stops.
func (o *offsets) run(ctx context.Context) {
	t := time.NewTicker(o.c.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := o.commit(); err != nil {
				// Not fatal: the next commit covers it; a replay is idempotent.
				o.c.cfg.Logger.Debug("offset commit failed", "err", err)
			}
		}
	}
}

// worker owns one partition for one generation.
type worker struct {
	c         *Consumer
	gen       *kafka.Generation
	offs      *offsets
	partition int
	offset    int64 // next offset to fetch, as assigned
	replayEnd int64 // records below it are replayed (see Processor.Rewind)
	next      int64 // offset after the last record handled
	proc      Processor
	batch     Batch
	dlq       []kafka.Message
	stalled   bool // counted in Consumer.stalled
	r         *kafka.Reader
}

// Backoff between two starts of a partition whose outputs Kafka refused.
const (
	minRestartBackoff = 250 * time.Millisecond
	maxRestartBackoff = 5 * time.Second
)

// run consumes the partition until the generation ends or a Processor
// fails with anything but a *KafkaError. After a *KafkaError (Kafka down
// or refusing outputs) nothing of the failed batch is committed: the
// partition starts over from the last committed offset with a new
// Processor, which rebuilds its state as after a rebalance.
func (w *worker) run(ctx context.Context) error {
	c := w.c
	defer w.unstall()
	var lastWarn time.Time
	backoff := minRestartBackoff
	for {
		err := w.runOnce(ctx)
		var ke *KafkaError
		if err == nil || !errors.As(err, &ke) {
			return err
		}
		if ctx.Err() != nil {
			return nil // the generation ended; the group starts it over
		}
		if !w.stalled {
			w.stalled = true
			c.stalled.Add(1)
		}
		c.m.restarts.Inc()
		if time.Since(lastWarn) >= time.Minute {
			c.cfg.Logger.Warn("kafka refused a partition's outputs; starting the partition over from its committed offset",
				"partition", w.partition, "committed", w.offs.committedOf(w.partition), "retry_in", backoff, "err", err)
			lastWarn = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxRestartBackoff)
		if off := w.offs.committedOf(w.partition); off >= 0 {
			w.offset = off
		}
	}
}

func (w *worker) unstall() {
	if w.stalled {
		w.stalled = false
		w.c.stalled.Add(-1)
	}
}

func (w *worker) runOnce(ctx context.Context) error {
	c := w.c
	r := c.cfg.Kafka.PartitionReader(c.cfg.Topic, w.partition)
	defer r.Close()
	w.r = r
	w.replayEnd = w.offset
	w.proc = c.cfg.NewProcessor(w.partition)
	w.batch.Partition = w.partition
	from, err := w.proc.Rewind(ctx, w.offset)
	if err != nil {
		return fmt.Errorf("partition %d: rewind from offset %d: %w", w.partition, w.offset, err)
	}
	if from != w.offset {
		c.cfg.Logger.Info("partition replay", "partition", w.partition, "from", from, "to", w.offset)
	}
	if err := r.SetOffset(from); err != nil {
		return fmt.Errorf("partition %d: set offset %d: %w", w.partition, from, err)
	}
	w.next = from

	msgs := make(chan kafka.Message, c.cfg.MaxBatch)
	fetchCtx, stopFetch := context.WithCancel(ctx)
	var fetchErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(msgs)
		for {
			m, err := r.FetchMessage(fetchCtx)
			if err != nil {
				if fetchCtx.Err() == nil {
					fetchErr = err
				}
				return
			}
			select {
			case msgs <- m:
			case <-fetchCtx.Done():
				return
			}
		}
	})
	defer func() {
		stopFetch()
		wg.Wait()
	}()

	// The batch in hand is finished and committed even after ctx ends.
	flushCtx := context.WithoutCancel(ctx)
	recs := make([]kafka.Message, 0, c.cfg.MaxBatch)
	for {
		recs = recs[:0]
		select {
		case m, ok := <-msgs:
			if !ok {
				stopFetch()
				wg.Wait()
				if err := w.offs.commit(); err != nil {
					c.cfg.Logger.Debug("final offset commit failed", "partition", w.partition, "err", err)
				}
				if fetchErr != nil {
					// A lost connection ends the generation; the group rejoins.
					c.cfg.Logger.Warn("partition fetch failed", "partition", w.partition, "err", fetchErr)
				}
				return nil
			}
			recs = append(recs, m)
		case <-time.After(c.cfg.CommitInterval):
			// Idle: let the processor take time-driven decisions (not in
			// the middle of a replay: they belong to the live stream).
			if w.next >= w.replayEnd {
				fctx, cancel := context.WithTimeout(flushCtx, flushTimeout)
				err := w.proc.Idle(fctx)
				cancel()
				if err != nil {
					return fmt.Errorf("partition %d: idle: %w", w.partition, err)
				}
			}
		}
	drain:
		for len(recs) > 0 && len(recs) < c.cfg.MaxBatch {
			select {
			case m, ok := <-msgs:
				if !ok {
					break drain
				}
				recs = append(recs, m)
			default:
				break drain
			}
		}
		// rest walks recs so that recs keeps its capacity (no batch
		// reallocates it).
		for rest := recs; len(rest) > 0; {
			// A batch is all replay or all new.
			n := len(rest)
			if rest[0].Offset < w.replayEnd {
				n, _ = slices.BinarySearchFunc(rest, w.replayEnd, func(m kafka.Message, off int64) int {
					return cmp.Compare(m.Offset, off)
				})
			}
			fctx, cancel := context.WithTimeout(flushCtx, flushTimeout)
			err := w.handle(fctx, rest[:n], rest[0].Offset < w.replayEnd)
			cancel()
			if err != nil {
				return err
			}
			w.unstall()
			rest = rest[n:]
		}
	}
}

// handle decodes recs, sends rejects to the DLQ and valid reads to the
// Processor, and marks the batch committable.
func (w *worker) handle(ctx context.Context, recs []kafka.Message, replay bool) error {
	c := w.c
	now := c.cfg.Now()
	b := &w.batch
	b.Replay = replay
	b.Reads, b.Offsets, b.Appended, w.dlq = b.Reads[:0], b.Offsets[:0], b.Appended[:0], w.dlq[:0]
	for i := range recs {
		m := &recs[i]
		b.Reads = append(b.Reads, plate.Read{})
		rd := &b.Reads[len(b.Reads)-1]
		err := decode(m.Value, rd, now)
		if err != nil {
			b.Reads = b.Reads[:len(b.Reads)-1]
			if !replay {
				w.dlq = append(w.dlq, c.deadLetter(m, err))
			}
			continue
		}
		if !replay && !c.cfg.KnownCamera(rd.CameraID) {
			c.m.unknownCamera.Inc()
		}
		b.Offsets = append(b.Offsets, m.Offset)
		b.Appended = append(b.Appended, m.Time)
	}
	if replay {
		c.m.replayed.Add(float64(len(recs)))
	} else {
		c.m.consumed.Add(float64(len(recs)))
		c.m.batchSize.Observe(float64(len(recs)))
	}
	if len(b.Reads) > 0 {
		if err := w.proc.Process(ctx, b); err != nil {
			return fmt.Errorf("partition %d: process batch at offset %d: %w", w.partition, recs[0].Offset, err)
		}
	}
	if len(w.dlq) > 0 {
		if err := c.dlq.WriteMessages(ctx, w.dlq...); err != nil {
			return &KafkaError{Err: fmt.Errorf("partition %d: write %d records to dead-letter topic: %w", w.partition, len(w.dlq), err)}
		}
	}
	last := &recs[len(recs)-1]
	w.next = last.Offset + 1
	w.offs.handled(w.partition, w.next)
	// The lag is from the reader's newest fetch, not from this record's:
	// records queued in the reader count (they were fetched with older
	// high watermarks, and a backlog fetched ahead would report none).
	st := w.r.Stats()
	c.m.lag.WithLabelValues(strconv.Itoa(w.partition)).Set(float64(max(st.Offset+st.Lag-w.next, 0)))
	return nil
}

// decode turns one record value into a valid read, or says why not.
func decode(value []byte, r *plate.Read, now time.Time) error {
	if err := plate.Decode(value, r); err != nil {
		return err
	}
	return r.CheckTime(now)
}

// deadLetter builds the DLQ record for m, which failed with err, and counts it.
func (c *Consumer) deadLetter(m *kafka.Message, err error) kafka.Message {
	reason, detail := plate.ReasonInvalidJSON, err.Error()
	var de *plate.DecodeError
	if errors.As(err, &de) {
		reason = de.Reason
	}
	c.m.rejected.WithLabelValues(reason).Inc()
	return kafka.Message{
		Key:   m.Key,
		Value: m.Value,
		Headers: []kafka.Header{
			{Key: "anpr-error", Value: []byte(reason)},
			{Key: "anpr-detail", Value: []byte(detail)},
			{Key: "anpr-source", Value: []byte(m.Topic + "/" + strconv.Itoa(m.Partition) + "/" + strconv.FormatInt(m.Offset, 10))},
		},
	}
}
