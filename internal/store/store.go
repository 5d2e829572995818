package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultRetention is how long passages and events are kept by default
// (SPEC §7 retention).
const DefaultRetention = 8760 * time.Hour

// gcInterval is how often Run asks Badger to garbage-collect the value log.
const gcInterval = 5 * time.Minute

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("store closed")

// Options configure a Store. The zero value of each field means its default.
type Options struct {
	// Dir is the data directory; required. It is created if missing.
	Dir string
	// Retention is how long a passage is kept after its capture time.
	// Default DefaultRetention (8760h).
	Retention time.Duration
	// HitRetention and ViolationRetention are how long the events of those
	// logs are kept after their read's capture time; default Retention.
	HitRetention, ViolationRetention time.Duration
	// EncryptionKey, when set, encrypts everything Badger writes with
	// AES (16, 24 or 32 bytes: AES-128, -192, -256). A directory written
	// with a key cannot be opened without it; see RotateKey.
	EncryptionKey []byte
	// NoSync makes Write return once Badger has the data in its memory-mapped
	// write-ahead log, without fdatasync: it survives a crash of the process
	// but not of the machine. Default false: every Write is synced to disk
	// (group-committed by Badger, about 0.3 ms).
	NoSync bool
	// Logger receives Badger's own log lines (errors as Error, warnings as
	// Warn, the rest as Debug) and the store's. Default: discard.
	Logger *slog.Logger
	// Registerer registers the store's metrics; nil means no metrics.
	Registerer prometheus.Registerer
	// PlatesPerDay sizes the filter that writes a plate's pattern-index
	// keys once per capture day (doc.go, "Indexes"): beyond it the filter's
	// false positives, plate-days missing from the pattern index, rise
	// above 7e-7. Default DefaultPlatesPerDay (4 M, about 20 MB a day).
	PlatesPerDay int
	// IndexFlushPostings and IndexFlushAge say when the camera and pattern
	// index postings waiting in memory (and in the journal) are written as
	// blocks: at that many postings, or when the oldest has waited that
	// long. Defaults DefaultIndexFlushPostings, DefaultIndexFlushAge.
	IndexFlushPostings int
	IndexFlushAge      time.Duration
	// FailCommit, when set, is called before each write transaction
	// commits; an error it returns fails the commit as a Badger error
	// would, nothing of the transaction written. Tests only: it injects
	// store failures (a full or broken disk) where a real one cannot be
	// had.
	FailCommit func() error
}

// Validate reports every problem of o at once.
func (o *Options) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("dir: required"))
	}
	for _, r := range []struct {
		name string
		d    time.Duration
	}{{"retention", o.Retention}, {"hit retention", o.HitRetention}, {"violation retention", o.ViolationRetention}} {
		if r.d < 0 {
			errs = append(errs, fmt.Errorf("%s: %v is negative", r.name, r.d))
		}
	}
	switch len(o.EncryptionKey) {
	case 0, 16, 24, 32:
	default:
		errs = append(errs, fmt.Errorf("encryption key: %d bytes, want 16, 24 or 32", len(o.EncryptionKey)))
	}
	return errors.Join(errs...)
}

// Store keeps passages and the event logs in Badger.
// All methods are safe for concurrent use, Close included.
//
// Lock order: closeMu (read-locked by every method, write-locked by Close)
// before seqMu before notifyMu and the day filter's lock (dayFilter.mu).
type Store struct {
	db        *badger.DB
	retention time.Duration // of passages
	// logRetention is the retention of each log, indexed by Log.
	logRetention [256]time.Duration
	logger       *slog.Logger
	m            *metrics
	failCommit   func() error // Options.FailCommit

	closeMu sync.RWMutex
	closed  atomic.Bool

	// seqMu serializes the transactions that append to an event log, so that
	// sequences commit in order and a reader never sees n+1 before n.
	seqMu sync.Mutex
	// lastSeq is the last committed sequence of each log, indexed by Log.
	// Written under seqMu after the commit; read without it.
	lastSeq [256]atomic.Uint64

	notifyMu sync.Mutex
	notify   map[Log]chan struct{} // guarded by notifyMu

	days *dayFilter // its own lock, last in the order (taken under seqMu after a commit)

	// groupMu guards queue, the Writes waiting to be group-committed, and
	// groups, the number of groups committing (write.go). It is never held
	// with another lock.
	groupMu sync.Mutex
	queue   []*pendingWrite
	groups  int

	dict *cameraDict // camera codes of the passage keys (dict.go)

	// postMu guards pending and flushing: the index postings not
	// yet in blocks (postings.go). Only flushMu is taken before it.
	flushMu  sync.Mutex // held by flushIndex and merge, before postMu
	postMu   sync.RWMutex
	pending  *postings
	flushing *postings // being written as blocks
	// unmerged holds the hours flushed to since their camera blocks were
	// last merged, newestHour the latest flushed (camblock.go); flushMu.
	unmerged      map[int64]struct{}
	newestHour    int64
	journalID     atomic.Uint64
	flushPostings int
	flushAge      time.Duration
	flushNow      chan struct{}
	stopFlush     chan struct{}
	flusherDone   chan struct{}
	noFinalFlush  bool // tests: Close leaves the journal as a crash would
}

