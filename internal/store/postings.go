package store

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/klauspost/compress/huff0"
	"github.com/klauspost/compress/zstd"

	"github.com/anpr/anpr/plate"
)

// The camera and trigram indexes are written in blocks (doc.go, "Indexes"):
// a key per passage cost Badger about 1.5 µs of memtable insertion and 8 B
// on disk each, which at 2.5–5 keys a passage halved the pipeline's
// throughput. Each write transaction stores its postings in one journal
// entry beside its passages; they are kept in memory too (pending), where
// queries see them, until a flush writes them as blocks and deletes their
// journal entries. Open reads the journal back, so a crash loses none.

const (
	// DefaultIndexFlushPostings is how many postings wait in memory before
	// they are flushed (about 40 MB).
	DefaultIndexFlushPostings = 500_000
	// DefaultIndexFlushAge is how long a posting waits at most.
	DefaultIndexFlushAge = 2 * time.Minute
	// maxBlockPostings bounds one block (about 100 KiB).
	maxBlockPostings = 4096
)

// plateKey is a normalized plate packed into 12 bytes, zero-padded
// (big-endian: it orders as the plate strings do, since a plate holds no
// 0x00). It holds no pointer: the garbage collector does not scan the
// million postings pending in memory, and a posting allocates no string.
type plateKey struct {
	hi uint64
	lo uint32
}

func packPlate[T string | []byte](norm T) plateKey {
	var b [plate.MaxLen]byte
	copy(b[:], norm)
	return plateKey{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint32(b[8:])}
}

func (k plateKey) compare(o plateKey) int {
	if k.hi != o.hi {
		return cmp.Compare(k.hi, o.hi)
	}
	return cmp.Compare(k.lo, o.lo)
}

func (k plateKey) len() int {
	if k.lo != 0 {
		return 12 - bits.TrailingZeros32(k.lo)/8
	}
	return 8 - bits.TrailingZeros64(k.hi)/8 // 64 zeros: 0
}

// appendTo appends the plate's bytes.
func (k plateKey) appendTo(dst []byte) []byte {
	var b [plate.MaxLen]byte
	binary.BigEndian.PutUint64(b[:8], k.hi)
	binary.BigEndian.PutUint32(b[8:], k.lo)
	return append(dst, b[:k.len()]...)
}

func (k plateKey) String() string {
	var b [plate.MaxLen]byte
	return string(k.appendTo(b[:0]))
}

// camPos is a camera index posting: a passage at its camera.
type camPos struct {
	ms    int64
	plate plateKey
	seq   uint64          // read id camera/time/seq-1 (gatewayReadID) when > 0
	h     [idHashLen]byte // when seq is 0
}

// compare orders postings by capture time, plate and read part. (A flush
// sorts a million of them: cmp.Or would evaluate every comparison, and
// cmp.Compare compares strings twice.)
func (p *camPos) compare(q *camPos) int {
	if p.ms != q.ms {
		return cmp.Compare(p.ms, q.ms)
	}
	if c := p.plate.compare(q.plate); c != 0 {
		return c
	}
	return p.compareRead(q)
}

// compareRead orders two postings of one camera, time and plate as their
// passages' read parts (appendReadPart) order.
func (p *camPos) compareRead(q *camPos) int {
	if p.seq == 0 || q.seq == 0 {
		return cmp.Or(cmp.Compare(min(p.seq, 1), min(q.seq, 1)), bytes.Compare(p.h[:], q.h[:]))
	}
	return cmp.Compare(p.seq, q.seq)
}

type camHour struct {
	hour   int64
	camera string
}

// triPosting is a trigram posting: a plate and its trigram's key, day,
// bucket and trigram packed in the order of the blocks (triKey).
type triPosting struct {
	key   uint64
	plate plateKey
}

// triKey packs day, bucket and trigram into one integer, so that postings
// sort in block order by an integer comparison.
func triKey(day int64, tri string) uint64 {
	return uint64(uint16(day))<<32 | uint64(bucketOf(tri))<<24 | uint64(tri[0])<<16 | uint64(tri[1])<<8 | uint64(tri[2])
}

