package hotlist

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/matcher"
)

const (
	// replayBatch caps the changes of one Apply while a Follower replays
	// the topic at start. Apply costs about 1 µs per change plus a pass
	// over the index (about 2 ns per entry, 20 ms at 1e7): fewer, larger
	// batches save passes, and each change waiting costs about 370 bytes
	// (a Change and the record it points into), 50 MB at this size.
	replayBatch = 1 << 17
	// replayLinger is how long a replay batch waits for one more chunk
	// before it is applied anyway (a partition that stalls).
	replayLinger = 50 * time.Millisecond
	// chunkSize caps the records a fetcher hands over at once; it hands
	// over the rest of each fetch at once.
	chunkSize = 1024
	// chunkBuffer is how many chunks may wait for the applier: a replay
	// batch, so that the fetchers go on decoding while it is applied.
	chunkBuffer = replayBatch / chunkSize
	// A fetch returns up to fetchMaxBytes, or waits up to fetchMaxWait
	// for a first record; fetchTimeout more for the answer to arrive.
	fetchMaxBytes, fetchMaxWait, fetchTimeout = 8 << 20, 500 * time.Millisecond, 10 * time.Second
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
	batch     int         // replayBatch; tests lower it
	brokerLog everyMinute // broker unreachable
	badLog    everyMinute // records skipped
}

// chunk is a run of decoded records of one partition, in offset order.
type chunk struct {
	partition int
	next      int64            // offset after its last record
	changes   []matcher.Change // of its good records
	old       int              // how many of changes are before Config.AddedSince
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
	return &Follower{cfg: cfg, m: m, known: known, metrics: met, ready: make(chan struct{}), batch: replayBatch}, nil
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
	// Room for the fetchers to go on while the applier is in Apply.
	chunks := make(chan *chunk, chunkBuffer)
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
	since := hwm
	if f.cfg.AddedSince != nil {
		since = f.cfg.AddedSince[p] // a partition it lacks: from the start
	}
	d := f.cfg.Kafka.Dialer()
	next := int64(-1) // the first offset, once known
	for attempt := 0; ; attempt++ {
		addr := f.cfg.Kafka.Brokers[attempt%len(f.cfg.Kafka.Brokers)]
		progress, err := f.fetchFrom(ctx, d, addr, p, hwm, since, &next, out)
		if ctx.Err() != nil {
			return
		}
		if progress {
			attempt = 0
		}
		f.warnBroker("hotlist fetch failed; retrying", err, "partition", p)
		if !sleep(ctx, backoff(attempt)) {
			return
		}
	}
}