// Open opens (or creates) the store in opts.Dir and reads back the index
// postings a previous run left in the journal. It starts one goroutine, the
// index flusher, and Badger its own; Close stops them all.
func Open(opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	if opts.HitRetention == 0 {
		opts.HitRetention = opts.Retention
	}
	if opts.ViolationRetention == 0 {
		opts.ViolationRetention = opts.Retention
	}
	if opts.PlatesPerDay <= 0 {
		opts.PlatesPerDay = DefaultPlatesPerDay
	}
	if opts.IndexFlushPostings <= 0 {
		opts.IndexFlushPostings = DefaultIndexFlushPostings
	}
	if opts.IndexFlushAge <= 0 {
		opts.IndexFlushAge = DefaultIndexFlushAge
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "store")
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", opts.Dir, err)
	}
	// Check the key first: badger.Open failing on a key mismatch leaves its
	// cache goroutines running.
	if err := checkKey(opts.Dir, opts.EncryptionKey); err != nil {
		return nil, fmt.Errorf("open store %q: %w", opts.Dir, err)
	}
	bo := badgerOptions(opts.Dir, !opts.NoSync, logger)
	bo.EncryptionKey = opts.EncryptionKey
	bo.EncryptionKeyRotationDuration = keyRotation
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", opts.Dir, err)
	}
	s := &Store{db: db, retention: opts.Retention, logger: logger, m: m,
		notify: make(map[Log]chan struct{}), days: newDayFilter(opts.PlatesPerDay), failCommit: opts.FailCommit,
		pending: newPostings(), unmerged: map[int64]struct{}{}, flushPostings: opts.IndexFlushPostings,
		flushAge: opts.IndexFlushAge, flushNow: make(chan struct{}, 1), stopFlush: make(chan struct{}),
		flusherDone: make(chan struct{})}
	s.logRetention[Hits] = opts.HitRetention
	s.logRetention[Violations] = opts.ViolationRetention
	if err := s.checkFormat(); err != nil {
		return nil, errors.Join(fmt.Errorf("open store %q: %w", opts.Dir, err), db.Close())
	}
	if s.dict, err = loadCameraDict(db); err != nil {
		return nil, errors.Join(fmt.Errorf("open store %q: %w", opts.Dir, err), db.Close())
	}
	if err := s.recoverSeqs(); err != nil {
		return nil, errors.Join(fmt.Errorf("open store %q: %w", opts.Dir, err), db.Close())
	}
	if err := s.recoverJournal(); err != nil {
		return nil, errors.Join(fmt.Errorf("open store %q: index journal: %w", opts.Dir, err), db.Close())
	}
	s.noteReopened()
	go s.flusher(s.stopFlush, s.flusherDone)
	return s, nil
}

// ErrFormat means the store was written with other key or value encodings
// than this build's (formatVersion): an older build's store is refused,
// not misread; replay it from Kafka into a new data directory.
var ErrFormat = errors.New("store written in another on-disk format")

// checkFormat records formatVersion in a new store and refuses one of
// another version; a store with data and no version is of version 1.
func (s *Store) checkFormat() error {
	key := []byte{prefixFormat}
	return s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		switch {
		case err == nil:
			var v uint64
			if err := item.Value(func(b []byte) error {
				var n int
				v, n = binary.Uvarint(b)
				if n <= 0 {
					v = 0
				}
				return nil
			}); err != nil {
				return err
			}
			if v != formatVersion {
				return fmt.Errorf("%w: version %d, this build reads %d", ErrFormat, v, formatVersion)
			}
			return nil
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		if it.Rewind(); it.Valid() { // any key: a store of version 1
			return fmt.Errorf("%w: version 1, this build reads %d", ErrFormat, formatVersion)
		}
		return txn.Set(key, binary.AppendUvarint(nil, formatVersion))
	})
}

