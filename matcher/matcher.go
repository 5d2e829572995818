package matcher

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anpr/anpr/plate"
)

// Mode is how a list compares a read's plate with its entries (SPEC §4).
type Mode string

// Match modes. A Hit's Match field uses them to say how the read matched:
// Exact (normalized plates equal), OCR (equal after the OCR mapping) or
// Fuzzy (within the list's MaxDistance after it, not equal).
const (
	Exact Mode = "exact"
	OCR   Mode = "ocr"
	Fuzzy Mode = "fuzzy"
)

// Defaults for List and Options fields left zero.
const (
	DefaultSuppress    = 5 * time.Minute
	DefaultMaxDistance = 1
	DefaultShards      = 16
)

// Limits checked by New.
const (
	maxLists       = 1 << 16 // list indexes are uint16 in the index
	maxShards      = 1 << 16
	maxMaxDistance = 2 // beyond 2 edits a 2..12-character plate matches too much
	maxListName    = 64
)

// List is one hotlist's settings (SPEC §7 `hotlists`).
type List struct {
	// Name identifies the list in entries, hits and metric labels:
	// 1..64 characters of A-Z a-z 0-9 . _ -
	Name string
	// Mode is Exact, OCR or Fuzzy (see the package documentation).
	Mode Mode
	// MaxDistance is the largest edit distance (optimal string alignment,
	// after the OCR mapping) a Fuzzy list accepts: 0 means
	// DefaultMaxDistance (1), at most 2. Must be 0 for other modes. Each
	// step of the largest MaxDistance multiplies the memory and time of
	// the fuzzy index (see the package documentation).
	MaxDistance int
	// Suppress is the window within which the same entry hitting at the
	// same camera raises no second hit (see Suppressor). 0 means
	// DefaultSuppress (5 m); a negative value never suppresses.
	Suppress time.Duration
	// Covert marks every hit of the list covert (SPEC §4).
	Covert bool
}

// Options configures a Matcher. The zero value is usable.
type Options struct {
	// Shards is the number of index shards per keyspace; 0 means
	// DefaultShards (16). A shard is the unit Apply copies on write: more
	// shards make a small Apply cheaper on a large list, fewer keep each
	// shard's table large enough for huge pages (2 MB).
	Shards int
	// Bloom puts a bloom filter (0.1 % false positives) in front of each
	// shard's table. Default false, from BenchmarkMatch (reads mostly
	// misses, 2 goroutines on the 2-core EPYC CI VM shared with other jobs;
	// median CPU ns per check, table alone vs bloom then table):
	//
	//	entries  exact        ocr
	//	1e3       37 vs 105    64 vs 127
	//	1e5      128 vs 125   200 vs 127
	//	1e7      173 vs 332   353 vs 390
	//
	// A probe of the filter costs about 70 ns (murmur3 and k divisions),
	// and at 1e7 it misses the CPU caches as the table does. It pays only
	// where the tables have fallen out of L2 while the filter (14.4 bits
	// per entry) still fits: around 1e5 entries on OCR lists. Re-measure
	// on the target machine before turning it on. (Measured with Match;
	// MatchBatch skips its touch pass when filters are on, see match.go.)
	Bloom bool
	// OCR is the confusion table for OCR and Fuzzy lists
	// (plate.NewOCRTable); nil means plate.DefaultOCRTable.
	OCR *plate.OCRTable
	// Registerer receives the matcher's metrics; nil means no metrics.
	Registerer prometheus.Registerer
	// Logger receives load summaries (never plates); nil discards.
	Logger *slog.Logger
}

// Validate reports every problem with o at once.
func (o *Options) Validate() error {
	var errs []error
	if o.Shards < 0 || o.Shards > maxShards {
		errs = append(errs, fmt.Errorf("shards: %d is outside 0..%d", o.Shards, maxShards))
	}
	return errors.Join(errs...)
}

// ListInfo describes a list and the number of entries currently loaded.
type ListInfo struct {
	Name    string
	Mode    Mode
	Covert  bool
	Entries int
}

// Matcher matches reads against the loaded hotlists.
//
// Match, MatchBatch, Entries and Lists are lock-free and safe for
// concurrent use with each other and with Load and Apply: those build a
// new immutable index (sharing what did not change) and publish it with
// an atomic pointer swap, so a Match sees either the old or the new
// entries, never a mix.
type Matcher struct {
	lists   []*list
	byName  map[string]uint16
	ocr     *plate.OCRTable
	shards  int
	bloom   bool
	logger  *slog.Logger
	metrics *metrics

	maxDistance int  // the largest MaxDistance of the Fuzzy lists
	ocrLists    bool // some list is an OCR list

	loadMu sync.Mutex // serializes Load and Apply, and guards strs
	strs   *interner
	idx    atomic.Pointer[index]
}

