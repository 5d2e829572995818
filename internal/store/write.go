package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/anpr/anpr/plate"
)

// Batch is what one Write stores.
type Batch struct {
	Reads      []plate.Read
	Hits       []Event // appended to the Hits log
	Violations []Event // appended to the Violations log
	// State are small values that replace the previous value of their key
	// and never expire (a partition's section-control checkpoint). They are
	// written in the batch's last transaction, after its reads and events.
	State []State
}

// State is a key and value of Batch.State; a nil Value deletes the key.
type State struct {
	Key   string
	Value []byte
}

// WriteResult counts what a Write did.
type WriteResult struct {
	// Passages counts the reads written. A read already stored (a replay, a
	// gateway retry) is written again over itself and counted here too: the
	// store does not look it up.
	Passages int
	// Duplicates counts the reads skipped because the same read (read id,
	// plate, capture time) came earlier in the same batch.
	Duplicates int
	// Expired counts the reads skipped because capture time + retention is
	// already past. Events past their log's retention are dropped too,
	// uncounted.
	Expired int
	// Hits counts the hits appended to the log: their id was new.
	Hits int
	// KnownHits counts the hits skipped because their id is already in the
	// log or came earlier in the batch.
	KnownHits int
	// Violations and KnownViolations count the same for violations.
	Violations, KnownViolations int
}

// maxConflictRetries bounds the retries of a transaction that lost a race
// with a concurrent Write of the same hit id.
const maxConflictRetries = 10

// errInvalid marks a batch the store cannot key; callers validate reads first
// (SPEC §3), so this is a bug upstream.
var errInvalid = errors.New("invalid")

// Write stores b and returns once Badger has it (synced to disk unless
// Options.NoSync). Each read is written under its key without a lookup, so a
// read written again overwrites itself with the same bytes; a read that
// appears earlier in b, or that is past retention, is skipped. A hit whose id
// is new is appended to the log with the next sequence; a hit whose id is
// already there (or earlier in b, or in a batch committed with b), or that is
// past retention, is skipped.
//
// Concurrent Writes are committed together (group commit): the batches that
// arrive while maxGroups groups commit wait and go into the next group, up
// to about one transaction's worth. A group is one Badger transaction unless
// it is larger than about 2 MiB or 2730 reads; it is then split, the hits
// going with the last reads and every batch's State with the last
// transaction. A crash between two of its transactions may store reads
// without their hits: the caller, whose offsets are not committed, writes
// the batch again and the hits are appended then. On error nothing is
// counted as written; every batch of the group gets the error. Safe for
// concurrent use.
func (s *Store) Write(b *Batch) (WriteResult, error) {
	start := time.Now()
	w := &pendingWrite{b: b, wake: make(chan struct{}, 1)}
	s.groupMu.Lock()
	s.queue = append(s.queue, w)
	s.dispatch()
	s.groupMu.Unlock()
	<-w.wake
	if w.group != nil {
		s.lead(w.group, start)
	}
	res, err := w.res, w.err
	s.m.passages.Add(float64(res.Passages))
	s.m.duplicates.Add(float64(res.Duplicates))
	s.m.expired.Add(float64(res.Expired))
	s.m.hits.Add(float64(res.Hits))
	s.m.knownHits.Add(float64(res.KnownHits))
	if err != nil {
		s.m.errors.Inc()
		return res, fmt.Errorf("write batch: %w", err)
	}
	s.m.writeSeconds.Observe(time.Since(start).Seconds())
	return res, nil
}

// maxGroups is how many groups commit at once: one builds its transaction
// while the other is in Badger's write and sync. One transaction costs one
// sync of Badger's write-ahead log (Badger takes the transactions queued at
// once together but syncs per transaction), so twelve partition workers
// writing small batches each paid their own sync; a single group at a time
// lost the overlap of building and syncing and halved the throughput at
// saturation.
const maxGroups = 2

