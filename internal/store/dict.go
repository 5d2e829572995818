package store

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/anpr/anpr/plate"
)

// prefixCameraCode 'D' code(4) → camera id: the camera dictionary. A
// passage key's read part names its camera by code (appendReadPart): at
// 12 700 cameras, ids like "CAM-100042" repeat little within a table block,
// and a code took 1.3 B a passage less on disk (anpr bench store --fill
// 10000000, 2-byte ids against "CAM-1xxxxx"). Codes are dense from 0,
// never reused, and never expire: one small entry per camera ever seen.
const prefixCameraCode = 'D'

// cameraDict maps camera ids to their codes and back. Safe for concurrent
// use.
type cameraDict struct {
	// regMu makes one registration at a time, held across its write so
	// that mu is held only to publish: lookups do not wait for a sync.
	regMu sync.Mutex
	mu    sync.RWMutex
	codes map[string]uint64
	ids   []string // by code; appended only under regMu
}

// loadCameraDict reads the dictionary of db.
func loadCameraDict(db *badger.DB) (*cameraDict, error) {
	d := &cameraDict{codes: map[string]uint64{}}
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixCameraCode}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			key := it.Item().Key()
			if len(key) != 5 || binary.BigEndian.Uint32(key[1:]) != uint32(len(d.ids)) {
				return fmt.Errorf("camera dictionary at %x: %w", key, errCorrupt)
			}
			id, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			d.codes[string(id)] = uint64(len(d.ids))
			d.ids = append(d.ids, string(id))
		}
		return nil
	})
	return d, err
}

// register gives the cameras of rs that have none a code, durable before
// it returns: before any passage key holds it.
func (d *cameraDict) register(db *badger.DB, rs []*plate.Read) error {
	d.mu.RLock()
	missing := false
	for _, r := range rs {
		if _, ok := d.codes[r.CameraID]; !ok {
			missing = true
			break
		}
	}
	d.mu.RUnlock()
	if !missing {
		return nil
	}
	d.regMu.Lock()
	defer d.regMu.Unlock()
	var news []string
	seen := map[string]bool{}
	d.mu.RLock()
	for _, r := range rs {
		if _, ok := d.codes[r.CameraID]; !ok && !seen[r.CameraID] {
			seen[r.CameraID] = true
			news = append(news, r.CameraID)
		}
	}
	next := len(d.ids)
	d.mu.RUnlock()
	if next+len(news) > 1<<32-1 {
		return fmt.Errorf("camera dictionary full")
	}
	if err := db.Update(func(txn *badger.Txn) error {
		for i, id := range news {
			key := binary.BigEndian.AppendUint32([]byte{prefixCameraCode}, uint32(next+i))
			if err := txn.Set(key, []byte(id)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("camera dictionary: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range news {
		d.codes[id] = uint64(len(d.ids))
		d.ids = append(d.ids, id)
	}
	return nil
}

// code returns camera's code; false if it has none.
func (d *cameraDict) code(camera string) (uint64, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	c, ok := d.codes[camera]
	return c, ok
}

// intern returns camera as a string, the dictionary's when it has it (the
// pending postings of a camera share one).
func (d *cameraDict) intern(camera []byte) string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if c, ok := d.codes[string(camera)]; ok {
		return d.ids[c]
	}
	return string(camera)
}

// id returns the camera id of code; false if there is none.
func (d *cameraDict) id(code uint64) (string, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if code >= uint64(len(d.ids)) {
		return "", false
	}
	return d.ids[code], true
}
