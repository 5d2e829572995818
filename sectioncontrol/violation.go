package sectioncontrol

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/anpr/anpr/plate"
)

// Violation is an average-speed violation with its evidence (SPEC §6). Every
// number can be recomputed from the reads: MeasuredKmh from LengthM and the
// two capture times, CorrectedKmh with the Tolerance, LimitKmh from the
// section's limits over the passage.
//
// Entry and Exit carry only what the Tracker holds of the reads: CameraID,
// TS (millisecond precision), PlateNorm, Country and VehicleClass, with
// Confidence and Lane -1 (absent). The engine fills ReadID, Plate, ImageRef,
// Confidence and Lane from its store, finding the reads by EntryOffset and
// ExitOffset (or camera and capture time), before writing the JSON.
type Violation struct {
	ID           string // ViolationID
	SectionID    string
	Plate        string // normalized
	Country      string // of either read; empty when neither has one
	VehicleClass string // the class both reads carry, else "unknown"
	Entry, Exit  plate.Read
	// EntryOffset and ExitOffset are the Kafka offsets of the two reads in
	// the Tracker's partition.
	EntryOffset, ExitOffset int64
	LengthM                 float64
	DurationMs              int64
	MeasuredKmh             float64 // exact; rounded to 2 decimals in JSON
	MarginKmh               float64 // exact; rounded to 2 decimals in JSON
	CorrectedKmh            float64 // floor(MeasuredKmh − MarginKmh)
	LimitKmh                float64
	LimitReason             string // "base", "class:truck" or "schedule:06:00-19:00"
	Tolerance               Tolerance
	// EntryCertificate and ExitCertificate are the cameras' metrology
	// certificate ids, valid at their reads' capture times.
	EntryCertificate, ExitCertificate string
	// DetectedAt is the processing time of the Advance that returned the
	// decision (a replay detects again, later).
	DetectedAt time.Time
}

// ViolationID is the stable violation id of a pair: "v_" and 16 lower-case
// hex digits of xxhash64 over section id, plate_norm, entry camera id, entry
// capture time (Unix ms, decimal), exit camera id and exit capture time,
// each followed by a zero byte. It depends only on what the Tracker holds,
// so a replayed pair gets the same id.
func ViolationID(sectionID, plateNorm, entryCam string, entryMs int64, exitCam string, exitMs int64) string {
	var d xxhash.Digest
	d.Reset()
	var buf [20]byte
	for _, s := range []string{sectionID, plateNorm, entryCam} {
		d.WriteString(s)
		d.Write([]byte{0})
	}
	d.Write(append(strconv.AppendInt(buf[:0], entryMs, 10), 0))
	d.WriteString(exitCam)
	d.Write([]byte{0})
	d.Write(append(strconv.AppendInt(buf[:0], exitMs, 10), 0))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], d.Sum64())
	return "v_" + hex.EncodeToString(b[:])
}

func (t *Tracker) violation(s *section, key plateKey, e, x *ev, measured, margin, corrected, limit float64, why string) *Violation {
	v := &Violation{
		SectionID:        s.ID,
		Plate:            key.String(),
		VehicleClass:     plate.ClassUnknown,
		Entry:            t.read(e, key),
		Exit:             t.read(x, key),
		LengthM:          s.LengthM,
		DurationMs:       x.ms - e.ms,
		MeasuredKmh:      measured,
		MarginKmh:        margin,
		CorrectedKmh:     corrected,
		LimitKmh:         limit,
		LimitReason:      why,
		Tolerance:        s.Tolerance,
		EntryCertificate: t.certs[e.cam].ID,
		ExitCertificate:  t.certs[x.cam].ID,
		EntryOffset:      e.off,
		ExitOffset:       x.off,
	}
	v.ID = ViolationID(s.ID, v.Plate, v.Entry.CameraID, e.ms, v.Exit.CameraID, x.ms)
	v.Country = v.Entry.Country
	if v.Country == "" {
		v.Country = v.Exit.Country
	}
	if e.class() == x.class() {
		v.VehicleClass = classes[e.class()]
	}
	return v
}

// AppendJSON appends v as SPEC §6 JSON. It is safe for concurrent use.
func (v *Violation) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"violation_id":`...)
	dst = plate.AppendJSONString(dst, v.ID)
	dst = append(dst, `,"section_id":`...)
	dst = plate.AppendJSONString(dst, v.SectionID)
	dst = append(dst, `,"plate":`...)
	dst = plate.AppendJSONString(dst, v.Plate)
	dst = append(dst, `,"country":`...)
	dst = plate.AppendJSONString(dst, v.Country)
	dst = append(dst, `,"vehicle_class":`...)
	dst = plate.AppendJSONString(dst, v.VehicleClass)
	dst = append(dst, `,"entry":`...)
	dst = plate.AppendJSON(dst, &v.Entry)
	dst = append(dst, `,"exit":`...)
	dst = plate.AppendJSON(dst, &v.Exit)
	dst = append(dst, `,"length_m":`...)
	dst = appendFloat(dst, v.LengthM)
	dst = append(dst, `,"duration_s":`...)
	dst = appendFloat(dst, float64(v.DurationMs)/1000)
	dst = append(dst, `,"measured_kmh":`...)
	dst = appendFloat(dst, round2(v.MeasuredKmh))
	dst = append(dst, `,"margin_kmh":`...)
	dst = appendFloat(dst, round2(v.MarginKmh))
	dst = append(dst, `,"corrected_kmh":`...)
	dst = appendFloat(dst, v.CorrectedKmh)
	dst = append(dst, `,"limit_kmh":`...)
	dst = appendFloat(dst, v.LimitKmh)
	dst = append(dst, `,"limit_reason":`...)
	dst = plate.AppendJSONString(dst, v.LimitReason)
	dst = append(dst, `,"tolerance":`...)
	dst = plate.AppendJSONString(dst, v.Tolerance.Name)
	dst = append(dst, `,"certificates":{"entry":`...)
	dst = plate.AppendJSONString(dst, v.EntryCertificate)
	dst = append(dst, `,"exit":`...)
	dst = plate.AppendJSONString(dst, v.ExitCertificate)
	dst = append(dst, `},"detected_at":"`...)
	dst = plate.AppendTime(dst, v.DetectedAt)
	return append(dst, `"}`...)
}

// round2 rounds for display only; decisions use the exact values.
func round2(f float64) float64 { return math.Round(f*100) / 100 }

func appendFloat(dst []byte, f float64) []byte {
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}