// pendingWrite is a Write in the group-commit queue (Store.queue).
type pendingWrite struct {
	b     *Batch
	res   WriteResult
	err   error
	group []*pendingWrite // set on the Write that commits the group
	// wake is signalled once: when res and err are final, or when group
	// is set.
	wake chan struct{}
}

// dispatch starts groups from the front of the queue while fewer than
// maxGroups commit: the first Write of each group commits it. groupMu held.
func (s *Store) dispatch() {
	for s.groups < maxGroups && len(s.queue) > 0 {
		n, entries := 0, 0
		for _, w := range s.queue {
			e := len(w.b.Reads)*readEntries + 2*(len(w.b.Hits)+len(w.b.Violations))
			if n > 0 && entries+e > maxTxnEntries {
				break
			}
			n, entries = n+1, entries+e
		}
		g := slices.Clone(s.queue[:n])
		s.queue = slices.Delete(s.queue, 0, n)
		s.groups++
		g[0].group = g
		g[0].wake <- struct{}{}
	}
}

// lead commits group, wakes its Writes and starts the next group.
func (s *Store) lead(group []*pendingWrite, now time.Time) {
	s.write(group, now)
	s.groupMu.Lock()
	defer s.groupMu.Unlock()
	for _, w := range group[1:] {
		w.wake <- struct{}{}
	}
	s.groups--
	s.dispatch()
}

// write commits the batches of group together and sets each one's result.
func (s *Store) write(group []*pendingWrite, now time.Time) {
	valid := make([]*pendingWrite, 0, len(group))
	for _, w := range group {
		if w.err = validate(w.b); w.err == nil {
			valid = append(valid, w)
		}
	}
	if len(valid) == 0 {
		return
	}
	fail := func(err error) {
		for _, w := range valid {
			w.res, w.err = WriteResult{}, err
		}
	}
	if err := s.acquire(); err != nil {
		fail(err)
		return
	}
	defer s.closeMu.RUnlock()
	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	nowSec := uint64(now.Unix())
	var state []State
	for _, w := range valid {
		b := w.b
		before := len(sc.reads)
		sc.keep(b.Reads, s.retention, nowSec, &w.res)
		w.res.Passages = len(sc.reads) - before
		clear(sc.seen) // repeats are dropped within a batch only
		for i := range b.Hits {
			sc.events = append(sc.events, logged{Hits, &b.Hits[i]})
		}
		for i := range b.Violations {
			sc.events = append(sc.events, logged{Violations, &b.Violations[i]})
		}
		state = append(state, b.State...)
	}
	chunks := split(sc.reads, sc.events)
	if len(chunks) == 0 && len(state) > 0 {
		chunks = []chunk{{}}
	}
	for i, c := range chunks {
		if i == len(chunks)-1 {
			c.state = state
		}
		if err := s.commitWithRetry(sc, &c, nowSec); err != nil {
			fail(fmt.Errorf("transaction %d: %w", i, err))
			return
		}
	}
	for _, w := range valid {
		s.countEvents(w.b.Hits, Hits, nowSec, &w.res.Hits, &w.res.KnownHits)
		s.countEvents(w.b.Violations, Violations, nowSec, &w.res.Violations, &w.res.KnownViolations)
	}
}

// countEvents adds the events of evs that commit appended to the log l to
// fresh, and those it found there to known; events past retention are
// neither.
func (s *Store) countEvents(evs []Event, l Log, nowSec uint64, fresh, known *int) {
	for i := range evs {
		switch e := &evs[i]; {
		case e.Known:
			*known++
		case expiresAt(e.TS, s.logRetention[l]) > nowSec:
			*fresh++
		}
	}
}

// logged is an event of a batch with the log it goes to.
type logged struct {
	l Log
	e *Event
}

func logIndex(l Log) int {
	if l == Violations {
		return 1
	}
	return 0
}

