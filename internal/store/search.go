package store

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/anpr/anpr/plate"
)

// CameraQuery selects the passages of one camera in a time range.
type CameraQuery struct {
	Camera   string    // camera id; required
	From, To time.Time // capture times [From, To); zero: start of retention, an hour from now
	After    string    // cursor of the previous page
	Limit    int       // page size; ≤ 0 means DefaultLimit
}

// PatternQuery selects the passages of the plates matching a pattern.
type PatternQuery struct {
	Pattern  Pattern
	OCR      bool      // match after mapping OCR-confusable characters
	From, To time.Time // as CameraQuery
	After    string
	Limit    int
}

// position is a passage's place in the order of multi-plate results:
// capture time, plate, read part (appendReadPart).
type position struct {
	ts    []byte // tsLen bytes, as in keys
	plate string
	read  []byte
}

func (p position) compare(q position) int {
	if c := bytes.Compare(p.ts, q.ts); c != 0 {
		return c
	}
	if c := strings.Compare(p.plate, q.plate); c != 0 {
		return c
	}
	return bytes.Compare(p.read, q.read)
}

// A multi-plate cursor is base64url of ts(8) plate 0x00 read part and a
// check of the query and that position (see cursorCheck).
func (p position) cursor(query string) string {
	b := make([]byte, 0, tsLen+len(p.plate)+1+len(p.read)+cursorCheckLen)
	b = append(b, p.ts...)
	b = append(b, p.plate...)
	b = append(b, 0)
	b = append(b, p.read...)
	b = binary.BigEndian.AppendUint32(b, cursorCheck(query, b))
	return base64.RawURLEncoding.EncodeToString(b)
}

func parsePosition(query, c string) (position, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	n := len(b) - cursorCheckLen
	if err != nil || n < tsLen+plate.MinLen+1+1 || binary.BigEndian.Uint32(b[n:]) != cursorCheck(query, b[:n]) {
		return position{}, ErrBadCursor
	}
	z := bytes.IndexByte(b[tsLen:n], 0) // a plate holds no 0x00
	if z < 0 {
		return position{}, ErrBadCursor
	}
	p := position{ts: b[:tsLen], plate: string(b[tsLen : tsLen+z]), read: b[tsLen+z+1 : n]}
	if _, _, _, ok := parseReadPart(p.read); !ok || !validNorm(p.plate) {
		return position{}, ErrBadCursor
	}
	return p, nil
}

// resume parses the cursor of query ident (nil: none) and returns the key
// times a scan of [from, to) after it starts and ends at.
func resume(ident, cursor string, from, to time.Time) (after *position, start, end []byte, err error) {
	start, end = appendTS(nil, from), appendTS(nil, to)
	if cursor == "" {
		return nil, start, end, nil
	}
	p, err := parsePosition(ident, cursor)
	if err != nil {
		return nil, nil, nil, err
	}
	if bytes.Compare(p.ts, start) > 0 {
		start = p.ts
	}
	return &p, start, end, nil
}

// window fills a zero From or To: the start of retention, an hour from now
// (the latest capture time a read may have).
func (s *Store) window(from, to time.Time) (time.Time, time.Time) {
	if from.IsZero() {
		from = time.Now().Add(-s.retention)
	}
	if to.IsZero() {
		to = time.Now().Add(time.Hour)
	}
	if from.UnixMilli() < 0 {
		from = time.UnixMilli(0)
	}
	return from, to
}

// passage is a passage read with its position.
type passage struct {
	pos position
	r   plate.Read
}

// getPassage reads the passage at position p (a camera index entry) by one
// point lookup in the plate index. A camera key whose passage is gone (it
// expired a moment before) gives ok false.
func (s *Store) getPassage(txn *badger.Txn, p position) (passage, bool, error) {
	key := appendPlatePrefix(make([]byte, 0, maxPKeyLn), p.plate)
	key = append(append(key, p.ts...), p.read...)
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return passage{}, false, nil
	}
	if err != nil {
		return passage{}, false, err
	}
	ps, err := s.decodeItem(item, p.plate)
	return ps, err == nil, err
}

func (s *Store) decodeItem(item *badger.Item, norm string) (passage, error) {
	key := item.KeyCopy(nil)
	var p passage
	err := item.Value(func(val []byte) error {
		var err error
		p.r, err = decodePassage(norm, key, val, s.dict)
		return err
	})
	n := 1 + len(norm) + 1
	if err != nil {
		// Not the key: it holds the plate, which no log line may carry.
		return p, fmt.Errorf("passage at %x: %w", key[n:], err)
	}
	p.pos = position{ts: key[n : n+tsLen], plate: norm, read: key[n+tsLen:]}
	return p, nil
}

