package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/klauspost/compress/huff0"

	"github.com/anpr/anpr/plate"
)

// A camera block is stored by columns, each Huffman-coded on its own
// (huff0, the entropy stage of zstd): the capture times' three bytes, the
// plates' lengths, the plates' i-th characters for each i, the read parts.
// Columns of like bytes code in fewer bits than zstd's single literal table
// over interleaved postings: 5.4 against 7.1 B a posting (zstd's default
// level, the same postings by columns) and 10.0 (by postings), measured on
// the merged camera-hours of anpr bench store --fill 10000000.
//
// Value: uvarint n (postings, at most maxBlockPostings), then the columns
//
//	dt2, dt1, dt0  n bytes each: the capture time's distance from the
//	               previous posting's (the hour's start for the first),
//	               big-endian in three bytes (an hour is 3.6e6 ms < 2^24)
//	len            n bytes: plate lengths
//	char0..char11  the i-th characters of the plates longer than i
//	seq            n uvarints (see camPos)
//	h              idHashLen bytes for each seq of 0
//
// each as uvarint length, then (length > 0) a mode byte and: colRaw, the
// bytes; colRLE, one byte repeated; colHuff, uvarint size and a huff0 1X
// stream with its table.
const (
	colRaw  = 0
	colRLE  = 1
	colHuff = 2
	// maxColumn bounds a column's decoded length: n read parts' uvarints
	// (hashes take fewer bytes).
	maxColumn = maxBlockPostings * binary.MaxVarintLen64
)

// sealCameraBlock returns the camera block of ps (sorted, at most
// maxBlockPostings) of hour. sc is reused between calls by one goroutine.
func sealCameraBlock(hour int64, ps []camPos, sc *huff0.Scratch) []byte {
	n := len(ps)
	fixed := make([]byte, 4*n) // dt2, dt1, dt0, len
	var chars [plate.MaxLen][]byte
	var seqs, hs []byte
	prev := hour * msPerHour
	for i := range ps {
		p := &ps[i]
		dt := uint64(p.ms - prev)
		prev = p.ms
		fixed[i], fixed[n+i], fixed[2*n+i] = byte(dt>>16), byte(dt>>8), byte(dt)
		var b [plate.MaxLen]byte
		pl := p.plate.appendTo(b[:0])
		fixed[3*n+i] = byte(len(pl))
		for j, c := range pl {
			chars[j] = append(chars[j], c)
		}
		seqs = binary.AppendUvarint(seqs, p.seq)
		if p.seq == 0 {
			hs = append(hs, p.h[:]...)
		}
	}
	dst := binary.AppendUvarint(nil, uint64(n))
	for k := range 4 {
		dst = sealColumn(dst, fixed[k*n:(k+1)*n], sc)
	}
	for _, col := range chars {
		dst = sealColumn(dst, col, sc)
	}
	return sealColumn(sealColumn(dst, seqs, sc), hs, sc)
}

func sealColumn(dst, col []byte, sc *huff0.Scratch) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(col)))
	if len(col) == 0 {
		return dst
	}
	sc.Reuse = huff0.ReusePolicyNone
	out, _, err := huff0.Compress1X(col, sc)
	switch {
	case err == nil && len(out) < len(col):
		dst = append(dst, colHuff)
		dst = binary.AppendUvarint(dst, uint64(len(out)))
		return append(dst, out...)
	case err == huff0.ErrUseRLE:
		return append(dst, colRLE, col[0])
	}
	return append(append(dst, colRaw), col...)
}

// huffPool holds huff0 decoding tables for readers of camera blocks.
var huffPool = sync.Pool{New: func() any { return new(huff0.Scratch) }}

// openColumn returns the next column of d; want is its length when the
// layout fixes it, else -1.
func openColumn(d *decoder, want int) []byte {
	n := d.uvarint()
	if d.err != nil || n > maxColumn || want >= 0 && n != uint64(want) {
		d.fail()
		return nil
	}
	if n == 0 {
		return nil
	}
	switch mode := d.bytes(1); {
	case mode == nil:
		return nil
	case mode[0] == colRaw:
		return d.bytes(n)
	case mode[0] == colRLE:
		if b := d.bytes(1); b != nil {
			return bytes.Repeat(b, int(n))
		}
		return nil
	case mode[0] == colHuff:
		in := d.bytes(d.uvarint())
		if d.err != nil {
			return nil
		}
		sc := huffPool.Get().(*huff0.Scratch)
		defer huffPool.Put(sc)
		sc, rest, err := huff0.ReadTable(in, sc)
		if err != nil {
			d.fail()
			return nil
		}
		// Room past n: the decoder writes in batches (then n exactly).
		out, err := sc.Decoder().Decompress1X(make([]byte, 0, n+16), rest)
		if err != nil || uint64(len(out)) != n {
			d.fail()
			return nil
		}
		return out
	}
	d.fail()
	return nil
}

