package matcher

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/anpr/anpr/plate"
)

// Remember records in s a hit raised earlier, given as its SPEC §5 JSON (as
// stored), so that a Suppressor rebuilt after a restart or a rebalance
// suppresses what the lost one would have. Hits of lists that no longer
// exist are an error. Not safe for concurrent use with other calls on s.
func (m *Matcher) Remember(s *Suppressor, hitJSON []byte) error {
	var h struct {
		ID   string `json:"hit_id"`
		List string `json:"list"`
		Read struct {
			CameraID string    `json:"camera_id"`
			TS       time.Time `json:"ts"`
		} `json:"read"`
		Entry struct {
			Plate string `json:"plate"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(hitJSON, &h); err != nil {
		return fmt.Errorf("remember hit: %w", err)
	}
	i, ok := m.byName[h.List]
	if !ok {
		return fmt.Errorf("remember hit %s: unknown list %q", h.ID, h.List)
	}
	s.Allow(&Hit{ID: h.ID, List: h.List, Entry: Entry{Plate: h.Entry.Plate},
		Read: plate.Read{CameraID: h.Read.CameraID, TS: h.Read.TS}, list: m.lists[i]})
	return nil
}

// MaxSuppress is the longest suppress window of the lists.
func (m *Matcher) MaxSuppress() time.Duration {
	var d time.Duration
	for _, l := range m.lists {
		d = max(d, l.suppress)
	}
	return d
}