func validate(b *Batch) error {
	var errs []error
	for i := range b.Reads {
		r := &b.Reads[i]
		if r.ReadID == "" {
			errs = append(errs, fmt.Errorf("read %d: empty read id: %w", i, errInvalid))
		}
		if !validNorm(r.PlateNorm) {
			errs = append(errs, fmt.Errorf("read %d: plate_norm is not a normalized plate: %w", i, errInvalid))
		}
	}
	for i := range b.Hits {
		if e := &b.Hits[i]; e.ID == "" || e.TS.IsZero() {
			errs = append(errs, fmt.Errorf("hit %d: empty id or capture time: %w", i, errInvalid))
		}
	}
	for i := range b.Violations {
		if e := &b.Violations[i]; e.ID == "" || e.TS.IsZero() {
			errs = append(errs, fmt.Errorf("violation %d: empty id or capture time: %w", i, errInvalid))
		}
	}
	for i := range b.State {
		if b.State[i].Key == "" {
			errs = append(errs, fmt.Errorf("state %d: empty key: %w", i, errInvalid))
		}
	}
	return errors.Join(errs...)
}

// scratch is what a Write needs besides the batch: the reads it keeps, and
// the keys, values and entries of the transaction being built. Transactions
// are bounded (maxTxnBytes, maxTxnEntries), so a scratch stays under a few MiB
// and is pooled: a batch of 1000 reads needs about 300 KB.
type scratch struct {
	reads   []*plate.Read          // kept, in batch order
	events  []logged               // of every log, in batch order
	seen    map[readIdent]struct{} // identities of reads
	buf     []byte
	entries []badger.Entry
	indexed map[plateDay]struct{} // plate-days whose trigram postings the transaction writes
	journal []byte                // the transaction's index postings (postings.go)
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// maxPooledReads bounds the map and slice a pooled scratch keeps: clearing a
// map costs its capacity, which a rare huge batch should not leave behind.
const maxPooledReads = 4 * maxTxnEntries / readEntries

// readIdent is a read's identity, which its passage key encodes.
type readIdent struct {
	readID, plate string
	ms            int64
}

// keep returns the reads of reads to write: not past retention and not
// earlier in reads. It counts the others in res.
func (sc *scratch) keep(reads []plate.Read, retention time.Duration, nowSec uint64, res *WriteResult) []*plate.Read {
	if sc.seen == nil {
		sc.seen = make(map[readIdent]struct{}, len(reads))
	}
	for i := range reads {
		r := &reads[i]
		if expiresAt(r.TS, retention) <= nowSec {
			res.Expired++
			continue
		}
		id := readIdent{r.ReadID, r.PlateNorm, r.TS.UnixMilli()}
		if _, dup := sc.seen[id]; dup {
			res.Duplicates++
			continue
		}
		sc.seen[id] = struct{}{}
		sc.reads = append(sc.reads, r)
	}
	return sc.reads
}

// set appends an entry of key and value, slices of sc.buf. A slice taken from
// buf stays valid when a later append moves buf: the old array is kept alive
// and never written again.
func (sc *scratch) set(key, val []byte, exp uint64) {
	sc.entries = append(sc.entries, badger.Entry{Key: key, Value: val, ExpiresAt: exp})
}

// reset empties sc for the next transaction; Badger keeps no reference to
// keys, values or entries once Commit has returned.
func (sc *scratch) reset() {
	sc.buf = sc.buf[:0]
	clear(sc.entries) // drop Badger's versioned keys
	sc.entries = sc.entries[:0]
	clear(sc.indexed)
	sc.journal = sc.journal[:0]
}

func (sc *scratch) release() {
	sc.reset()
	if len(sc.reads) > maxPooledReads {
		sc.reads, sc.seen = nil, nil
	}
	clear(sc.reads) // drop the pointers into the batch
	sc.reads = sc.reads[:0]
	clear(sc.events)
	sc.events = sc.events[:0]
	clear(sc.seen)
	scratchPool.Put(sc)
}

// tail returns buf[n:] with its capacity cut, so appends to buf never
// write into it.
func tail(buf []byte, n int) []byte { return buf[n:len(buf):len(buf)] }

// chunk is what one transaction writes.
type chunk struct {
	reads  []*plate.Read
	events []logged
	state  []State
}

// split cuts reads and events into transactions of at most about maxTxnBytes
// or maxTxnEntries entries, in order: the events go with the last reads as far
// as they fit, so a batch of 1000 reads and their hits is one transaction and
// one disk sync.
func split(reads []*plate.Read, evs []logged) []chunk {
	var cs []chunk
	ri, ei := 0, 0 // start of the current chunk in reads and in evs
	n, size := 0, 0
	add := func(i, j, sz, ents int) { // before adding reads[i] or evs[j], of size sz and ents entries
		if n > 0 && (size+sz > maxTxnBytes || n+ents > maxTxnEntries) {
			cs = append(cs, chunk{reads: reads[ri:i], events: evs[ei:j]})
			ri, ei, n, size = i, j, 0, 0
		}
		n += ents
		size += sz
	}
	for i, r := range reads {
		add(i, 0, readSize(r), readEntries)
	}
	for j := range evs {
		add(len(reads), j, eventSize(evs[j].e), 2)
	}
	if n > 0 {
		cs = append(cs, chunk{reads: reads[ri:], events: evs[ei:]})
	}
	return cs
}

// readSize bounds the bytes of a read's keys and values, its index keys
// included.
func readSize(r *plate.Read) int {
	return 32 + len(r.PlateNorm) + len(r.Plate) + len(r.ReadID) + len(r.CameraID) +
		len(r.Country) + len(r.ImageRef) + len(r.VehicleClass) +
		24 + len(r.CameraID) + len(r.PlateNorm) // journal
}

// eventSize estimates the bytes of an event's keys and values.
func eventSize(e *Event) int {
	return 40 + 2*len(e.ID) + len(e.ReadID) + len(e.JSON)
}

func (s *Store) commitWithRetry(sc *scratch, c *chunk, nowSec uint64) error {
	for attempt := 0; ; attempt++ {
		err := s.commit(sc, c, nowSec)
		sc.reset()
		if !errors.Is(err, badger.ErrConflict) || attempt == maxConflictRetries {
			return err
		}
	}
}

// commit writes c in one transaction and marks the events it found in the
// log Known (Write counts the results per batch). Passages are blind sets: their key is the
// read's identity, so there is nothing to look up. Each event id is looked up
// in the transaction; if a concurrent Write stores one of them after this
// transaction began, Badger's conflict detection fails the commit with
// ErrConflict and the caller retries. Sequences are assigned under seqMu,
// held until the commit returns, so they become visible in order; the
// lookups run before it is taken.
func (s *Store) commit(sc *scratch, c *chunk, nowSec uint64) error {
	var appended [2]int // events appended per log (index logIndex)
	if err := s.dict.register(s.db, c.reads); err != nil {
		return err
	}
	s.dict.mu.RLock()
	for _, r := range c.reads {
		seq := gatewaySeq(r)
		k := len(sc.buf)
		sc.buf = appendPassageKey(sc.buf, r, seq, s.dict.codes[r.CameraID])
		key := tail(sc.buf, k)
		k = len(sc.buf)
		sc.buf = appendPassageValue(sc.buf, r, seq)
		sc.set(key, tail(sc.buf, k), expiresAt(r.TS, s.retention))
		var h []byte
		if seq == 0 {
			h = key[len(key)-idHashLen:]
		}
		s.appendPostings(sc, r, seq, h)
	}
	s.dict.mu.RUnlock()
	var journalKey []byte
	if len(sc.journal) > 0 {
		journalKey = s.journalKey()
		sc.set(journalKey, sc.journal, 0) // deleted once its postings are in blocks
	}
	txn := s.db.NewTransaction(true)
	defer txn.Discard()

	type fresh struct {
		logged
		exp   uint64
		idKey []byte
	}
	var news []fresh
	var inChunk map[string]bool // id keys of news; Get does not see them
	if len(c.events) > 1 {
		inChunk = make(map[string]bool, len(c.events))
	}
	for _, le := range c.events {
		e := le.e
		e.Known = false
		exp := expiresAt(e.TS, s.logRetention[le.l])
		if exp <= nowSec {
			continue
		}
		k := len(sc.buf)
		sc.buf = appendEventIDKey(sc.buf, le.l, e.ID)
		idKey := tail(sc.buf, k)
		known := inChunk[string(idKey)]
		if !known {
			_, err := txn.Get(idKey)
			if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			known = err == nil
		}
		if known {
			e.Known = true
			continue
		}
		news = append(news, fresh{le, exp, idKey})
		if inChunk != nil {
			inChunk[string(idKey)] = true
		}
	}

	var seqs [2]uint64 // last sequence per log (index logIndex)
	if len(news) > 0 {
		s.seqMu.Lock()
		defer s.seqMu.Unlock()
		for _, l := range logs {
			seqs[logIndex(l)] = s.lastSeq[l].Load()
		}
		for _, f := range news {
			li := logIndex(f.l)
			seqs[li]++
			appended[li]++
			k := len(sc.buf)
			sc.buf = appendEventKey(sc.buf, f.l, seqs[li])
			evKey := tail(sc.buf, k)
			k = len(sc.buf)
			sc.buf = appendEventValue(sc.buf, f.e)
			sc.set(evKey, tail(sc.buf, k), f.exp)
			k = len(sc.buf)
			sc.buf = binary.BigEndian.AppendUint64(sc.buf, seqs[li])
			sc.set(f.idKey, tail(sc.buf, k), f.exp)
		}
		// The high-water marks never expire; see recoverSeqs.
		for _, l := range logs {
			if appended[logIndex(l)] == 0 {
				continue
			}
			k := len(sc.buf)
			sc.buf = append(sc.buf, prefixSeq, byte(l))
			key := tail(sc.buf, k)
			k = len(sc.buf)
			sc.buf = binary.BigEndian.AppendUint64(sc.buf, seqs[logIndex(l)])
			sc.set(key, tail(sc.buf, k), 0)
		}
	}
	for i := range sc.entries {
		if err := txn.SetEntry(&sc.entries[i]); err != nil {
			return err
		}
	}
	for _, st := range c.state {
		key := append([]byte{prefixState}, st.Key...)
		var err error
		if st.Value == nil {
			err = txn.Delete(key)
		} else {
			err = txn.Set(key, st.Value)
		}
		if err != nil {
			return err
		}
	}
	// Raise the sequences before the commit makes the events visible: a
	// reader may hand out an event's cursor as soon as it can read it, and
	// a cursor above lastSeq is refused. A failed commit puts them back
	// (seqMu is held, so no other writer moved them).
	var before [2]uint64
	for _, l := range logs {
		if appended[logIndex(l)] > 0 {
			before[logIndex(l)] = s.lastSeq[l].Swap(seqs[logIndex(l)])
		}
	}
	err := s.injected()
	if err == nil {
		err = txn.Commit()
	}
	if err != nil {
		for _, l := range logs {
			if appended[logIndex(l)] > 0 {
				s.lastSeq[l].Store(before[logIndex(l)])
			}
		}
		return err
	}
	for pd := range sc.indexed {
		s.days.add(pd.day, pd.norm)
	}
	if journalKey != nil {
		if err := s.addPending(journalKey, sc.journal); err != nil {
			return err
		}
	}
	for _, l := range logs {
		if appended[logIndex(l)] > 0 {
			s.wake(l)
		}
	}
	return nil
}
