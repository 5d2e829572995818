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
	// replayBatch caps the changes of one Apply while a Follower replays
	// the topic at start. An Apply rebuilds every shard it touches, so a
	// large replay costs about (entries / replayBatch) full rebuilds; the
	// changes waiting for it cost about 350 bytes each (Change plus its
	// strings), 180 MB at this size.
	replayBatch = 1 << 19
	// replayLinger is how long a replay batch waits for one more chunk
	// before it is applied anyway (a partition that stalls).
	replayLinger = 50 * time.Millisecond
	// chunkSize caps the records a fetcher hands over at once; it hands
	// over fewer when it has reached the end of its partition.
	chunkSize = 1024
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

// chunk is a run of decoded records of one partition, in offset order.
type chunk struct {
	partition int
	next      int64            // offset after its last record
	changes   []matcher.Change // of its good records
	live      []time.Time      // Kafka timestamps of its good records written after Run started
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
	chunks := make(chan *chunk, 4*len(hwm))
	fetchCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for p, w := range hwm {
		wg.Go(func() { f.fetch(fetchCtx, p, w, chunks) })
	}
	defer func() {
		stop()
		wg.Wait()
	}()
	f.applyLoop(ctx, hwm, chunks)
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

// fetch sends the decoded records of partition p to out in chunks, from
// the earliest offset, until ctx is done; hwm is p's high watermark when
// Run started. It decodes here, not in the applier, so that decoding uses
// the other core while Apply runs, and counts the bad records itself.
func (f *Follower) fetch(ctx context.Context, p int, hwm int64, out chan<- *chunk) {
	r := f.cfg.Kafka.PartitionReader(f.cfg.Topic, p)
	defer r.Close()
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		panic("BUG: SetOffset on a reader without a group: " + err.Error())
	}
	size := min(chunkSize, f.cfg.MaxBatch)
	c := &chunk{partition: p}
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
		ch, bad := decode(m.Key, m.Value, f.known)
		if bad != "" {
			f.skip(p, m.Offset, bad)
		} else {
			if c.changes == nil {
				c.changes = make([]matcher.Change, 0, size)
			}
			c.changes = append(c.changes, ch)
			if m.Offset >= hwm {
				c.live = append(c.live, m.Time)
			}
		}
		c.next = m.Offset + 1
		// Below the high watermark of its fetch the reader has more at
		// hand: keep collecting. At the end of the partition, hand over at
		// once: a live change waits for nothing.
		if m.HighWaterMark > c.next && len(c.changes) < size {
			continue
		}
		select {
		case out <- c:
		case <-ctx.Done():
			return
		}
		c = &chunk{partition: p}
	}
}

// skip counts a bad record and logs it at most once a minute.
func (f *Follower) skip(partition int, offset int64, reason string) {
	f.metrics.bad.WithLabelValues(reason).Inc()
	if ok, held := f.badLog.allow(time.Now()); ok {
		// The key holds a plate: never logged.
		f.cfg.Logger.Warn("hotlist record skipped", "topic", f.cfg.Topic, "partition", partition,
			"offset", offset, "reason", reason, "skipped_unlogged", held)
	}
}

// applyLoop applies what the fetchers send, in batches, until ctx is done.
// It is the only goroutine that calls Apply. While replaying it gathers up
// to replayBatch changes, or all of them up to the start watermarks, per
// Apply; once ready it applies at once whatever has arrived, up to
// Config.MaxBatch changes.
func (f *Follower) applyLoop(ctx context.Context, hwm map[int]int64, chunks <-chan *chunk) {
	start := time.Now()
	received := make(map[int]int64, len(hwm)) // offset after the last record received
	applied := make(map[int]int64, len(hwm))  // and applied
	replayed := 0
	f.checkReady(hwm, applied, replayed, start)
	linger := time.NewTimer(replayLinger)
	defer linger.Stop()
	// Replaying, the batch is large: allocate it once, not by growing it.
	changes := make([]matcher.Change, 0, replayBatch+chunkSize)
	var live []time.Time
	add := func(c *chunk) {
		changes = append(changes, c.changes...)
		live = append(live, c.live...)
		received[c.partition] = c.next
		replayed += len(c.changes)
	}
	for {
		select {
		case c := <-chunks:
			add(c)
		case <-ctx.Done():
			return
		}
	collect:
		for {
			ready := f.Ready()
			if ready && len(changes) >= f.cfg.MaxBatch ||
				!ready && (len(changes) >= replayBatch || caughtUp(hwm, received)) {
				break
			}
			select {
			case c := <-chunks:
				add(c)
				continue
			default:
			}
			if ready {
				break
			}
			linger.Reset(replayLinger)
			select {
			case c := <-chunks:
				add(c)
			case <-linger.C:
				break collect
			case <-ctx.Done():
				return
			}
		}
		f.apply(changes, live)
		clear(changes) // let go of the strings
		changes, live = changes[:0], live[:0]
		for p, next := range received {
			applied[p] = next
		}
		if !f.Ready() {
			f.checkReady(hwm, applied, replayed, start)
			if f.Ready() {
				changes = nil // the replay's batch is of no more use
			}
		}
	}
}

// caughtUp reports whether every partition has reached its start watermark.
func caughtUp(hwm, next map[int]int64) bool {
	for p, w := range hwm {
		if next[p] < w {
			return false
		}
	}
	return true
}

// apply applies changes and accounts for them; live are the Kafka
// timestamps of those written after Run started.
func (f *Follower) apply(changes []matcher.Change, live []time.Time) {
	if len(changes) == 0 {
		return
	}
	t0 := time.Now()
	err := f.m.Apply(changes)
	if len(changes) > 10000 {
		println("DEBUG apply", len(changes), time.Since(t0).String())
	}
	if err != nil {
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
	deletes := 0
	for i := range changes {
		if changes[i].Delete {
			deletes++
		}
	}
	f.metrics.changes.WithLabelValues("put").Add(float64(len(changes) - deletes))
	f.metrics.changes.WithLabelValues("delete").Add(float64(deletes))
	now := time.Now()
	for _, t := range live {
		f.metrics.apply.Observe(now.Sub(t).Seconds())
	}
}

// checkReady marks the Follower ready once every partition is applied up
// to its start watermark.
func (f *Follower) checkReady(hwm, applied map[int]int64, replayed int, start time.Time) {
	if !caughtUp(hwm, applied) {
		return
	}
	entries := 0
	for _, l := range f.m.Lists() {
		entries += l.Entries
	}
	f.cfg.Logger.Info("hotlists replayed", "topic", f.cfg.Topic, "partitions", len(hwm),
		"changes", replayed, "entries", entries, "duration", time.Since(start).Round(time.Millisecond))
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