func (a triPosting) compare(b triPosting) int {
	if a.key != b.key {
		return cmp.Compare(a.key, b.key)
	}
	return a.plate.compare(b.plate)
}

// postings are index postings not yet in blocks, with the journal keys
// that hold them.
type postings struct {
	cams    map[camHour][]camPos
	tris    []triPosting // in arrival order
	n       int
	journal [][]byte
	since   time.Time // when the first of them came
}

func newPostings() *postings {
	return &postings{cams: map[camHour][]camPos{}}
}

// appendJournal appends r's postings to a journal value: camera, capture
// time, plate, seq and, when seq is 0, h (see camPos), and whether the
// plate's trigrams of the day go with it.
func appendJournal(dst []byte, r *plate.Read, seq uint64, h []byte, trigrams bool) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(r.CameraID)))
	dst = append(dst, r.CameraID...)
	dst = binary.AppendUvarint(dst, uint64(r.TS.UnixMilli()))
	dst = binary.AppendUvarint(dst, uint64(len(r.PlateNorm)))
	dst = append(dst, r.PlateNorm...)
	dst = binary.AppendUvarint(dst, seq)
	if seq == 0 {
		dst = append(dst, h...)
	}
	if trigrams {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// addJournal adds the postings of the journal entry key, val to p; cams
// interns camera ids. Write calls it after the commit, Open for the
// journal left by the last run.
func (p *postings) addJournal(key, val []byte, cams *cameraDict) error {
	d := decoder{b: val}
	for len(d.b) > 0 {
		cam := d.bytes(d.uvarint())
		ms := d.uvarint()
		norm := d.bytes(d.uvarint())
		seq := d.uvarint()
		var h []byte
		if seq == 0 {
			h = d.bytes(idHashLen)
		}
		tri := d.bytes(1)
		if d.err != nil || ms > maxIndexMs || !validNorm(norm) {
			return fmt.Errorf("journal entry %x: %w", key, errCorrupt)
		}
		camera := cams.intern(cam)
		pos := camPos{ms: int64(ms), plate: packPlate(norm), seq: seq}
		copy(pos.h[:], h)
		ch := camHour{floorDiv(pos.ms, msPerHour), camera}
		p.cams[ch] = append(p.cams[ch], pos)
		p.n++
		if tri[0] == 1 {
			day := floorDiv(pos.ms, msPerDay)
			trigrams(string(norm), func(t string) {
				p.tris = append(p.tris, triPosting{triKey(day, t), pos.plate})
				p.n++
			})
		}
	}
	if p.n > 0 && p.since.IsZero() {
		p.since = time.Now()
	}
	p.journal = append(p.journal, bytes.Clone(key))
	return nil
}

// maxIndexMs bounds a posting's capture time (year 10000): a corrupt
// journal must not overflow the hour arithmetic.
const maxIndexMs = 253402300800000

// journalKey returns the key of the next journal entry: ids only grow,
// also across restarts (Open starts them above the journal's last).
func (s *Store) journalKey() []byte {
	id := s.journalID.Add(1)
	return binary.BigEndian.AppendUint64([]byte{prefixJournal}, id)
}

// addPending adds the postings of a committed journal entry to the pending
// ones and asks for a flush when there are enough.
func (s *Store) addPending(key, val []byte) error {
	s.postMu.Lock()
	err := s.pending.addJournal(key, val, s.dict)
	full := s.pending.n >= s.flushPostings
	s.postMu.Unlock()
	if full {
		select {
		case s.flushNow <- struct{}{}:
		default:
		}
	}
	return err
}

// recoverJournal reads the journal a previous run left (its postings not
// yet in blocks) into the pending postings.
func (s *Store) recoverJournal() error {
	var last uint64
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixJournal}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			key := it.Item().KeyCopy(nil)
			if len(key) != 1+8 {
				continue
			}
			last = binary.BigEndian.Uint64(key[1:])
			if err := it.Item().Value(func(val []byte) error {
				return s.pending.addJournal(key, val, s.dict)
			}); err != nil {
				return err
			}
		}
		return nil
	})
	s.journalID.Store(max(last, uint64(time.Now().UnixNano())))
	return err
}

