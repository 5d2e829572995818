package matcher

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/anpr/anpr/plate"
)

// KindRetro is the Kind of a retro hit.
const KindRetro = "retro"

// Hit is a read that matched a hotlist entry (SPEC §5).
type Hit struct {
	ID         string     // HitID(Read.ReadID, List, Entry.Plate)
	Read       plate.Read // a copy of the read
	List       string
	Entry      Entry
	Match      Mode // Exact, OCR or Fuzzy: how the read matched
	Distance   int  // edit distance after the OCR mapping; 0 for Exact and OCR
	Covert     bool // the list or the entry is covert
	DetectedAt time.Time
	// Kind is "" for a hit of a read as it arrived, KindRetro for one found
	// among stored passages when its entry was added (a list's retro).
	Kind string

	list *list // settings of the list that hit; nil for a Hit not made by Match
}

// HitID returns the stable id of the hit of read readID on the entry with
// normalized plate entryPlate of list: "h_" and the first 24 lower-case hex
// digits of SHA-256(readID 0x00 list 0x00 entryPlate). A read processed
// twice yields the same id, so consumers can dedupe.
func HitID(readID, list, entryPlate string) string {
	var buf [256]byte // enough for most ids: no allocation but the result
	b := append(buf[:0], readID...)
	b = append(b, 0)
	b = append(b, list...)
	b = append(b, 0)
	b = append(b, entryPlate...)
	sum := sha256.Sum256(b)
	var id [2 + 24]byte
	id[0], id[1] = 'h', '_'
	hex.Encode(id[2:], sum[:12])
	return string(id[:])
}

// suppressWindow is the list's suppress window, DefaultSuppress for a Hit
// not made by Match; negative means never suppress.
func (h *Hit) suppressWindow() time.Duration {
	if h.list == nil {
		return DefaultSuppress
	}
	return h.list.suppress
}

// MarshalJSON implements json.Marshaler with AppendJSON.
func (h Hit) MarshalJSON() ([]byte, error) { return h.AppendJSON(nil), nil }

// AppendJSON appends h as SPEC §5 JSON; the read is plate.AppendJSON output
// and times are in plate.TimeFormat.
func (h *Hit) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"hit_id":`...)
	dst = plate.AppendJSONString(dst, h.ID)
	dst = append(dst, `,"read":`...)
	dst = plate.AppendJSON(dst, &h.Read)
	dst = append(dst, `,"list":`...)
	dst = plate.AppendJSONString(dst, h.List)
	dst = append(dst, `,"entry":`...)
	dst = h.Entry.AppendJSON(dst)
	dst = append(dst, `,"match":`...)
	dst = plate.AppendJSONString(dst, string(h.Match))
	dst = append(dst, `,"distance":`...)
	dst = strconv.AppendInt(dst, int64(h.Distance), 10)
	dst = append(dst, `,"covert":`...)
	dst = strconv.AppendBool(dst, h.Covert)
	dst = append(dst, `,"detected_at":`...)
	dst = appendTime(dst, h.DetectedAt)
	if h.Kind != "" {
		dst = append(dst, `,"kind":`...)
		dst = plate.AppendJSONString(dst, h.Kind)
	}
	return append(dst, '}')
}
