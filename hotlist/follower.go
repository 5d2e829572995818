package hotlist

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/matcher"
)

const (
	// catchUpFactor multiplies Config.MaxBatch while a Follower replays the
	// topic at start (see Config.MaxBatch).
	catchUpFactor = 32
	// catchUpLinger is how long a replay batch waits for one more record
	// before it is applied.
	catchUpLinger = 2 * time.Millisecond
	// Retry backoff after a broker error.
	minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
)

// Follower applies the hotlist topic to a Matcher (see the package
// documentation). Run, Ready and WaitReady are safe for concurrent use;
// Run may be called once.
type Follower struct {
	cfg     Config
	m       *matcher.Matcher
	known   map[string]bool // the matcher's lists
	metrics *metrics

	started   atomic.Bool
	ready     chan struct{} // closed once ready
	isReady   atomic.Bool
	brokerLog everyMinute // broker unreachable
	badLog    everyMinute // records skipped
}

// record is a fetched record, decoded.
type record struct {
	partition int
	offset    int64
	time      time.Time // Kafka timestamp
	change    matcher.Change
	bad       string // why it is skipped; "" when good
}

// NewFollower returns a Follower that applies the topic to m. It starts
// nothing: call Run.
func NewFollower(cfg Config, m *matcher.Matcher) (*Follower, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new hotlist follower: %w", err)
	}
	if m == nil {
		return nil, errors.New("new hotlist follower: nil matcher")
	}
	cfg.setDefaults()
	met, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("new hotlist follower: %w", err)
	}
	known := make(map[string]bool)
	for _, l := range m.Lists() {
		known[l.Name] = true
	}
	return &Follower{cfg: cfg, m: m, known: known, metrics: met, ready: make(chan struct{})}, nil
}

// Ready reports whether every partition has been applied up to the high
// watermark it had when Run started.
func (f *Follower) Ready() bool { return f.isReady.Load() }

// WaitReady blocks until the Follower is ready (nil) or ctx is done (ctx's
// error, wrapped).
func (f *Follower) WaitReady(ctx context.Context) error {
	select {
	case <-f.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for hotlists: %w", ctx.Err())
	}
}

// Run follows the topic until ctx is done, then returns nil once its
// goroutines have exited. Broker errors are retried with backoff and
// logged at most once a minute; bad records are counted and skipped.
func (f *Follower) Run(ctx context.Context) error {
	if !f.started.CompareAndSwap(false, true) {
		return errors.New("hotlist follower: Run called twice")
	}
	hwm, ok := f.watermarks(ctx)
	if !ok {
		return nil
	}
	recs := make(chan record, f.cfg.MaxBatch)
	fetchCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for p := range hwm {
		wg.Go(func() { f.fetch(fetchCtx, p, recs) })
	}
	defer func() {
		stop()
		wg.Wait()
	}()
	f.applyLoop(ctx, hwm, recs)
	return nil
}

// watermarks returns the high watermark of every partition of the topic,
// retrying until it has them; false when ctx ended first.
func (f *Follower) watermarks(ctx context.Context) (map[int]int64, bool) {
	t := f.cfg.Kafka.Transport()
	defer t.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(f.cfg.Kafka.Brokers...), Transport: t, Timeout: 10 * time.Second}
	for attempt := 0; ; attempt++ {
		hwm, err := listWatermarks(ctx, c, f.cfg.Topic)
		if err == nil {
			return hwm, true
		}
		if ctx.Err() != nil {
			return nil, false
		}
		f.warnBroker("hotlist topic not readable; retrying", err)
		if !sleep(ctx, backoff(attempt)) {
			return nil, false
		}
	}
}

func listWatermarks(ctx context.Context, c *kafka.Client, topic string) (map[int]int64, error) {
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %q: %w", topic, err)
	}
	if len(md.Topics) != 1 {
		return nil, fmt.Errorf("metadata of %q: %d topics in the answer", topic, len(md.Topics))
	}
	if err := md.Topics[0].Error; err != nil {
		return nil, fmt.Errorf("metadata of %q: %w", topic, err)
	}
	var req []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		req = append(req, kafka.LastOffsetOf(p.ID))
	}
	if len(req) == 0 {
		return nil, fmt.Errorf("metadata of %q: no partitions", topic)
	}
	res, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: req}})
	if err != nil {
		return nil, fmt.Errorf("offsets of %q: %w", topic, err)
	}
	hwm := make(map[int]int64, len(req))
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("offsets of %q partition %d: %w", topic, po.Partition, po.Error)
		}
		hwm[po.Partition] = po.LastOffset
	}
	if len(hwm) != len(req) {
		return nil, fmt.Errorf("offsets of %q: %d of %d partitions in the answer", topic, len(hwm), len(req))
	}
	return hwm, nil
}

// fetch sends the decoded records of partition p to out, from the
// earliest offset, until ctx is done.
func (f *Follower) fetch(ctx context.Context, p int, out chan<- record) {
	r := f.cfg.Kafka.PartitionReader(f.cfg.Topic, p)
	defer r.Close()
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		panic("BUG: SetOffset on a reader without a group: " + err.Error())
	}
	for attempt := 0; ; {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// The reader reconnects by itself; this only paces the retries.
			f.warnBroker("hotlist fetch failed; retrying", err, "partition", p)
			if !sleep(ctx, backoff(attempt)) {
				return
			}
			attempt++
			continue
		}
		attempt = 0
		c, bad := decode(m.Key, m.Value, f.known)
		select {
		case out <- record{partition: p, offset: m.Offset, time: m.Time, change: c, bad: bad}:
		case <-ctx.Done():
			return
		}
	}
}