// flusher flushes the pending postings when there are enough of them, when
// the oldest has waited FlushAge, and retries a failed flush, until stop.
func (s *Store) flusher(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(max(s.flushAge/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-s.flushNow:
		case <-t.C:
			s.postMu.RLock()
			due := s.flushing != nil || s.pending.n > 0 && time.Since(s.pending.since) >= s.flushAge
			s.postMu.RUnlock()
			if !due {
				continue
			}
		}
		if err := s.flushIndex(); err != nil {
			s.logger.Warn("index flush failed; its postings stay in the journal and are retried", "err", err)
		}
		if err := s.merge(false); err != nil {
			s.logger.Warn("camera block merge failed; retried after the next flush", "err", err)
		}
	}
}

// flushIndex writes the pending postings as blocks, then deletes their
// journal entries. They stay visible to queries (flushing) until both are
// done; a failed flush is retried as it was. Blocks are keyed by a digest of
// their content, so one written twice (a retry, a crash between the blocks
// and the deletion) is the same key, and a posting in two blocks is one
// answer: readers drop repeats.
func (s *Store) flushIndex() error {
	s.flushMu.Lock() // one flush at a time: the flusher, Close, tests
	defer s.flushMu.Unlock()
	s.postMu.Lock()
	if s.flushing == nil {
		if len(s.pending.journal) == 0 {
			s.postMu.Unlock()
			return nil
		}
		s.flushing, s.pending = s.pending, newPostings()
	}
	f := s.flushing
	s.postMu.Unlock()

	var (
		b  blockBatch
		sc huff0.Scratch
	)
	for ch, ps := range f.cams {
		// Copies: queries read f while it flushes. (Clone then sort:
		// slices.SortedFunc appends element by element, as costly as the sort.)
		s.addCameraBlocks(&b, appendCameraPrefix(nil, ch.hour, ch.camera), ch.hour, slices.Clone(ps), &sc)
	}
	// Trigram blocks hold a day's bucket, in trigram order, each trigram's
	// plates sorted (they compress better).
	tps := slices.Clone(f.tris)
	slices.SortFunc(tps, triPosting.compare)
	tps = slices.Compact(tps)
	for len(tps) > 0 {
		k := tps[0].key
		var blk []byte
		n := 0
		for len(tps) > 0 && tps[0].key>>24 == k>>24 && n < maxBlockPostings {
			g := 1 // one trigram's postings
			for g < len(tps) && tps[g].key == tps[0].key {
				g++
			}
			blk = appendTrigramGroup(blk, tps[0].key, tps[:g])
			n += g
			tps = tps[g:]
		}
		day := int64(k >> 32)
		// The postings outlive the day's last passage.
		b.add(appendDigest(appendTrigramPrefix(nil, day, byte(k>>24)), blk), sealBlock(blk),
			expiresAt(time.UnixMilli((day+1)*msPerDay), s.retention))
	}
	if err := s.writeBlocks(&b); err != nil {
		return fmt.Errorf("index flush: %w", err)
	}
	// The blocks are durable: their journal entries can go.
	del := s.db.NewWriteBatch()
	defer del.Cancel()
	for _, k := range f.journal {
		if err := del.Delete(k); err != nil {
			return fmt.Errorf("index flush: journal: %w", err)
		}
	}
	if err := del.Flush(); err != nil {
		return fmt.Errorf("index flush: journal: %w", err)
	}
	s.postMu.Lock()
	s.flushing = nil
	s.postMu.Unlock()
	s.noteFlushed(f)
	return nil
}