// CameraPassages returns up to q.Limit passages of q.Camera captured in
// [q.From, q.To), in time order (then plate, then read part), after
// cursor q.After, and the next page's cursor ("" when there is none). It
// reads the camera index an hour of the window at a time and each passage
// from the plate index. Safe for concurrent use.
func (s *Store) CameraPassages(q CameraQuery) ([]plate.Read, string, error) {
	if q.Camera == "" {
		return nil, "", fmt.Errorf("camera passages: empty camera: %w", errInvalid)
	}
	limit := cmp.Or(max(q.Limit, 0), DefaultLimit)
	from, to := s.window(q.From, q.To)
	ident := "C" + q.Camera
	after, start, _, err := resume(ident, q.After, from, to)
	if err != nil {
		return nil, "", err
	}
	if err := s.acquire(); err != nil {
		return nil, "", err
	}
	defer s.closeMu.RUnlock()
	var out []plate.Read
	var last position
	next := ""
	fromMs, toMs := decodeTS(start).UnixMilli(), to.UnixMilli()
	for hour := floorDiv(fromMs, msPerHour); hour <= floorDiv(toMs-1, msPerHour) && next == ""; hour++ {
		hits, err := s.cameraHour(hour, q.Camera, fromMs, toMs)
		if err != nil {
			return nil, "", fmt.Errorf("camera passages: %w", err)
		}
		if after != nil {
			hits = slices.DeleteFunc(hits, func(h camHit) bool { return h.position().compare(*after) <= 0 })
		}
		// One more passage than the page holds tells that there is a next
		// page; more are looked up only if some were gone.
		for len(hits) > 0 && next == "" {
			n := min(len(hits), limit-len(out)+1)
			ps, err := s.passagesAt(hits[:n])
			if err != nil {
				return nil, "", fmt.Errorf("camera passages: %w", err)
			}
			hits = hits[n:]
			for _, p := range ps {
				if len(out) == limit {
					next = last.cursor(ident)
					break
				}
				out = append(out, p.r)
				last = p.pos
			}
		}
	}
	return out, next, nil
}

