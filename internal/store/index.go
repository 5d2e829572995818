package store

import (
	"encoding/binary"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/anpr/anpr/plate"
)

// Secondary index prefixes; the layout is described in doc.go.
const (
	// prefixCamera 'C' hour(4) camera 0x00 digest(8) → a sealed block of the
	// camera's passages in that hour: ts, plate, h each.
	prefixCamera = 'C'
	// prefixTrigram 'G' day(2) bucket(1) digest(8) → a sealed block of (trigram,
	// plate) postings of the trigrams of one bucket on that day.
	prefixTrigram = 'G'
	// prefixJournal 'J' id(8) → the postings of one write transaction
	// until they are in blocks.
	prefixJournal = 'J'
)

const (
	hourLen    = 4
	dayLen     = 2
	trigramLen = 3
	digestLen  = 8
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

// appendCameraPrefix appends 'C' hour camera 0x00: the blocks of one
// camera's passages in one hour start with it.
func appendCameraPrefix(dst []byte, hour int64, camera string) []byte {
	dst = appendHourPrefix(dst, hour)
	dst = append(dst, camera...)
	return append(dst, 0)
}

// appendHourPrefix appends 'C' hour: the blocks of every camera in one hour.
func appendHourPrefix(dst []byte, hour int64) []byte {
	dst = append(dst, prefixCamera)
	return binary.BigEndian.AppendUint32(dst, uint32(hour))
}

// appendTrigramPrefix appends 'G' day bucket: the blocks holding the
// postings of that day of the bucket's trigrams (bucketOf).
func appendTrigramPrefix(dst []byte, day int64, bucket byte) []byte {
	dst = append(dst, prefixTrigram)
	dst = binary.BigEndian.AppendUint16(dst, uint16(day))
	return append(dst, bucket)
}

// bucketOf spreads trigrams over 256 buckets: a pattern query reads one
// bucket's postings of a day, about 1/256 of them.
func bucketOf(tri string) byte {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(tri); i++ {
		h = (h ^ uint32(tri[i])) * 16777619
	}
	return byte(h ^ h>>8 ^ h>>16 ^ h>>24)
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
// is sized for 7e-7 of them at Options.PlatesPerDay distinct plates a day
// (blockBloom).
// Filters of the filterDays most recent capture days are kept; a read of an
// older day writes its trigram keys every time (idempotent sets). The filter
// starts empty at Open: the first passages after a restart write their keys
// again. Safe for concurrent use.
type dayFilter struct {
	mu       sync.Mutex
	capacity uint
	days     map[int64]*blockBloom
}

const (
	filterDays = 2
	// DefaultPlatesPerDay sizes the day filter (≈20 MB per day kept).
	DefaultPlatesPerDay = 4_000_000
)

func newDayFilter(capacity int) *dayFilter {
	return &dayFilter{capacity: uint(capacity), days: make(map[int64]*blockBloom)}
}

// blockBloom is a blocked bloom filter: a key's bloomK bits are all in one
// 512-bit block, one cache line, where a classic filter's 20 probes at the
// same false-positive rate touch 20 (the day filter was 7 % of the
// pipeline's CPU, nearly all cache misses). With bloomBits bits per key
// its false-positive rate at capacity is 7e-7 (a classic filter's 1e-6
// needs 29 bits): with 4 M plates a day, about 3 plate-days a day missing
// from the pattern index.
type blockBloom struct {
	blocks [][8]uint64
}

const (
	bloomBits = 40
	bloomK    = 17
)

func newBlockBloom(capacity uint) *blockBloom {
	return &blockBloom{blocks: make([][8]uint64, max(capacity*bloomBits/512, 1))}
}

// mask returns key's block and its bloomK bits there, drawn as independent
// 9-bit numbers from a splitmix64 stream seeded by key's hash. (Double
// hashing, pos + i·step, makes the bits arithmetic progressions that
// overlap another key's: 4e-4 false positives measured.)
func (f *blockBloom) mask(key []byte) (b *[8]uint64, m [8]uint64) {
	h := xxhash.Sum64(key)
	b = &f.blocks[(h>>32)*uint64(len(f.blocks))>>32]
	for i := 0; i < bloomK; {
		h += 0x9e3779b97f4a7c15
		z := (h ^ h>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		z ^= z >> 31
		for j := 0; j < 7 && i < bloomK; j, i = j+1, i+1 {
			m[z>>6&7] |= 1 << (z & 63)
			z >>= 9
		}
	}
	return b, m
}

func (f *blockBloom) test(key []byte) bool {
	b, m := f.mask(key)
	for i := range m {
		if b[i]&m[i] != m[i] {
			return false
		}
	}
	return true
}

func (f *blockBloom) add(key []byte) {
	b, m := f.mask(key)
	for i := range m {
		b[i] |= m[i]
	}
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
	return bf != nil && bf.test(dayKey(buf[:0], day, norm))
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
		bf = newBlockBloom(f.capacity)
		f.days[day] = bf
	}
	bf.add(dayKey(buf[:0], day, norm))
}

// plateDay is a plate whose trigram postings a transaction writes.
type plateDay struct {
	day  int64
	norm string
}

// appendPostings appends the index postings of r, whose gatewaySeq is seq
// (else its passage key's read id hash is h), to the transaction's journal
// value: its camera posting and, unless the day filter says they are
// written already, its plate's trigrams of the day (the plate-day goes to
// sc.indexed, for the filter after the commit).
func (s *Store) appendPostings(sc *scratch, r *plate.Read, seq uint64, h []byte) {
	if !indexable(r) {
		return
	}
	day := dayOf(r.TS)
	pd := plateDay{day, r.PlateNorm}
	_, dup := sc.indexed[pd]
	tri := !dup && !s.days.seen(day, r.PlateNorm)
	if tri {
		if sc.indexed == nil {
			sc.indexed = make(map[plateDay]struct{})
		}
		sc.indexed[pd] = struct{}{}
	}
	sc.journal = appendJournal(sc.journal, r, seq, h, tri)
}
