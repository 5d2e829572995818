package store

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/badger/v4"

	"github.com/anpr/anpr/plate"
)

// PassageQuery selects the passages of one plate in a time range.
type PassageQuery struct {
	Plate    string    // normalized plate (plate.Normalize); required
	From, To time.Time // capture times [From, To); zero means unbounded
	After    string    // cursor returned by the previous page; "" for the first
	Limit    int       // page size; ≤ 0 means DefaultLimit
	// WrittenAfter, when set, reads only the passages written after that
	// mark, which skips every table of older writes (a violation's entry
	// read, written a few batches before, costs a block read in each table
	// of every level otherwise).
	WrittenAfter Mark
}

// Mark is a point in the order of the store's writes (Store.Mark).
type Mark uint64

// Mark returns the current mark: whatever a Write that starts after it
// stores is written after it.
func (s *Store) Mark() (Mark, error) {
	if err := s.acquire(); err != nil {
		return 0, err
	}
	defer s.closeMu.RUnlock()
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	return Mark(txn.ReadTs()), nil // every later commit's version is above it
}

// cursorCheckLen is the length of the check that binds a passage cursor to
// its plate; it catches tampering and reuse across plates, not a determined
// forger (it is not a MAC), and a forged cursor only moves within the plate.
const cursorCheckLen = 4

// Passages returns up to q.Limit passages of q.Plate captured in [q.From,
// q.To), in time order (ties by read part), after cursor q.After, and the
// cursor of the next page ("" when there is none). It is one range scan.
// Safe for concurrent use.
func (s *Store) Passages(q PassageQuery) ([]plate.Read, string, error) {
	if !validNorm(q.Plate) {
		return nil, "", fmt.Errorf("passages: plate is not a normalized plate: %w", errInvalid)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	prefix := appendPlatePrefix(make([]byte, 0, maxPKeyLn), q.Plate)
	start := prefix
	if !q.From.IsZero() {
		start = appendTS(bytes.Clone(prefix), q.From)
	}
	if q.After != "" {
		pos, err := parsePassageCursor(q.Plate, q.After)
		if err != nil {
			return nil, "", err
		}
		// The smallest key above the cursor's: it followed by 0x00.
		next := append(append(bytes.Clone(prefix), pos...), 0)
		if bytes.Compare(next, start) > 0 {
			start = next
		}
	}
	var end []byte // exclusive; nil = end of the plate
	if !q.To.IsZero() {
		end = appendTS(bytes.Clone(prefix), q.To)
	}

	if err := s.acquire(); err != nil {
		return nil, "", err
	}
	defer s.closeMu.RUnlock()
	var out []plate.Read
	var next string
	var lastPos []byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, SinceTs: uint64(q.WrittenAfter)})
		defer it.Close()
		for it.Seek(start); it.Valid(); it.Next() {
			item := it.Item()
			key := item.Key()
			if end != nil && bytes.Compare(key, end) >= 0 {
				break
			}
			if len(out) == limit {
				next = passageCursor(q.Plate, lastPos)
				break
			}
			err := item.Value(func(val []byte) error {
				r, err := decodePassage(q.Plate, key, val, s.dict)
				out = append(out, r)
				return err
			})
			if err != nil {
				return fmt.Errorf("passage %x: %w", key[len(prefix):], err)
			}
			lastPos = append(lastPos[:0], key[len(prefix):]...)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("passages: %w", err)
	}
	return out, next, nil
}

// A passage cursor is base64url of the last passage's position (capture time
// and read part, as in its key) and a check of plate and position.
func passageCursor(norm string, pos []byte) string {
	b := make([]byte, 0, len(pos)+cursorCheckLen)
	b = append(b, pos...)
	b = binary.BigEndian.AppendUint32(b, cursorCheck(norm, pos))
	return base64.RawURLEncoding.EncodeToString(b)
}

func parsePassageCursor(norm, c string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	n := len(b) - cursorCheckLen
	if err != nil || n < tsLen+1 || binary.BigEndian.Uint32(b[n:]) != cursorCheck(norm, b[:n]) {
		return nil, ErrBadCursor
	}
	if _, _, _, ok := parseReadPart(b[tsLen:n]); !ok {
		return nil, ErrBadCursor
	}
	return b[:n], nil
}

func cursorCheck(norm string, pos []byte) uint32 {
	var d xxhash.Digest
	d.Reset()
	d.WriteString(norm)
	d.Write(pos)
	return uint32(d.Sum64())
}

// ErrStop, returned by the fn of EachPage, ends it early without an error.
var ErrStop = errors.New("stop")

// EachPage calls fn with every passage of the pages page returns, following
// their cursors from the first page, until a page has no next one or fn
// returns an error: EachPage returns it, or nil for ErrStop. page is a paged
// query such as Passages or CameraPassages with its cursor left to fill.
func EachPage(page func(after string) ([]plate.Read, string, error), fn func(plate.Read) error) error {
	after := ""
	for {
		reads, next, err := page(after)
		if err != nil {
			return err
		}
		for _, r := range reads {
			if err := fn(r); err != nil {
				if errors.Is(err, ErrStop) {
					return nil
				}
				return err
			}
		}
		if next == "" {
			return nil
		}
		after = next
	}
}