// passagesAt reads the passages of hits (camera index postings) by point
// lookups in the plate index, spread over the cores (each lookup is mostly
// a block decompressed: at 1e8 passages a camera hour's 190 took 12–16 ms
// one after another), and returns those still stored (one whose key
// expired a moment before is gone), in the order of hits.
func (s *Store) passagesAt(hits []camHit) ([]passage, error) {
	found := make([]passage, len(hits))
	ok := make([]bool, len(hits))
	workers := min(runtime.GOMAXPROCS(0), (len(hits)+lookupsPerWorker-1)/lookupsPerWorker)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			errs[w] = s.db.View(func(txn *badger.Txn) error {
				for i := w; i < len(hits); i += workers {
					var err error
					if found[i], ok[i], err = s.getPassage(txn, hits[i].position()); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := found[:0]
	for i := range found {
		if ok[i] {
			out = append(out, found[i])
		}
	}
	return out, nil
}

// lookupsPerWorker is the fewest point lookups worth a goroutine of
// passagesAt.
const lookupsPerWorker = 16

// Sighting is a camera index entry: a plate at a camera at a time.
type Sighting struct {
	Plate, Camera string
	TS            time.Time
}

// CameraSightings calls fn with the sightings at camera in [from, to), in
// time order (then plate), from the camera index alone, until fn returns
// false. Safe for concurrent use.
func (s *Store) CameraSightings(camera string, from, to time.Time, fn func(Sighting) bool) error {
	from, to = s.window(from, to)
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	fromMs, toMs := from.UnixMilli(), to.UnixMilli()
	for hour := floorDiv(fromMs, msPerHour); hour <= floorDiv(toMs-1, msPerHour); hour++ {
		hits, err := s.cameraHour(hour, camera, fromMs, toMs)
		if err != nil {
			return fmt.Errorf("camera sightings: %w", err)
		}
		for _, h := range hits {
			if !fn(Sighting{Plate: h.plate.String(), Camera: camera, TS: time.UnixMilli(h.ms).UTC()}) {
				return nil
			}
		}
	}
	return nil
}

// PatternPlates returns the plates matching pat (exactly, or OCR-aware with
// ocrAware) seen on a capture day of [from, to), sorted. It reads the
// postings of one trigram per day from the pattern index.
func (s *Store) PatternPlates(pat Pattern, ocrAware bool, from, to time.Time) ([]string, error) {
	from, to = s.window(from, to)
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()
	set := map[string]struct{}{}
	var err error
	for day := dayOf(from); day <= dayOf(to.Add(-time.Millisecond)) && err == nil; day++ {
		err = s.trigramPlates(day, pat.tri, func(norm []byte) {
			if _, ok := set[string(norm)]; !ok && pat.Match(string(norm), ocrAware) {
				set[string(norm)] = struct{}{}
			}
		})
	}
	if err != nil {
		return nil, fmt.Errorf("pattern plates: %w", err)
	}
	plates := make([]string, 0, len(set))
	for p := range set {
		plates = append(plates, p)
	}
	slices.Sort(plates)
	return plates, nil
}

// PatternPassages returns up to q.Limit passages in [q.From, q.To) of the
// plates matching q.Pattern, in time order (then plate, then read part),
// after cursor q.After, and the next page's cursor. The candidates come
// from the pattern index (PatternPlates), their passages from the plate
// index. Safe for concurrent use.
func (s *Store) PatternPassages(q PatternQuery) ([]plate.Read, string, error) {
	if q.Pattern.tri == "" {
		return nil, "", fmt.Errorf("pattern passages: %w: not compiled", ErrPattern)
	}
	limit := cmp.Or(max(q.Limit, 0), DefaultLimit)
	from, to := s.window(q.From, q.To)
	ident := fmt.Sprintf("G%s/%t", q.Pattern.p, q.OCR)
	after, start, end, err := resume(ident, q.After, from, to)
	if err != nil {
		return nil, "", err
	}
	plates, err := s.PatternPlates(q.Pattern, q.OCR, from, to)
	if err != nil {
		return nil, "", err
	}
	if err := s.acquire(); err != nil {
		return nil, "", err
	}
	defer s.closeMu.RUnlock()
	// all holds the first limit+1 passages in order (one more tells that
	// there is a next page), so a pattern with many candidate plates costs
	// at most limit+1 decoded passages, and a plate's scan stops at the
	// first key after the last of them (a plate's keys are in order).
	all := make([]passage, 0, limit+1)
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixPassage}})
		defer it.Close()
		for _, norm := range plates {
			prefix := appendPlatePrefix(nil, norm)
			for it.Seek(append(bytes.Clone(prefix), start...)); it.ValidForPrefix(prefix); it.Next() {
				key := it.Item().Key()
				if bytes.Compare(key[len(prefix):len(prefix)+tsLen], end) >= 0 {
					break
				}
				n := len(prefix)
				pos := position{ts: key[n : n+tsLen], plate: norm, read: key[n+tsLen:]}
				if after != nil && pos.compare(*after) <= 0 {
					continue
				}
				if len(all) == limit+1 && pos.compare(all[limit].pos) >= 0 {
					break
				}
				p, err := s.decodeItem(it.Item(), norm)
				if err != nil {
					return err
				}
				i, _ := slices.BinarySearchFunc(all, p.pos, func(a passage, q position) int { return a.pos.compare(q) })
				all = slices.Insert(all, i, p)[:min(len(all)+1, limit+1)]
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("pattern passages: %w", err)
	}
	next := ""
	if len(all) > limit {
		all = all[:limit]
		next = all[limit-1].pos.cursor(ident)
	}
	out := make([]plate.Read, len(all))
	for i := range all {
		out[i] = all[i].r
	}
	return out, next, nil
}

// Window calls fn with every passage captured in [from, to), in capture
// time order (then plate, camera, read part), until fn returns an error,
// which Window returns. It reads the camera index one hour at a time,
// sorts the hour in memory (about 40 B a passage) and reads each passage
// from the plate index: a replay, not a query. Safe for concurrent use.
func (s *Store) Window(from, to time.Time, fn func(plate.Read) error) error {
	from, to = s.window(from, to)
	for hour := hourOf(from); hour <= hourOf(to.Add(-time.Millisecond)); hour++ {
		if err := s.windowHour(hour, from, to, fn); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) windowHour(hour int64, from, to time.Time, fn func(plate.Read) error) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	hits, err := s.cameraHour(hour, "", from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return fmt.Errorf("window: %w", err)
	}
	for chunk := range slices.Chunk(hits, windowChunk) {
		ps, err := s.passagesAt(chunk)
		if err != nil {
			return fmt.Errorf("window: %w", err)
		}
		for _, p := range ps {
			if err := fn(p.r); err != nil {
				return err
			}
		}
	}
	return nil
}

// windowChunk is how many passages of an hour Window reads at a time.
const windowChunk = 4096