// list is a List with defaults applied and its metric children resolved.
type list struct {
	name        string
	mode        Mode
	maxDistance int
	suppress    time.Duration // < 0: never suppress
	covert      bool

	hits, suppressed prometheus.Counter
	entries          prometheus.Gauge
}

// New returns a Matcher for lists with no entries loaded. It checks that
// list names are valid and unique and that modes are known.
func New(lists []List, opts Options) (*Matcher, error) {
	var errs []error
	if err := opts.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(lists) > maxLists {
		errs = append(errs, fmt.Errorf("%d lists: at most %d", len(lists), maxLists))
	}
	byName := make(map[string]uint16, len(lists))
	for i, l := range lists {
		if err := l.validate(); err != nil {
			errs = append(errs, fmt.Errorf("list %d: %w", i, err))
			continue
		}
		if _, dup := byName[l.Name]; dup {
			errs = append(errs, fmt.Errorf("list %d: name %q is used twice", i, l.Name))
			continue
		}
		byName[l.Name] = uint16(i)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("new matcher: %w", errors.Join(errs...))
	}

	met, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("new matcher: %w", err)
	}
	m := &Matcher{
		byName:  byName,
		ocr:     opts.OCR,
		shards:  opts.Shards,
		bloom:   opts.Bloom,
		logger:  opts.Logger,
		metrics: met,
		strs:    newInterner(),
	}
	if m.ocr == nil {
		m.ocr = plate.DefaultOCRTable
	}
	if m.shards == 0 {
		m.shards = DefaultShards
	}
	if m.logger == nil {
		m.logger = slog.New(slog.DiscardHandler)
	}
	for _, l := range lists {
		nl := newList(l, met)
		m.lists = append(m.lists, nl)
		m.maxDistance = max(m.maxDistance, nl.maxDistance)
		m.ocrLists = m.ocrLists || nl.mode == OCR
	}
	m.idx.Store(newIndex(len(lists), m.shards))
	return m, nil
}

func (l *List) validate() error {
	var errs []error
	if !ValidListName(l.Name) {
		errs = append(errs, fmt.Errorf("name %q: want 1..%d characters of A-Z a-z 0-9 . _ -", l.Name, maxListName))
	}
	switch l.Mode {
	case Exact, OCR:
		if l.MaxDistance != 0 {
			errs = append(errs, fmt.Errorf("max_distance %d: only for mode %q", l.MaxDistance, Fuzzy))
		}
	case Fuzzy:
		if l.MaxDistance < 0 || l.MaxDistance > maxMaxDistance {
			errs = append(errs, fmt.Errorf("max_distance %d: outside 0..%d", l.MaxDistance, maxMaxDistance))
		}
	default:
		errs = append(errs, fmt.Errorf("mode %q: want %q, %q or %q", l.Mode, Exact, OCR, Fuzzy))
	}
	return errors.Join(errs...)
}