// decodeCameraBlock calls fn with each posting of the camera block val of
// hour.
func decodeCameraBlock(hour int64, val []byte, fn func(camPos)) error {
	d := decoder{b: val}
	n64 := d.uvarint()
	if d.err != nil || n64 == 0 || n64 > maxBlockPostings {
		return errCorrupt
	}
	n := int(n64)
	var fixed [4][]byte // dt2, dt1, dt0, len
	for k := range fixed {
		fixed[k] = openColumn(&d, n)
	}
	var chars [plate.MaxLen][]byte
	for j := range chars {
		longer := 0
		for _, l := range fixed[3] {
			if int(l) > j {
				longer++
			}
		}
		chars[j] = openColumn(&d, longer)
	}
	seqs := decoder{b: openColumn(&d, -1)}
	ps := make([]camPos, n)
	zeros := 0
	for i := range ps {
		if ps[i].seq = seqs.uvarint(); ps[i].seq == 0 {
			zeros++
		}
	}
	hs := openColumn(&d, zeros*idHashLen)
	if d.err != nil || seqs.err != nil || len(seqs.b) > 0 || len(d.b) > 0 {
		return errCorrupt
	}
	ms := hour * msPerHour
	var at [plate.MaxLen]int // next character of each column
	for i := range ps {
		p := &ps[i]
		dt := int64(fixed[0][i])<<16 | int64(fixed[1][i])<<8 | int64(fixed[2][i])
		if ms += dt; ms >= (hour+1)*msPerHour {
			return errCorrupt
		}
		p.ms = ms
		var b [plate.MaxLen]byte
		l := int(fixed[3][i])
		if l < plate.MinLen || l > plate.MaxLen {
			return errCorrupt
		}
		for j := range l {
			b[j] = chars[j][at[j]]
			at[j]++
		}
		if !validNorm(b[:l]) {
			return errCorrupt
		}
		p.plate = packPlate(b[:l])
		if p.seq == 0 {
			hs = hs[copy(p.h[:], hs):]
		}
		fn(*p)
	}
	return nil
}

// A flush writes one camera block for each camera-hour it holds, so an hour
// of a camera ends up in as many blocks as flushes saw it (at 1e8 passages,
// 12 700 cameras: blocks of about 19 postings, most of their bytes keys and
// Badger's entry overhead). Once the feed has moved past an hour, the
// flusher merges each camera's blocks of it into one (Store.merge).

// mergeLag is how many hours behind the newest flushed one (and the clock)
// an hour must be before its blocks are merged: reads up to an hour late
// are common (a camera's backlog), and a later read only adds a block,
// merged again at the next pass.
const mergeLag = 2

// mergeChunk is about how many postings a merge writes before it deletes
// the blocks they came from.
const mergeChunk = 200_000

// noteFlushed records the hours a flush wrote camera blocks for, to be
// merged (flushMu held).
func (s *Store) noteFlushed(f *postings) {
	for ch := range f.cams {
		s.unmerged[ch.hour] = struct{}{}
		s.newestHour = max(s.newestHour, ch.hour)
	}
}

// reopenHours is how far back Open looks for hours a previous run flushed
// to and had not merged yet (within mergeLag of its newest), or left half
// merged by a crash.
const reopenHours = mergeLag + 4

// noteReopened marks the hours of the last reopenHours as to be merged: the
// flusher merges those with more than one block of a camera once it flushes.
func (s *Store) noteReopened() {
	for h := hourOf(time.Now()) - reopenHours; h <= hourOf(time.Now()); h++ {
		s.unmerged[h] = struct{}{}
	}
}

// merge merges the camera blocks of the hours flushed since their last
// merge that are mergeLag behind the newest, or of all of them (Settle). An
// hour that fails stays to be merged again, but does not hold up the
// others; a camera with a block that does not decode keeps its blocks (its
// queries fail the same way), and its hour is not tried again.
func (s *Store) merge(all bool) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	last := min(s.newestHour, hourOf(time.Now())) - mergeLag
	hours := make([]int64, 0, len(s.unmerged))
	for h := range s.unmerged {
		if all || h <= last {
			hours = append(hours, h)
		}
	}
	slices.Sort(hours)
	var errs []error
	for _, h := range hours {
		err := s.mergeHour(h)
		if err != nil {
			errs = append(errs, fmt.Errorf("merge camera hour %d: %w", h, err))
		}
		if err == nil || errors.Is(err, errCorrupt) {
			delete(s.unmerged, h)
		}
	}
	return errors.Join(errs...)
}

