package sectioncontrol

import (
	"encoding/binary"
	"math"
	"strings"
	"time"

	"github.com/anpr/anpr/plate"
)

// plateKey is a normalized plate (A-Z, 0-9, at most 12 characters) padded
// with zero bytes: a fixed-size map key that needs no allocation.
type plateKey [12]byte

func makeKey(norm string) (plateKey, bool) {
	var k plateKey
	if norm == "" || len(norm) > len(k) {
		return k, false
	}
	copy(k[:], norm)
	return k, true
}

func (k plateKey) String() string {
	n := 0
	for n < len(k) && k[n] != 0 {
		n++
	}
	return string(k[:n])
}

// ev is one read as a pending state keeps it: what decisions need inline,
// the rest of the evidence packed into one string that owns its bytes (so a
// decoded record is never pinned). 32 bytes plus the packed string.
type ev struct {
	ms       int64  // capture time, Unix milliseconds
	evidence string // packEvidence
	cam      uint32 // index into Tracker.camIDs
	class    uint8  // classCode
	flags    uint8
	country  [2]byte
}

const (
	flagExit  = 1 << iota // an exit read; else an entry read
	flagEntry             // the processed entry awaiting its exit (always first)
)

const numClasses = 6

var classes = [numClasses]string{plate.ClassUnknown, plate.ClassCar, plate.ClassVan, plate.ClassTruck, plate.ClassBus, plate.ClassMotorcycle}

func classCode(c string) uint8 {
	for i, name := range classes {
		if c == name {
			return uint8(i)
		}
	}
	return 0
}

// packEvidence packs the fields of r that ev does not hold inline.
func packEvidence(r *plate.Read) string {
	var b strings.Builder // String() hands over the bytes: one allocation
	var buf [binary.MaxVarintLen64]byte
	n := 8 + len(binary.AppendVarint(buf[:0], int64(r.Lane)))
	for _, s := range []string{r.ReadID, r.Plate, r.ImageRef} {
		n += len(binary.AppendUvarint(buf[:0], uint64(len(s)))) + len(s)
	}
	b.Grow(n) // exact: the allocation is the evidence
	for _, s := range []string{r.ReadID, r.Plate, r.ImageRef} {
		b.Write(binary.AppendUvarint(buf[:0], uint64(len(s))))
		b.WriteString(s)
	}
	b.Write(binary.LittleEndian.AppendUint64(buf[:0], math.Float64bits(r.Confidence)))
	b.Write(binary.AppendVarint(buf[:0], int64(r.Lane)))
	return b.String()
}

// read rebuilds the Read of e. The capture time keeps millisecond precision,
// which is all SPEC §3 promises.
func (t *Tracker) read(e *ev, key plateKey) plate.Read {
	r := plate.Read{
		CameraID:     t.camIDs[e.cam],
		TS:           time.UnixMilli(e.ms).UTC(),
		PlateNorm:    key.String(),
		VehicleClass: classes[e.class],
	}
	if e.country != [2]byte{} {
		r.Country = string(e.country[:])
	}
	b := e.evidence
	next := func() string {
		n, k := binary.Uvarint([]byte(b[:min(len(b), binary.MaxVarintLen64)]))
		s := b[k : k+int(n)]
		b = b[k+int(n):]
		return s
	}
	r.ReadID, r.Plate, r.ImageRef = next(), next(), next()
	r.Confidence = math.Float64frombits(binary.LittleEndian.Uint64([]byte(b[:8])))
	lane, _ := binary.Varint([]byte(b[8:]))
	r.Lane = int(lane)
	return r
}