// Trigram blocks are compressed here, at zstd's default level, once per
// flush (camera blocks by columns, camblock.go): Badger's level 1, fast
// enough for every compaction, finds little to shrink in index blocks (a
// camera posting 12.4 B at level 1 against 8.2 at level 3 in BenchmarkDisk,
// format 6), and compacting a compressed value again costs little.
// Passages stay with Badger's level 1: they are small values, compressed
// per table block with their neighbours, and level 3 gained them nothing.
var (
	blockEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	blockDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(16<<20))
)

// sealBlock returns raw compressed (one zstd frame).
func sealBlock(raw []byte) []byte {
	return blockEncoder.EncodeAll(raw, nil)
}

// openBlock returns the content of a sealed block.
func openBlock(val []byte) ([]byte, error) {
	raw, err := blockDecoder.DecodeAll(val, nil)
	if err != nil {
		return nil, errCorrupt
	}
	return raw, nil
}

// appendDigest appends the first digestLen bytes of SHA-256(val) to key.
func appendDigest(key, val []byte) []byte {
	sum := sha256.Sum256(val)
	return append(key, sum[:digestLen]...)
}

// gatewayReadID appends the read id a gateway gives the read n of camera
// at ms: "camera/20060102T150405.000Z/n" (SPEC §3's example); false for a
// time appendStampBasic cannot write.
func gatewayReadID(dst []byte, camera string, ms int64, n uint64) ([]byte, bool) {
	dst = append(dst, camera...)
	dst = append(dst, '/')
	dst, ok := appendStampBasic(dst, time.UnixMilli(ms))
	dst = append(dst, '/')
	return strconv.AppendUint(dst, n, 10), ok
}

// gatewaySeq returns n+1 if r's read id is gatewayReadID's for n, else 0.
func gatewaySeq(r *plate.Read) uint64 {
	id := r.ReadID
	i := strings.LastIndexByte(id, '/')
	if i < 0 || i == len(id)-1 || len(id)-i > 21 || id[i+1] == '0' && i+2 < len(id) {
		return 0
	}
	n, err := strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil || n == math.MaxUint64 {
		return 0
	}
	var buf [96]byte
	if g, ok := gatewayReadID(buf[:0], r.CameraID, r.TS.UnixMilli(), n); !ok || string(g) != id {
		return 0
	}
	return n + 1
}

// appendTrigramGroup appends the postings of one trigram (key, triKey's)
// to a trigram block: the trigram, the number of plates, and each plate's
// length and bytes.
func appendTrigramGroup(dst []byte, key uint64, tps []triPosting) []byte {
	dst = append(dst, byte(key>>16), byte(key>>8), byte(key))
	dst = binary.AppendUvarint(dst, uint64(len(tps)))
	for _, tp := range tps {
		dst = binary.AppendUvarint(dst, uint64(tp.plate.len()))
		dst = tp.plate.appendTo(dst)
	}
	return dst
}

// decodeTrigramBlock calls fn with the plates of tri's postings in a
// sealed trigram block.
func decodeTrigramBlock(val []byte, tri string, fn func(norm []byte)) error {
	raw, err := openBlock(val)
	if err != nil {
		return err
	}
	d := decoder{b: raw}
	for len(d.b) > 0 {
		t := d.bytes(trigramLen)
		n := d.uvarint()
		for range min(n, uint64(len(d.b))) {
			norm := d.bytes(d.uvarint())
			if d.err == nil && string(t) == tri {
				fn(norm)
			}
		}
		if d.err != nil {
			return errCorrupt
		}
	}
	return nil
}

// camHit is a camera posting with its camera.
type camHit struct {
	camPos
	camera string
	code   uint64 // the camera's (cameraDict)
}

// position is where h's passage is in the plate index.
func (h *camHit) position() position {
	return position{ts: appendTS(nil, time.UnixMilli(h.ms)), plate: h.plate.String(), read: appendReadPart(nil, h.seq, h.code, h.h[:])}
}