// injected is the error Options.FailCommit injects, if any.
func (s *Store) injected() error {
	if s.failCommit == nil {
		return nil
	}
	return s.failCommit()
}

// Settle flushes the index postings, merges the camera blocks of every
// hour flushed to (camblock.go), then waits until Badger's compactions have
// brought every level of the tree within its target size, or ctx ends. A
// bulk load (anpr bench store's fill) writes faster than compaction keeps
// up, which leaves the upper levels many times their size until the
// compactions catch up.
// The store is held only while it looks: a Close meanwhile ends the wait
// with ErrClosed.
func (s *Store) Settle(ctx context.Context) error {
	if err := s.acquire(); err != nil {
		return err
	}
	err := s.flushIndex()
	if err == nil {
		err = s.merge(true)
	}
	s.closeMu.RUnlock()
	if err != nil {
		return err
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if err := s.acquire(); err != nil {
			return err
		}
		busy := slices.ContainsFunc(s.db.Levels(), func(l badger.LevelInfo) bool { return l.Score >= 1 })
		s.closeMu.RUnlock()
		if !busy {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// badgerOptions bounds Badger's memory (FIELD-NOTES "Badger v4"; defaults
// are 64 MiB × 5 memtables, 4 compactors, a 256 MiB block cache and every
// table index in memory) and picks the on-disk format; doc.go has the
// measurements behind each choice.
func badgerOptions(dir string, sync bool, logger *slog.Logger) badger.Options {
	o := badger.DefaultOptions(dir)
	o.SyncWrites = sync
	o.Logger = badgerLogger{logger}
	o.MemTableSize = 32 << 20 // 8–64 MiB cost the same CPU per passage
	o.NumMemtables = 3
	o.BaseTableSize = 2 << 20
	o.NumCompactors = 2 // Badger refuses 1
	o.BlockCacheSize = 32 << 20
	o.IndexCacheSize = 256 << 20 // else every table's index and bloom filter stays in memory; 32 MiB made a cold plate history p99 25 ms at 1e8 passages (5 ms now)
	o.BlockSize = 16 << 10       // 4 KiB blocks compress worse: 81 vs 73 B/passage
	o.Compression = options.ZSTD
	o.ZSTDCompressionLevel = 1 // Snappy saves 6 % CPU and costs 30 % more disk
	o.MetricsEnabled = false   // expvar counters we do not export
	// Close merges level 0 (memtables flushed as they were, every version
	// and deleted journal entry in them) into level 1: the next run starts
	// with it compacted, and a store's size after Close is that of one in
	// steady state, not of whether the last memtable happened to trigger a
	// compaction (BenchmarkDisk: 37 or 44 B/passage, one run to the next).
	o.CompactL0OnClose = true
	return o
}

// maxTxnBytes and maxTxnEntries bound one Write transaction (the estimated
// bytes of its keys and values, its passages, their index keys and events),
// well below Badger's limits of 15 % of MemTableSize (4.8 MiB) and of that
// over a skiplist node's size in entries (about 52 k). A read counts as
// readEntries: a batch of 2000 reads is one transaction.
const (
	maxTxnBytes   = 2 << 20
	readEntries   = 1 // the passage; its index postings are in the transaction's journal entry
	maxTxnEntries = 2730
)

// ErrKey means the store's directory is encrypted with another key than
// the one given, or with one when none was given, or not at all when one was.
var ErrKey = errors.New("wrong or missing encryption key")

// keyRotation is how often Badger replaces the data key it encrypts new
// files with (each data key is itself encrypted with the master key).
const keyRotation = 10 * 24 * time.Hour

// checkKey returns ErrKey if the store in dir, when there is one, is not
// encrypted with key (or is, when key is empty).
func checkKey(dir string, key []byte) error {
	if _, err := os.Stat(filepath.Join(dir, badger.KeyRegistryFileName)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	kr, err := badger.OpenKeyRegistry(badger.KeyRegistryOptions{Dir: dir, ReadOnly: true, EncryptionKey: key, EncryptionKeyRotationDuration: keyRotation})
	if errors.Is(err, badger.ErrEncryptionKeyMismatch) {
		return ErrKey
	}
	if err != nil {
		return err
	}
	return kr.Close()
}

// RotateKey re-encrypts the key registry of the closed store in dir from
// oldKey to newKey (either may be empty: plain text). Badger encrypts data
// with data keys kept in that registry, so rotating the master key rewrites
// one small file, not the data.
func RotateKey(dir string, oldKey, newKey []byte) error {
	opt := badger.KeyRegistryOptions{Dir: dir, ReadOnly: true, EncryptionKey: oldKey, EncryptionKeyRotationDuration: keyRotation}
	if err := checkKey(dir, oldKey); err != nil {
		return fmt.Errorf("rotate key of store %q: old key: %w", dir, err)
	}
	kr, err := badger.OpenKeyRegistry(opt)
	if err != nil {
		return fmt.Errorf("rotate key of store %q: %w", dir, err)
	}
	defer kr.Close()
	opt.EncryptionKey = newKey
	if err := badger.WriteKeyRegistry(kr, opt); err != nil {
		return fmt.Errorf("rotate key of store %q: %w", dir, err)
	}
	return nil
}

// Close flushes the index postings and closes Badger. It waits for methods
// in progress; later calls return ErrClosed. Calling it again does nothing
// and returns nil.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(s.stopFlush)
	<-s.flusherDone
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	var err error
	if !s.noFinalFlush {
		err = s.flushIndex() // on failure the journal keeps them for the next Open
	}
	if cerr := s.db.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// acquire read-locks the store against Close; release with s.closeMu.RUnlock.
func (s *Store) acquire() error {
	s.closeMu.RLock()
	if s.closed.Load() {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	return nil
}

// Run garbage-collects Badger's value log every few minutes until ctx is
// done, then returns nil. It runs in the caller's goroutine and starts none.
//
// Retention needs nothing here: every key carries its expiry, reads skip
// expired keys at once, and Badger's compactions drop them. Keys are ordered
// by plate, so new writes flow through every key range and the leveled
// compaction rewrites old tables as a matter of course.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(gcInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.gc()
		}
	}
}

// gc rewrites value log files until Badger finds none worth it. Values here
// are small and live in the LSM tree, so this is usually a no-op.
func (s *Store) gc() {
	if err := s.acquire(); err != nil {
		return
	}
	defer s.closeMu.RUnlock()
	for {
		err := s.db.RunValueLogGC(0.5)
		switch {
		case err == nil:
			continue
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
		default:
			s.logger.Warn("value log gc", "err", err)
		}
		return
	}
}

// badgerLogger sends Badger's log lines to slog.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.log(slog.LevelError, f, a) }
func (b badgerLogger) Warningf(f string, a ...any) { b.log(slog.LevelWarn, f, a) }
func (b badgerLogger) Infof(f string, a ...any)    { b.log(slog.LevelDebug, f, a) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.log(slog.LevelDebug, f, a) }

func (b badgerLogger) log(level slog.Level, f string, a []any) {
	ctx := context.Background()
	if !b.l.Enabled(ctx, level) {
		return
	}
	msg := fmt.Sprintf(f, a...)
	for len(msg) > 0 && msg[len(msg)-1] == '\n' {
		msg = msg[:len(msg)-1]
	}
	b.l.Log(ctx, level, msg, "source", "badger")
}

type metrics struct {
	passages, duplicates, expired, hits, knownHits, errors prometheus.Counter
	writeSeconds                                           prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &metrics{
		passages: counter("anpr_store_passages_written_total",
			"Passages written, rewrites of a read already stored included."),
		duplicates: counter("anpr_store_batch_duplicates_total",
			"Reads not written because the same read came earlier in its batch."),
		expired: counter("anpr_store_expired_total",
			"Reads not written because their capture time is past retention."),
		hits: counter("anpr_store_hits_written_total", "Hits appended to the hit log."),
		knownHits: counter("anpr_store_known_hits_total",
			"Hits not appended because their id was already in the hit log or earlier in the batch."),
		errors: counter("anpr_store_write_errors_total", "Writes that failed."),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "anpr_store_write_seconds",
			Help:    "Duration of a batch write, until durable.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.passages, m.duplicates, m.expired, m.hits, m.knownHits,
		m.errors, m.writeSeconds} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}
