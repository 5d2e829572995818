package store

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/klauspost/compress/huff0"

	"github.com/anpr/anpr/plate"
)

// blocks returns the camera blocks of hour, by camera: keys and values.
func blocks(t *testing.T, s *Store, hour int64) map[string][][2][]byte {
	t.Helper()
	by := map[string][][2][]byte{}
	prefix := appendHourPrefix(nil, hour)
	if err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			key := it.Item().KeyCopy(nil)
			val, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			cam := string(key[len(prefix) : len(key)-digestLen-1])
			by[cam] = append(by[cam], [2][]byte{key, val})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return by
}

// TestMergeHours: an hour mergeLag behind the newest ends in one block per
// camera, with the passages it had; the current hour is left alone until
// Settle's merge of all; a block left by a crash between a merge's writes
// and deletions, and late reads, are merged at the next pass.
func TestMergeHours(t *testing.T) {
	s := open(t, Options{})
	cur := now()
	old := cur.Add(-5 * time.Hour).Truncate(time.Hour)
	oldHour, curHour := hourOf(old), hourOf(cur)
	cams := []string{"CAM-0", "CAM-1", "CAM-2"}
	var n int
	batch := func(at time.Time, k int) {
		var rs []plate.Read
		for i := range k {
			r := read(plateOf(n), at.Add(time.Duration(n%3000)*time.Second).Truncate(time.Millisecond), n)
			r.CameraID = cams[i%len(cams)]
			if n%2 == 0 {
				r.ReadID = fmt.Sprintf("%s/%s/%d", r.CameraID, r.TS.Format("20060102T150405.000Z"), n)
			}
			rs = append(rs, r)
			n++
		}
		write(t, s, &Batch{Reads: rs})
		if err := s.flushIndex(); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		batch(old, 60)
	}
	curFrom := cur.Truncate(time.Hour)
	batch(curFrom, 3)
	batch(curFrom, 3)
	passages := func(cam string, from time.Time) []plate.Read {
		t.Helper()
		got, next, err := s.CameraPassages(CameraQuery{Camera: cam, From: from, To: from.Add(time.Hour), Limit: 1000})
		if err != nil || next != "" {
			t.Fatalf("%s: %v, next %q", cam, err, next)
		}
		return got
	}
	before := map[string][]plate.Read{}
	for _, c := range cams {
		before[c] = passages(c, old)
		if len(before[c]) != 80 {
			t.Fatalf("%s: %d passages before the merge, want 80", c, len(before[c]))
		}
	}
	if got := blocks(t, s, oldHour); len(got["CAM-0"]) != 4 {
		t.Fatalf("CAM-0: %d blocks of the old hour before the merge, want 4", len(got["CAM-0"]))
	}
	crashed := blocks(t, s, oldHour)["CAM-1"][0] // a block a crash would leave beside the merged one

	check := func(stage string) {
		t.Helper()
		for _, c := range cams {
			if got := blocks(t, s, oldHour); len(got[c]) != 1 {
				t.Errorf("%s: %s has %d blocks of the old hour, want 1", stage, c, len(got[c]))
			}
			if got := passages(c, old); !reflect.DeepEqual(got, before[c]) {
				t.Errorf("%s: %s: %d passages, want the %d from before the merge", stage, c, len(got), len(before[c]))
			}
		}
	}
	if err := s.merge(false); err != nil {
		t.Fatal(err)
	}
	check("merged")
	if got := blocks(t, s, curHour); len(got["CAM-0"]) != 2 {
		t.Errorf("current hour: CAM-0 has %d blocks, want the 2 flushed (not merged)", len(got["CAM-0"]))
	}

	// A crash between the merged blocks and the deletions leaves the old
	// ones beside them; the next merge gives the same merged block (same
	// key), which it must not delete with the old.
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(crashed[0], crashed[1]) }); err != nil {
		t.Fatal(err)
	}
	s.flushMu.Lock()
	s.unmerged[oldHour] = struct{}{} // as a restart's first flush to the hour would
	s.flushMu.Unlock()
	if err := s.merge(false); err != nil {
		t.Fatal(err)
	}
	check("merged after a crash")
	batch(old, 3) // a late read for each camera
	for _, c := range cams {
		before[c] = passages(c, old)
		if len(before[c]) != 81 {
			t.Fatalf("%s: %d passages after the late reads, want 81", c, len(before[c]))
		}
	}
	if err := s.merge(false); err != nil {
		t.Fatal(err)
	}
	check("merged with late reads")

	if err := s.merge(true); err != nil { // Settle's: every hour flushed to
		t.Fatal(err)
	}
	if got := blocks(t, s, curHour); len(got["CAM-0"]) != 1 {
		t.Errorf("current hour after merging all: CAM-0 has %d blocks, want 1", len(got["CAM-0"]))
	}
}