// cameraHour returns the postings of camera (of every camera when camera
// is "") in hour with capture times in [fromMs, toMs), past retention
// excluded, in order (ms, plate, camera, read part), each once: those
// pending in memory and those in blocks. Memory is read first: a flush
// deletes its postings there only after its blocks are committed, so the
// transaction opened after sees them.
func (s *Store) cameraHour(hour int64, camera string, fromMs, toMs int64) ([]camHit, error) {
	minMs := time.Now().Add(-s.retention).UnixMilli() // and expiresAt rounds up: nothing early
	keep := func(p *camPos) bool { return p.ms >= fromMs && p.ms < toMs && p.ms > minMs }
	var hits []camHit
	unknown := "" // a camera with postings and no code: corrupt
	s.postMu.RLock()
	for _, ps := range [2]*postings{s.pending, s.flushing} {
		if ps == nil {
			continue
		}
		add := func(cam string, list []camPos) {
			code, ok := s.dict.code(cam)
			for i := range list {
				if keep(&list[i]) {
					hits = append(hits, camHit{list[i], cam, code})
				}
			}
			if !ok && len(list) > 0 {
				unknown = cam
			}
		}
		if camera != "" {
			add(camera, ps.cams[camHour{hour, camera}])
			continue
		}
		for ch, list := range ps.cams {
			if ch.hour == hour {
				add(ch.camera, list)
			}
		}
	}
	s.postMu.RUnlock()
	prefix := appendHourPrefix(nil, hour)
	if camera != "" {
		prefix = appendCameraPrefix(prefix[:0], hour, camera)
	}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			key := it.Item().Key()
			cam := camera
			if camera == "" {
				z := bytes.IndexByte(key[len(prefix):], 0)
				if z < 0 {
					continue // not ours: a camera id cannot hold 0x00
				}
				cam = string(key[len(prefix) : len(prefix)+z])
			}
			code, ok := s.dict.code(cam)
			if !ok {
				unknown = cam
			}
			if err := it.Item().Value(func(val []byte) error {
				return decodeCameraBlock(hour, val, func(p camPos) {
					if keep(&p) {
						hits = append(hits, camHit{p, cam, code})
					}
				})
			}); err != nil {
				return fmt.Errorf("camera block at %x: %w", key[len(key)-digestLen:], err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if unknown != "" {
		return nil, fmt.Errorf("camera index: a camera with no code: %w", errCorrupt)
	}
	cmpHit := func(a, b camHit) int {
		if a.ms != b.ms {
			return cmp.Compare(a.ms, b.ms)
		}
		return cmp.Or(a.plate.compare(b.plate), strings.Compare(a.camera, b.camera), a.compareRead(&b.camPos))
	}
	slices.SortFunc(hits, cmpHit)
	return slices.CompactFunc(hits, func(a, b camHit) bool { return cmpHit(a, b) == 0 }), nil
}

// trigramPlates calls fn with the plates of the postings of tri on day:
// those pending in memory, then those in blocks (a plate may come twice).
func (s *Store) trigramPlates(day int64, tri string, fn func(norm []byte)) error {
	k := triKey(day, tri)
	var mem []plateKey
	s.postMu.RLock()
	for _, ps := range [2]*postings{s.pending, s.flushing} {
		if ps == nil {
			continue
		}
		for _, tp := range ps.tris {
			if tp.key == k {
				mem = append(mem, tp.plate)
			}
		}
	}
	s.postMu.RUnlock()
	var buf [plate.MaxLen]byte
	for _, p := range mem {
		fn(p.appendTo(buf[:0]))
	}
	prefix := appendTrigramPrefix(nil, day, bucketOf(tri))
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := it.Item().Value(func(val []byte) error { return decodeTrigramBlock(val, tri, fn) }); err != nil {
				key := it.Item().Key()
				return fmt.Errorf("trigram block at %x: %w", key[len(key)-digestLen:], err)
			}
		}
		return nil
	})
}