// applyLoop applies what the fetchers send, in batches, until ctx is done.
// It is the only goroutine that calls Apply.
func (f *Follower) applyLoop(ctx context.Context, hwm map[int]int64, recs <-chan record) {
	start := time.Now()
	next := make(map[int]int64, len(hwm)) // offset after the last record applied
	replayed := 0
	f.checkReady(hwm, next, replayed, start)
	linger := time.NewTimer(catchUpLinger)
	defer linger.Stop()
	var batch []record
	var changes []matcher.Change
	for {
		batch = batch[:0]
		select {
		case r := <-recs:
			batch = append(batch, r)
		case <-ctx.Done():
			return
		}
		// Live, apply what is there at once. Replaying, wait a little for
		// more: Apply costs about the same for one change as for many.
		limit, wait := f.cfg.MaxBatch, false
		if !f.Ready() {
			limit, wait = limit*catchUpFactor, true
		}
	collect:
		for len(batch) < limit {
			select {
			case r := <-recs:
				batch = append(batch, r)
				continue
			default:
			}
			if !wait {
				break collect
			}
			linger.Reset(catchUpLinger)
			select {
			case r := <-recs:
				batch = append(batch, r)
			case <-linger.C:
				break collect
			case <-ctx.Done():
				return
			}
		}
		changes = f.apply(batch, hwm, changes[:0])
		for _, r := range batch {
			next[r.partition] = r.offset + 1
		}
		if !f.Ready() {
			replayed += len(batch)
			f.checkReady(hwm, next, replayed, start)
		}
	}
}

// apply applies the good records of batch and accounts for all of them;
// changes is scratch space, returned for reuse.
func (f *Follower) apply(batch []record, hwm map[int]int64, changes []matcher.Change) []matcher.Change {
	for i := range batch {
		r := &batch[i]
		if r.bad != "" {
			f.metrics.bad.WithLabelValues(r.bad).Inc()
			if ok, held := f.badLog.allow(time.Now()); ok {
				// The key holds a plate: never logged.
				f.cfg.Logger.Warn("hotlist record skipped", "topic", f.cfg.Topic, "partition", r.partition,
					"offset", r.offset, "reason", r.bad, "skipped_unlogged", held)
			}
			continue
		}
		changes = append(changes, r.change)
	}
	if len(changes) == 0 {
		return changes
	}
	if err := f.m.Apply(changes); err != nil {
		// Check rejects what the matcher would; if the two disagree, the
		// change is lost, not the feed. Matcher errors never quote plates.
		n := len(changes)
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			n = len(j.Unwrap())
		}
		f.metrics.bad.WithLabelValues(reasonRejected).Add(float64(n))
		if ok, held := f.badLog.allow(time.Now()); ok {
			f.cfg.Logger.Warn("hotlist changes rejected by the matcher", "topic", f.cfg.Topic,
				"changes", len(changes), "rejected", n, "skipped_unlogged", held, "err", err)
		}
	}
	now := time.Now()
	for i := range batch {
		r := &batch[i]
		if r.bad != "" {
			continue
		}
		op := "put"
		if r.change.Delete {
			op = "delete"
		}
		f.metrics.changes.WithLabelValues(op).Inc()
		if r.offset >= hwm[r.partition] {
			f.metrics.apply.Observe(now.Sub(r.time).Seconds())
		}
	}
	return changes
}

// checkReady marks the Follower ready once every partition is applied up
// to its start watermark.
func (f *Follower) checkReady(hwm, next map[int]int64, replayed int, start time.Time) {
	for p, w := range hwm {
		if next[p] < w {
			return
		}
	}
	entries := 0
	for _, l := range f.m.Lists() {
		entries += l.Entries
	}
	f.cfg.Logger.Info("hotlists replayed", "topic", f.cfg.Topic, "partitions", len(hwm),
		"records", replayed, "entries", entries, "duration", time.Since(start).Round(time.Millisecond))
	f.isReady.Store(true)
	close(f.ready)
}

func (f *Follower) warnBroker(msg string, err error, args ...any) {
	if ok, held := f.brokerLog.allow(time.Now()); ok {
		args = append(args, "topic", f.cfg.Topic, "brokers", f.cfg.Kafka.Brokers, "failures_unlogged", held, "err", err)
		f.cfg.Logger.Warn(msg, args...)
	}
}

// everyMinute lets a log line through at most once a minute and counts
// those held back. It is safe for concurrent use.
type everyMinute struct {
	mu   sync.Mutex
	last time.Time
	held int
}

// allow reports whether to log now and how many were held back since the
// last line.
func (e *everyMinute) allow(now time.Time) (ok bool, held int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.last.IsZero() && now.Sub(e.last) < time.Minute {
		e.held++
		return false, 0
	}
	held, e.held, e.last = e.held, 0, now
	return true, held
}

func backoff(attempt int) time.Duration {
	return min(minBackoff<<min(attempt, 10), maxBackoff)
}

// sleep waits for d or ctx; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