// FuzzCameraBlock: any value decodes to valid postings of the hour, in
// order, or errCorrupt, never a panic; what decodes seals and decodes again
// to the same postings.
func FuzzCameraBlock(f *testing.F) {
	hour := hourOf(now())
	var ps []camPos
	for i := range 20 {
		p := camPos{ms: hour*msPerHour + int64(i*i)*997, plate: packPlate(plateOf(i)[:2+i%6]), seq: uint64(i % 3)}
		if p.seq == 0 {
			p.h = [idHashLen]byte{byte(i), 1, 2, 3, 4, 5, 6, 7}
		}
		ps = append(ps, p)
	}
	var sc huff0.Scratch
	f.Add(sealCameraBlock(hour, ps, &sc))
	f.Add(sealCameraBlock(hour, ps[:1], &sc))
	f.Fuzz(func(t *testing.T, val []byte) {
		var got []camPos
		if err := decodeCameraBlock(hour, val, func(p camPos) { got = append(got, p) }); err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("err %v, want errCorrupt", err)
			}
			return
		}
		for i, p := range got {
			if !validNorm(p.plate.String()) || hourOf(time.UnixMilli(p.ms)) != hour || i > 0 && p.ms < got[i-1].ms {
				t.Fatalf("posting %d: %+v", i, p)
			}
		}
		var again []camPos
		if err := decodeCameraBlock(hour, sealCameraBlock(hour, got, &huff0.Scratch{}), func(p camPos) { again = append(again, p) }); err != nil || !slices.Equal(again, got) {
			t.Fatalf("sealed again: %v, %d postings against %d", err, len(again), len(got))
		}
	})
}

// TestMergeAfterRestart: an hour flushed to by a run that stopped before
// merging it is merged by the next run, once that one flushes.
func TestMergeAfterRestart(t *testing.T) {
	dir := t.TempDir()
	old := now().Add(-3 * time.Hour).Truncate(time.Hour)
	s := open(t, Options{Dir: dir})
	for b := range 3 {
		r := read(plateOf(b), old.Add(time.Duration(b)*time.Minute), b)
		r.CameraID = "CAM-0"
		write(t, s, &Batch{Reads: []plate.Read{r}})
		if err := s.flushIndex(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, Options{Dir: dir})
	if got := len(blocks(t, s, hourOf(old))["CAM-0"]); got != 3 {
		t.Fatalf("%d blocks before the merge, want 3", got)
	}
	write(t, s, &Batch{Reads: []plate.Read{read(plateOf(9), now(), 9)}})
	if err := s.flushIndex(); err != nil {
		t.Fatal(err)
	}
	if err := s.merge(false); err != nil {
		t.Fatal(err)
	}
	if got := len(blocks(t, s, hourOf(old))["CAM-0"]); got != 1 {
		t.Errorf("%d blocks after the restart's merge, want 1", got)
	}
}

// TestCameraBlockLargeSeqs: a full block of read ids whose sequence numbers
// take the longest uvarints seals and decodes.
func TestCameraBlockLargeSeqs(t *testing.T) {
	hour := hourOf(now())
	ps := make([]camPos, maxBlockPostings)
	for i := range ps {
		ps[i] = camPos{ms: hour*msPerHour + int64(i), plate: packPlate(plateOf(i)), seq: 1<<63 + uint64(i)}
	}
	n := 0
	if err := decodeCameraBlock(hour, sealCameraBlock(hour, ps, &huff0.Scratch{}), func(p camPos) {
		if p != ps[n] {
			t.Fatalf("posting %d: %+v, want %+v", n, p, ps[n])
		}
		n++
	}); err != nil || n != len(ps) {
		t.Fatalf("decoded %d of %d: %v", n, len(ps), err)
	}
}
