package store

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Log names an append-only event log. Its byte is the key prefix of the log's
// entries; the lower-case letter prefixes its id index.
type Log byte

// Event logs.
const (
	Hits       Log = 'H'
	Violations Log = 'V'
)

// logs lists every known log, for sequence recovery and validation.
var logs = [...]Log{Hits, Violations}

func (l Log) valid() bool {
	for _, k := range logs {
		if l == k {
			return true
		}
	}
	return false
}

func (l Log) String() string {
	switch l {
	case Hits:
		return "hits"
	case Violations:
		return "violations"
	}
	return fmt.Sprintf("Log(%#x)", byte(l))
}

// idPrefix prefixes the keys id → sequence of log l.
func (l Log) idPrefix() byte { return byte(l) + 'a' - 'A' }

// DefaultLimit is the page size when a query's limit is zero or negative.
const DefaultLimit = 100

// ErrBadCursor is returned for a cursor this store did not hand out for
// that query: malformed, for another log or plate, or past the end.
var ErrBadCursor = errors.New("bad cursor")

// Event is one entry of an event log (a hit, later a violation).
type Event struct {
	ID     string    // stable id, e.g. hit_id; stored once per log
	ReadID string    // the read that caused it
	TS     time.Time // capture time of the read: the event expires at TS + retention
	JSON   []byte    // the event as published, stored as given
	Cursor string    // position in the log; filled by Events and EventsByID
	// Known is set by Write when the id was already in the log (or earlier
	// in the batch), so the event was not appended again.
	Known bool
	// Annotation is the value last given to Annotate for this event (a
	// hit's acknowledgement); filled by Events and EventsByID.
	Annotation []byte
}

// ErrNotFound is returned by Annotate for an id that is not in the log
// (never stored, or expired).
var ErrNotFound = errors.New("not found")

func appendAnnotationKey(dst []byte, l Log, id string) []byte {
	dst = append(dst, prefixAnnotation, byte(l))
	return append(dst, id...)
}

// annotate fills e.Annotation from txn.
func annotate(txn *badger.Txn, l Log, e *Event) error {
	item, err := txn.Get(appendAnnotationKey(nil, l, e.ID))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	e.Annotation, err = item.ValueCopy(nil)
	return err
}

