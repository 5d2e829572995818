package matcher

// minPrune is the map size below which a Suppressor never prunes.
const minPrune = 1024

// Suppressor drops a repeat of the same (list, entry plate, camera) within
// the list's suppress window (SPEC §4), counting it in
// anpr_matcher_suppressed_total. Windows are measured on capture time
// (Read.TS), not on arrival, so a replay in the same order gives the same
// answer.
//
// The very hit remembered (same hit id: its read processed again after a
// replay) is allowed again, so it is published again; any other hit is
// suppressed when its capture time is less than the window away,
// before or after, from the latest hit allowed for the same key: exactly
// one window apart is allowed again. A hit captured more than a window
// before the latest allowed one is allowed but does not move the key's
// time back.
//
// Memory is bounded: a key is forgotten once the latest capture time seen
// is two windows past it, so reads arriving up to one window late are
// still suppressed. Pruning scans the map whenever it has doubled since
// the last scan (amortized O(1) per Allow).
//
// A Suppressor is owned by one partition worker and is NOT safe for
// concurrent use. Reads of a plate must all go to the same Suppressor.
type Suppressor struct {
	last      map[suppressKey]suppressed
	watermark int64 // latest capture time seen, Unix ns
	nextPrune int
}

type suppressKey struct{ list, plate, camera string }

type suppressed struct {
	at     int64 // capture time of the latest allowed hit, Unix ns
	window int64 // the list's window, ns
	id     string
}

// NewSuppressor returns an empty Suppressor.
func NewSuppressor() *Suppressor {
	return &Suppressor{last: make(map[suppressKey]suppressed), nextPrune: minPrune}
}

// Allow reports whether h should be raised, and remembers it if so.
func (s *Suppressor) Allow(h *Hit) bool {
	window := int64(h.suppressWindow())
	if window < 0 {
		return true
	}
	ts := h.Read.TS.UnixNano()
	s.watermark = max(s.watermark, ts)
	k := suppressKey{list: h.List, plate: h.Entry.Plate, camera: h.Read.CameraID}
	if prev, ok := s.last[k]; ok {
		if h.ID != "" && prev.id == h.ID {
			return true
		}
		if d := ts - prev.at; d < window && -d < window {
			if h.list != nil {
				h.list.suppressed.Inc()
			}
			return false
		}
		if ts < prev.at {
			return true
		}
	}
	s.last[k] = suppressed{at: ts, window: window, id: h.ID}
	if len(s.last) >= s.nextPrune {
		s.prune()
	}
	return true
}

// Len returns the number of remembered keys.
func (s *Suppressor) Len() int { return len(s.last) }

func (s *Suppressor) prune() {
	for k, v := range s.last {
		if s.watermark-v.at >= 2*v.window {
			delete(s.last, k)
		}
	}
	s.nextPrune = max(2*len(s.last), minPrune)
}
