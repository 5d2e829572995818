package store

import (
	"encoding/binary"
	"strings"
	"sync"
	"time"

	"github.com/bits-and-blooms/bloom/v3"

	"github.com/anpr/anpr/plate"
)

// Secondary index prefixes; the layout is described in doc.go.
const (
	// prefixCamera 'C' hour(4) camera 0x00 ts(8) plate_norm 0x00 h(8) → empty.
	prefixCamera = 'C'
	// prefixTrigram 'G' day(2) trigram(3) plate_norm → empty.
	prefixTrigram = 'G'
)

const (
	hourLen    = 4
	dayLen     = 2
	trigramLen = 3
	msPerHour  = int64(time.Hour / time.Millisecond)
	msPerDay   = 24 * msPerHour
)

// ocr is the OCR table the trigram index is built over: fixed, so that an
// index written by one configuration serves every later one.
var ocr = plate.DefaultOCRTable

// hourOf is the unix hour of t (floor, also before 1970).
func hourOf(t time.Time) int64 { return floorDiv(t.UnixMilli(), msPerHour) }

// dayOf is the unix day (UTC) of t.
func dayOf(t time.Time) int64 { return floorDiv(t.UnixMilli(), msPerDay) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// indexable reports whether r's camera can be a key part: it must not hold
// the 0x00 that ends it (the decoder refuses control characters anyway).
// Hours and days before 1970 are out of the index (they cannot be stored:
// retention ends long before).
func indexable(r *plate.Read) bool {
	return r.CameraID != "" && strings.IndexByte(r.CameraID, 0) < 0 && r.TS.UnixMilli() >= 0
}

// appendCameraPrefix appends 'C' hour camera 0x00: the keys of one camera's
// passages in one hour start with it.
func appendCameraPrefix(dst []byte, hour int64, camera string) []byte {
	dst = append(dst, prefixCamera)
	dst = binary.BigEndian.AppendUint32(dst, uint32(hour))
	dst = append(dst, camera...)
	return append(dst, 0)
}

// appendCameraKey appends r's camera index key; h is the read id hash of
// its passage key, so that the passage is one point lookup away.
func appendCameraKey(dst []byte, r *plate.Read, h []byte) []byte {
	dst = appendCameraPrefix(dst, hourOf(r.TS), r.CameraID)
	dst = appendTS(dst, r.TS)
	dst = append(dst, r.PlateNorm...)
	dst = append(dst, 0)
	return append(dst, h...)
}

// parseCameraRest splits what follows a camera prefix: ts, plate, h.
func parseCameraRest(rest []byte) (position, bool) {
	if len(rest) < tsLen+plate.MinLen+1+idHashLen || rest[len(rest)-idHashLen-1] != 0 {
		return position{}, false
	}
	n := len(rest) - idHashLen - 1
	return position{ts: rest[:tsLen], plate: string(rest[tsLen:n]), h: rest[n+1:]}, true
}

// appendTrigramPrefix appends 'G' day trigram.
func appendTrigramPrefix(dst []byte, day int64, tri string) []byte {
	dst = append(dst, prefixTrigram)
	dst = binary.BigEndian.AppendUint16(dst, uint16(day))
	return append(dst, tri...)
}

// trigrams calls fn with every distinct trigram of the canonical form of
// norm (none when it is shorter than 3).
func trigrams(norm string, fn func(tri string)) {
	var buf [plate.MaxLen]byte
	c := string(ocr.AppendCanonical(buf[:0], norm))
	for i := 0; i+trigramLen <= len(c); i++ {
		t := c[i : i+trigramLen]
		if !strings.Contains(c[:i+trigramLen-1], t) {
			fn(t)
		}
	}
}

// dayFilter remembers which plates had their trigram keys written for a
// capture day, so that only a plate's first passage of the day writes them.
// A false positive leaves a plate-day out of the pattern index, so the filter
// is sized for FalsePositive at Options.PlatesPerDay distinct plates a day.
// Filters of the filterDays most recent capture days are kept; a read of an
// older day writes its trigram keys every time (idempotent sets). The filter
// starts empty at Open: the first passages after a restart write their keys
// again. Safe for concurrent use.
type dayFilter struct {
	mu       sync.Mutex
	capacity uint
	days     map[int64]*bloom.BloomFilter
}

const (
	filterDays = 2
	// filterFP is the false-positive rate at capacity: with 4 M plates a
	// day, about 4 plate-days a day missing from the pattern index.
	filterFP = 1e-6
	// DefaultPlatesPerDay sizes the day filter (≈14 MiB per day kept).
	DefaultPlatesPerDay = 4_000_000
)

func newDayFilter(capacity int) *dayFilter {
	return &dayFilter{capacity: uint(capacity), days: make(map[int64]*bloom.BloomFilter)}
}

func dayKey(buf []byte, day int64, norm string) []byte {
	buf = binary.BigEndian.AppendUint16(buf[:0], uint16(day))
	return append(buf, norm...)
}

// seen reports whether norm's trigrams are known to be written for day.
func (f *dayFilter) seen(day int64, norm string) bool {
	var buf [dayLen + plate.MaxLen]byte
	f.mu.Lock()
	defer f.mu.Unlock()
	bf := f.days[day]
	return bf != nil && bf.Test(dayKey(buf[:0], day, norm))
}

// add records that norm's trigrams for day are durable; call it after the
// commit, so that a failed one leaves nothing remembered.
func (f *dayFilter) add(day int64, norm string) {
	var buf [dayLen + plate.MaxLen]byte
	f.mu.Lock()
	defer f.mu.Unlock()
	bf := f.days[day]
	if bf == nil {
		oldest, n := day, 0
		for d := range f.days {
			n++
			oldest = min(oldest, d)
		}
		if n >= filterDays {
			if oldest == day {
				return // older than every kept day: not remembered
			}
			delete(f.days, oldest)
		}
		bf = bloom.NewWithEstimates(f.capacity, filterFP)
		f.days[day] = bf
	}
	bf.Add(dayKey(buf[:0], day, norm))
}

// plateDay is a plate whose trigram keys a transaction writes.
type plateDay struct {
	day  int64
	norm string
}

// appendIndex adds the index entries of r, whose passage key's read id hash
// is h, to sc: its camera key, and its
// trigram keys unless the day filter says they are written already (then
// the plate-day goes to sc.indexed, for the filter after the commit).
func (s *Store) appendIndex(sc *scratch, r *plate.Read, h []byte) {
	if !indexable(r) {
		return
	}
	exp := expiresAt(r.TS, s.retention)
	k := len(sc.buf)
	sc.buf = appendCameraKey(sc.buf, r, h)
	sc.set(tail(sc.buf, k), nil, exp)

	day := dayOf(r.TS)
	pd := plateDay{day, r.PlateNorm}
	if _, dup := sc.indexed[pd]; dup || s.days.seen(day, r.PlateNorm) {
		return
	}
	if sc.indexed == nil {
		sc.indexed = make(map[plateDay]struct{})
	}
	sc.indexed[pd] = struct{}{}
	// The keys outlive the day's last passage.
	gexp := expiresAt(time.UnixMilli((day+1)*msPerDay), s.retention)
	trigrams(r.PlateNorm, func(tri string) {
		k := len(sc.buf)
		sc.buf = appendTrigramPrefix(sc.buf, day, tri)
		sc.buf = append(sc.buf, r.PlateNorm...)
		sc.set(tail(sc.buf, k), nil, gexp)
	})
}

// indexEntries bounds the index entries of one read: a camera key and the
// trigrams of a plate of at most plate.MaxLen.
const indexEntries = 1 + plate.MaxLen - 2