// fetchFrom fetches partition p from the leader, found through the broker
// at addr, from offset *next (the first offset when negative) and moves
// *next on; since is the partition's Config.AddedSince. It returns on a broker error, or nil when ctx is done, and
// reports whether it moved *next on.
//
// It reads batches off a kafka.Conn rather than through a kafka.Reader,
// which costs a channel hand-over and a socket deadline per message: a
// fifth of the replay's CPU.
func (f *Follower) fetchFrom(ctx context.Context, d *kafka.Dialer, addr string, p int, hwm, since int64,
	next *int64, out chan<- *chunk) (progress bool, err error) {
	conn, err := d.DialLeader(ctx, "tcp", addr, f.cfg.Topic, p)
	if err != nil {
		return false, fmt.Errorf("dial leader of partition %d: %w", p, err)
	}
	defer conn.Close()
	// Closing the connection ends a long poll at once when ctx is done.
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	if *next < 0 {
		if *next, err = conn.ReadFirstOffset(); err != nil {
			return false, fmt.Errorf("first offset of partition %d: %w", p, err)
		}
	}
	size := min(chunkSize, f.cfg.MaxBatch)
	for {
		if _, err := conn.Seek(*next, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
			return progress, fmt.Errorf("seek partition %d: %w", p, err)
		}
		// A fetch answers within fetchMaxWait; the rest is for the transfer.
		conn.SetReadDeadline(time.Now().Add(fetchMaxWait + fetchTimeout))
		b := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: fetchMaxBytes, MaxWait: fetchMaxWait})
		c := &chunk{partition: p}
		var err error
		for {
			var m kafka.Message
			if m, err = b.ReadMessage(); err != nil {
				break
			}
			if m.Offset < *next {
				continue // a compressed batch may start before the offset asked for
			}
			ch, bad := decode(unsafeString(m.Key), unsafeString(m.Value), f.known)
			if bad != "" {
				f.skip(p, m.Offset, bad)
			} else {
				if c.changes == nil {
					c.changes = make([]matcher.Change, 0, size)
				}
				c.changes = append(c.changes, ch)
				if m.Offset < since {
					c.old = len(c.changes)
				}
				if m.Offset >= hwm {
					c.live = append(c.live, m.Time)
				}
			}
			*next, c.next, progress = m.Offset+1, m.Offset+1, true
			if len(c.changes) == size {
				if !send(ctx, out, c) {
					return progress, nil
				}
				c = &chunk{partition: p}
			}
		}
		// Compaction can leave a batch ending in records it removed: the
		// batch's offset, not its last message, says where the next
		// fetch starts (and whether the start watermark is reached).
		if o := b.Offset(); o > *next {
			*next, c.next, progress = o, o, true
		}
		closeErr := b.Close()
		// The rest of the fetch at once: a live change waits for nothing.
		if c.next > 0 && !send(ctx, out, c) {
			return progress, nil
		}
		if err == nil || errors.Is(err, io.EOF) {
			err = closeErr
		}
		switch {
		case ctx.Err() != nil:
			return progress, nil
		case err == nil, errors.Is(err, kafka.RequestTimedOut):
			continue // the batch is done, or the long poll found nothing
		case errors.Is(err, kafka.OffsetOutOfRange):
			*next = -1 // retention or deletion moved the start
		}
		return progress, fmt.Errorf("fetch partition %d: %w", p, err)
	}
}

func send(ctx context.Context, out chan<- *chunk, c *chunk) bool {
	select {
	case out <- c:
		return true
	case <-ctx.Done():
		return false
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
	// The replay's puts from Config.AddedSince on, for Added once ready;
	// the last change of a key wins.
	var added map[string]matcher.Entry
	if f.cfg.Added != nil {
		added = make(map[string]matcher.Entry)
	}
	f.checkReady(hwm, applied, replayed, start)
	if f.Ready() {
		f.added(nil, applied)
	}
	linger := time.NewTimer(replayLinger)
	defer linger.Stop()
	// Replaying, the batch is large: allocate it once, not by growing it.
	var total int64
	for _, w := range hwm {
		total += w
	}
	changes := make([]matcher.Change, 0, min(total, int64(f.batch))+chunkSize)
	var live []time.Time
	add := func(c *chunk) {
		changes = append(changes, c.changes...)
		live = append(live, c.live...)
		received[c.partition] = c.next
		replayed += len(c.changes)
		if added != nil && !f.Ready() {
			for _, ch := range c.changes[c.old:] {
				if k := ch.Entry.List + "/" + ch.Entry.Plate; ch.Delete {
					delete(added, k)
				} else {
					added[k] = ch.Entry
				}
			}
		}
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
				!ready && (len(changes) >= f.batch || caughtUp(hwm, received)) {
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
		wasReady := f.Ready()
		f.apply(changes, live)
		for p, next := range received {
			applied[p] = next
		}
		if wasReady {
			f.added(changes, applied)
		}
		clear(changes) // let go of the strings
		changes, live = changes[:0], live[:0]
		if !wasReady {
			f.checkReady(hwm, applied, replayed, start)
			if f.Ready() {
				changes = nil // the replay's batch is of no more use
				puts := make([]matcher.Change, 0, len(added))
				for _, en := range added {
					puts = append(puts, matcher.Change{Entry: en})
				}
				added = nil
				f.added(puts, applied)
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

// added hands the puts among changes, and a copy of next, to Config.Added.
func (f *Follower) added(changes []matcher.Change, next map[int]int64) {
	if f.cfg.Added == nil {
		return
	}
	var puts []matcher.Entry
	for i := range changes {
		if !changes[i].Delete {
			puts = append(puts, changes[i].Entry)
		}
	}
	f.cfg.Added(puts, maps.Clone(next))
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