// Annotate stores val with the event of log l whose id is id, replacing the
// previous annotation; it expires with the event. ErrNotFound when there is
// no such event. Safe for concurrent use.
func (s *Store) Annotate(l Log, id string, val []byte) error {
	if !l.valid() {
		return fmt.Errorf("annotate: unknown log %v", l)
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	err := s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(appendEventIDKey(nil, l, id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		// The id key expires with its event.
		e := badger.NewEntry(appendAnnotationKey(nil, l, id), val)
		e.ExpiresAt = item.ExpiresAt()
		return txn.SetEntry(e)
	})
	if err != nil {
		return fmt.Errorf("annotate %v event: %w", l, err)
	}
	return nil
}

func appendEventKey(dst []byte, l Log, seq uint64) []byte {
	dst = append(dst, byte(l))
	return binary.BigEndian.AppendUint64(dst, seq)
}

func appendEventIDKey(dst []byte, l Log, id string) []byte {
	dst = append(dst, l.idPrefix())
	return append(dst, id...)
}

// appendEventValue appends id, read id (uvarint length + bytes), the capture
// time (varint unix ms) and the JSON bytes (the rest).
func appendEventValue(dst []byte, e *Event) []byte {
	dst = appendString(dst, e.ID)
	dst = appendString(dst, e.ReadID)
	dst = binary.AppendVarint(dst, e.TS.UnixMilli())
	return append(dst, e.JSON...)
}

// eventTime returns the capture time (unix ms) of an event value without
// decoding the rest.
func eventTime(val []byte) (int64, error) {
	d := decoder{b: val}
	d.bytes(d.uvarint())
	d.bytes(d.uvarint())
	ms := d.varint()
	return ms, d.err
}

func decodeEvent(l Log, seq uint64, val []byte) (Event, error) {
	d := decoder{b: val}
	e := Event{ID: d.string(), ReadID: d.string()}
	e.TS = time.UnixMilli(d.varint()).UTC()
	if d.err != nil {
		return Event{}, d.err
	}
	e.JSON = append([]byte(nil), d.b...)
	e.Cursor = eventCursor(l, seq)
	return e, nil
}

// An event cursor is base64url of the log byte and the big-endian sequence.
func eventCursor(l Log, seq uint64) string {
	var b [seqKeyLen]byte
	return base64.RawURLEncoding.EncodeToString(appendEventKey(b[:0], l, seq))
}

// parseEventCursor returns the sequence of cursor c of log l; "" is 0.
func (s *Store) parseEventCursor(l Log, c string) (uint64, error) {
	if c == "" {
		return 0, nil
	}
	var b [seqKeyLen]byte
	if len(c) != base64.RawURLEncoding.EncodedLen(seqKeyLen) {
		return 0, ErrBadCursor
	}
	n, err := base64.RawURLEncoding.Decode(b[:], []byte(c))
	if err != nil || n != seqKeyLen || b[0] != byte(l) {
		return 0, ErrBadCursor
	}
	seq := binary.BigEndian.Uint64(b[1:seqKeyLen])
	if seq > s.lastSeq[l].Load() {
		return 0, ErrBadCursor
	}
	return seq, nil
}

// Events returns up to limit events of log l after cursor after ("" = from
// the start), oldest first, and the cursor of the last one returned (after
// itself when none). Expired events are skipped. Safe for concurrent use.
func (s *Store) Events(l Log, after string, limit int) ([]Event, string, error) {
	if !l.valid() {
		return nil, "", fmt.Errorf("events: unknown log %v", l)
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	if err := s.acquire(); err != nil {
		return nil, "", err
	}
	defer s.closeMu.RUnlock()
	seq, err := s.parseEventCursor(l, after)
	if err != nil {
		return nil, "", err
	}
	var evs []Event
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{byte(l)}})
		defer it.Close()
		var k [seqKeyLen]byte
		for it.Seek(appendEventKey(k[:0], l, seq+1)); it.Valid() && len(evs) < limit; it.Next() {
			item := it.Item()
			key := item.Key()
			if len(key) != seqKeyLen {
				return fmt.Errorf("key %x: %w", key, errCorrupt)
			}
			seq := binary.BigEndian.Uint64(key[1:])
			err := item.Value(func(val []byte) error {
				e, err := decodeEvent(l, seq, val)
				evs = append(evs, e)
				return err
			})
			if err == nil {
				err = annotate(txn, l, &evs[len(evs)-1])
			}
			if err != nil {
				return fmt.Errorf("event %d: %w", seq, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("events %v: %w", l, err)
	}
	if len(evs) == 0 {
		return nil, after, nil
	}
	return evs, evs[len(evs)-1].Cursor, nil
}

// recentSlack and staleRun bound the scan of RecentEvents; see there.
const (
	recentSlack = time.Hour
	staleRun    = 256
)

// RecentEvents returns up to limit (≤ 0: DefaultLimit) events of log l whose
// capture time is at or after since, newest first. It scans the log backwards
// from its last sequence. The log is in processing order, in which capture
// times only roughly increase, so the scan goes on past since and stops at
// the start of the log or once it has seen staleRun events in a row captured
// more than recentSlack (an hour) before since: a read up to an hour late, or
// a few later than that, do not end it early. Expired events are skipped.
// Safe for concurrent use.
func (s *Store) RecentEvents(l Log, since time.Time, limit int) ([]Event, error) {
	if !l.valid() {
		return nil, fmt.Errorf("recent events: unknown log %v", l)
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()
	last := s.lastSeq[l].Load()
	sinceMs, staleMs := since.UnixMilli(), since.Add(-recentSlack).UnixMilli()
	var evs []Event
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{byte(l)}, Reverse: true})
		defer it.Close()
		var k [seqKeyLen]byte
		stale := 0
		for it.Seek(appendEventKey(k[:0], l, last)); it.Valid() && len(evs) < limit && stale < staleRun; it.Next() {
			item := it.Item()
			key := item.Key()
			if len(key) != seqKeyLen {
				return fmt.Errorf("key %x: %w", key, errCorrupt)
			}
			seq := binary.BigEndian.Uint64(key[1:])
			err := item.Value(func(val []byte) error {
				ms, err := eventTime(val)
				switch {
				case err != nil:
					return err
				case ms >= sinceMs:
					stale = 0
					e, err := decodeEvent(l, seq, val)
					evs = append(evs, e)
					return err
				case ms < staleMs:
					stale++
				default:
					stale = 0
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("event %d: %w", seq, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recent events %v: %w", l, err)
	}
	return evs, nil
}

// EventsByID returns the stored events of log l with the given ids, in the
// order of ids; unknown or expired ids are left out. Safe for concurrent use.
func (s *Store) EventsByID(l Log, ids []string) ([]Event, error) {
	if !l.valid() {
		return nil, fmt.Errorf("events by id: unknown log %v", l)
	}
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()
	var evs []Event
	err := s.db.View(func(txn *badger.Txn) error {
		var key []byte
		for _, id := range ids {
			item, err := txn.Get(appendEventIDKey(key[:0], l, id))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			var seq uint64
			err = item.Value(func(val []byte) error {
				if len(val) != 8 {
					return errCorrupt
				}
				seq = binary.BigEndian.Uint64(val)
				return nil
			})
			if err != nil {
				return fmt.Errorf("event id %q: %w", id, err)
			}
			var k [seqKeyLen]byte
			item, err = txn.Get(appendEventKey(k[:0], l, seq))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue // expired between the two lookups
			}
			if err != nil {
				return err
			}
			err = item.Value(func(val []byte) error {
				e, err := decodeEvent(l, seq, val)
				evs = append(evs, e)
				return err
			})
			if err == nil {
				err = annotate(txn, l, &evs[len(evs)-1])
			}
			if err != nil {
				return fmt.Errorf("event %d: %w", seq, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("events %v by id: %w", l, err)
	}
	return evs, nil
}

// Notify returns a channel that is closed by the next Write that appends to
// log l. Every caller waiting on it wakes; to wait again, call Notify again
// before reading with Events so that no write is missed. Safe for concurrent
// use.
func (s *Store) Notify(l Log) <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	ch, ok := s.notify[l]
	if !ok {
		ch = make(chan struct{})
		s.notify[l] = ch
	}
	return ch
}

// wake closes the channel of log l handed out by Notify, if any.
func (s *Store) wake(l Log) {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	if ch, ok := s.notify[l]; ok {
		close(ch)
		delete(s.notify, l)
	}
}

// recoverSeqs loads the last sequence of every log from its 'S' key. That key
// never expires, so sequences keep growing even after every event of a log
// has expired, and an old cursor never points into new events.
func (s *Store) recoverSeqs() error {
	return s.db.View(func(txn *badger.Txn) error {
		for _, l := range logs {
			item, err := txn.Get([]byte{prefixSeq, byte(l)})
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("recover %v sequence: %w", l, err)
			}
			err = item.Value(func(val []byte) error {
				if len(val) != 8 {
					return errCorrupt
				}
				s.lastSeq[l].Store(binary.BigEndian.Uint64(val))
				return nil
			})
			if err != nil {
				return fmt.Errorf("recover %v sequence: %w", l, err)
			}
		}
		return nil
	})
}

// State returns the value of a Batch.State key, or nil when it has none.
// Safe for concurrent use.
func (s *Store) State(key string) ([]byte, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()
	var val []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(append([]byte{prefixState}, key...))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		val, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("state %q: %w", key, err)
	}
	return val, nil
}