// ValidListName reports whether s can name a list: 1 to 64 characters of
// A-Z a-z 0-9 . _ - (it is a topic key prefix and a metric label).
func ValidListName(s string) bool {
	if len(s) == 0 || len(s) > maxListName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func newList(l List, met *metrics) *list {
	nl := &list{
		name:        l.Name,
		mode:        l.Mode,
		maxDistance: l.MaxDistance,
		suppress:    l.Suppress,
		covert:      l.Covert,
		hits:        met.hits.WithLabelValues(l.Name),
		suppressed:  met.suppressed.WithLabelValues(l.Name),
		entries:     met.entries.WithLabelValues(l.Name),
	}
	if nl.mode == Fuzzy && nl.maxDistance == 0 {
		nl.maxDistance = DefaultMaxDistance
	}
	if nl.suppress == 0 {
		nl.suppress = DefaultSuppress
	}
	return nl
}

// Load replaces all entries with entries. It normalizes entry plates and
// country codes, builds a new index off to the side and publishes it
// atomically; on error the loaded entries stay as they were. An entry of
// an unknown list (ErrUnknownList), a plate that does not normalize, a
// country that is not two letters or a validity that ends before it
// starts is an error. Of entries with the same list and normalized plate
// the last one wins, as on the compacted anpr.hotlists topic. Validity
// bounds are kept to the millisecond. Load keeps no reference to entries.
//
// Load is safe for concurrent use; concurrent calls and Apply are
// serialized.
func (m *Matcher) Load(entries []Entry) error {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	start := time.Now()
	if len(entries) > math.MaxUint32 {
		return fmt.Errorf("load hotlists: %d entries: at most %d", len(entries), math.MaxUint32)
	}
	b := &batch{m: m}
	var n, size [numKeyspaces]int
	for i := range entries {
		k := ksCanon
		if li, ok := m.byName[entries[i].List]; ok && m.lists[li].mode == Exact {
			k = ksExact
		}
		n[k]++
		size[k] += recordSize(&entries[i])
	}
	for k := range ksFuzzy {
		b.reserve(k, n[k], size[k])
	}
	for i := range entries {
		if err := b.add(&entries[i], false, i); err != nil {
			return fmt.Errorf("load hotlists: entry %d: %w", i, err)
		}
	}
	ix, err := b.apply(newIndex(len(m.lists), m.shards))
	if err != nil {
		return fmt.Errorf("load hotlists: %w", err)
	}
	total := m.publish(ix)
	m.logger.Info("hotlists loaded", "lists", len(m.lists), "entries", total,
		"duplicates_replaced", len(entries)-total, "bloom", m.bloom,
		"duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// Apply applies changes in order, as the records of the anpr.hotlists
// topic: an upsert replaces the entry with the same list and normalized
// plate or adds it, a delete removes it (deleting an absent entry does
// nothing). It rebuilds only the shards the changes fall in, copy on
// write, and publishes the new index with one atomic swap: a Match sees
// all of the changes or none, and is never blocked.
//
// A change that is invalid (as for Load) or names an unknown list is
// skipped and the others are applied; the error then joins one error per
// skipped change, "change <i>: …", and errors.Is(err, ErrUnknownList)
// tells whether a list was unknown. Apply keeps no reference to changes.
//
// Apply is safe for concurrent use; concurrent calls and Load are
// serialized.
func (m *Matcher) Apply(changes []Change) error {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	if len(changes) > math.MaxUint32 {
		return fmt.Errorf("apply hotlist changes: %d changes: at most %d", len(changes), math.MaxUint32)
	}
	b := &batch{m: m}
	var errs []error
	for i := range changes {
		if err := b.add(&changes[i].Entry, changes[i].Delete, i); err != nil {
			errs = append(errs, fmt.Errorf("change %d: %w", i, err))
		}
	}
	ix, err := b.apply(m.idx.Load())
	if err != nil {
		return fmt.Errorf("apply hotlist changes: %w", err)
	}
	m.publish(ix)
	return errors.Join(errs...)
}

// publish makes ix the current index and returns its number of entries.
func (m *Matcher) publish(ix *index) int {
	m.idx.Store(ix)
	total := 0
	for i, l := range m.lists {
		l.entries.Set(float64(ix.counts[i]))
		total += ix.counts[i]
	}
	return total
}

// Entries returns the entry of list with the normalized form of p, or
// nil when there is none, the list is unknown or p does not normalize. A
// list holds at most one entry per plate; the slice leaves room for
// lookups by OCR class. It is lock-free and safe for concurrent use.
func (m *Matcher) Entries(list, p string) []Entry {
	li, ok := m.byName[list]
	if !ok {
		return nil
	}
	norm, ok := plate.Normalize(p)
	if !ok {
		return nil
	}
	ix := m.idx.Load()
	code, _ := keyCode(norm)
	k, key := ksExact, code
	if m.lists[li].mode != Exact {
		var buf [plate.MaxLen]byte
		k = ksCanon
		key, _ = keyCode(m.ocr.AppendCanonical(buf[:0], norm))
	}
	s, sp := ix.ks[k].find(mix(key))
	rr := recReader{strs: ix.strs}
	var out []Entry
	for i := sp.start; i < sp.end; i++ {
		h := rr.head(s.record(i))
		if h.list == li && (k == ksExact || h.ident == code) {
			out = append(out, rr.entry(&h, list, norm))
		}
	}
	return out
}

// Lists describes the lists in the order given to New, with the number of
// entries currently loaded. It is safe for concurrent use.
func (m *Matcher) Lists() []ListInfo {
	ix := m.idx.Load()
	out := make([]ListInfo, len(m.lists))
	for i, l := range m.lists {
		out[i] = ListInfo{Name: l.name, Mode: l.mode, Covert: l.covert, Entries: ix.counts[i]}
	}
	return out
}

// CountChecks adds n matched reads to anpr_matcher_checks_total. Call it
// once per batch of reads passed to Match. It is safe for concurrent use.
func (m *Matcher) CountChecks(n int) {
	m.metrics.checks.Add(float64(n))
}