// mergeHour rewrites each camera's blocks of hour as one (or more, past
// maxBlockPostings). The new blocks are durable before the old are deleted;
// a crash between leaves both, whose postings readers take once. Postings
// past retention go with their blocks' expiry, not here: the store's
// retention may be another process's.
func (s *Store) mergeHour(hour int64) error {
	var sc huff0.Scratch
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: appendHourPrefix(nil, hour)})
		defer it.Close()
		var (
			olds  [][]byte   // keys read in this chunk
			news  blockBatch // blocks written in it
			ps    []camPos
			chunk int
			bad   error // of a camera whose blocks stay: one does not decode
		)
		commit := func() error {
			if err := s.writeBlocks(&news); err != nil {
				return err
			}
			written := map[string]bool{}
			for _, k := range news.keys {
				written[string(k)] = true
			}
			del := s.db.NewWriteBatch()
			defer del.Cancel()
			for _, k := range olds {
				if !written[string(k)] { // the same content merged again: the same key
					if err := del.Delete(k); err != nil {
						return err
					}
				}
			}
			olds, news, chunk = olds[:0], blockBatch{}, 0
			return del.Flush()
		}
		for it.Rewind(); it.Valid(); {
			prefix := it.Item().KeyCopy(nil)
			if n := len(prefix) - digestLen; n < 1+hourLen+2 || prefix[n-1] != 0 {
				it.Next() // not ours: not 'C' hour camera 0x00 digest
				continue
			}
			prefix = prefix[:len(prefix)-digestLen] // 'C' hour camera 0x00
			var keys [][]byte
			for ; it.Valid() && bytes.HasPrefix(it.Item().Key(), prefix) && len(it.Item().Key()) == len(prefix)+digestLen; it.Next() {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
			if len(keys) == 1 { // merged already: not read
				continue
			}
			ps = ps[:0]
			var err error
			for _, k := range keys {
				var item *badger.Item
				if item, err = txn.Get(k); err == nil {
					err = item.Value(func(val []byte) error {
						return decodeCameraBlock(hour, val, func(p camPos) { ps = append(ps, p) })
					})
				}
				if err != nil {
					err = fmt.Errorf("camera block at %x: %w", k[len(k)-digestLen:], err)
					break
				}
			}
			if errors.Is(err, errCorrupt) {
				bad = err
				continue
			}
			if err != nil {
				return err
			}
			s.addCameraBlocks(&news, prefix, hour, ps, &sc)
			olds = append(olds, keys...)
			if chunk += len(ps); chunk >= mergeChunk {
				if err := commit(); err != nil {
					return err
				}
			}
		}
		if err := commit(); err != nil {
			return err
		}
		return bad
	})
}

// blockBatch is index blocks to write together (writeBlocks).
type blockBatch struct {
	keys, vals [][]byte
	exps       []uint64
}

func (b *blockBatch) add(key, val []byte, exp uint64) {
	b.keys, b.vals, b.exps = append(b.keys, key), append(b.vals, val), append(b.exps, exp)
}

// addCameraBlocks adds to b the blocks of ps, postings of one camera-hour
// whose keys start with prefix: sorted (in place), each once, at most
// maxBlockPostings a block, each expiring with its latest passage.
func (s *Store) addCameraBlocks(b *blockBatch, prefix []byte, hour int64, ps []camPos, sc *huff0.Scratch) {
	slices.SortFunc(ps, func(a, b camPos) int { return a.compare(&b) })
	ps = slices.CompactFunc(ps, func(a, b camPos) bool { return a.compare(&b) == 0 })
	for blk := range slices.Chunk(ps, maxBlockPostings) {
		val := sealCameraBlock(hour, blk, sc)
		b.add(appendDigest(bytes.Clone(prefix), val), val, expiresAt(time.UnixMilli(blk[len(blk)-1].ms), s.retention))
	}
}

// writeBlocks writes the blocks of b and returns once they are durable.
func (s *Store) writeBlocks(b *blockBatch) error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for i, k := range b.keys {
		if err := wb.SetEntry(&badger.Entry{Key: k, Value: b.vals[i], ExpiresAt: b.exps[i]}); err != nil {
			return err
		}
	}
	return wb.Flush()
}
