package store

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/anpr/anpr/plate"
)

// CoTravelQuery asks which plates travelled with Plate: seen within Within
// of one of its passages in [From, To) at the same camera, at MinCameras
// distinct cameras or more.
type CoTravelQuery struct {
	Plate      string // normalized; required
	From, To   time.Time
	Within     time.Duration // > 0
	MinCameras int           // ≤ 0 means 1
	// MaxTargets bounds the passages of Plate looked at (the earliest
	// first); ≤ 0 means DefaultCoTravelTargets.
	MaxTargets int
}

// DefaultCoTravelTargets bounds the target passages of a co-travel query.
const DefaultCoTravelTargets = 2000

// CoTraveller is a plate seen near the target.
type CoTraveller struct {
	Plate string
	// Cameras are the distinct cameras where it was seen near the target,
	// sorted.
	Cameras []string
	// Sightings counts the target passages it was seen near (each at most
	// once).
	Sightings   int
	First, Last time.Time // its first and last sighting near the target
}

// CoTravel is the answer of a co-travel query.
type CoTravel struct {
	Targets   int  // target passages looked at
	Truncated bool // more target passages than MaxTargets in the window
	// Travellers ranked by distinct cameras, then sightings (both
	// descending), then plate.
	Travellers []CoTraveller
}

// CoTravel answers q: the target's passages from the plate index, then the
// camera index of each one's camera within ±Within of it. Safe for
// concurrent use.
func (s *Store) CoTravel(q CoTravelQuery) (CoTravel, error) {
	if q.Within <= 0 {
		return CoTravel{}, fmt.Errorf("co-travel: within must be positive: %w", errInvalid)
	}
	maxTargets := cmp.Or(max(q.MaxTargets, 0), DefaultCoTravelTargets)
	var res CoTravel
	type acc struct {
		cameras     map[string]struct{}
		sightings   int
		first, last time.Time
	}
	found := map[string]*acc{}
	page := func(after string) ([]plate.Read, string, error) {
		return s.Passages(PassageQuery{Plate: q.Plate, From: q.From, To: q.To, After: after, Limit: 1000})
	}
	err := EachPage(page, func(t plate.Read) error {
		if res.Targets == maxTargets {
			res.Truncated = true
			return ErrStop
		}
		res.Targets++
		near := map[string]bool{} // plates already counted for this target passage
		return s.CameraSightings(t.CameraID, t.TS.Add(-q.Within), t.TS.Add(q.Within+time.Millisecond), func(sg Sighting) bool {
			if sg.Plate == q.Plate || near[sg.Plate] {
				return true
			}
			near[sg.Plate] = true
			a := found[sg.Plate]
			if a == nil {
				a = &acc{cameras: map[string]struct{}{}, first: sg.TS, last: sg.TS}
				found[sg.Plate] = a
			}
			a.cameras[t.CameraID] = struct{}{}
			a.sightings++
			if sg.TS.Before(a.first) {
				a.first = sg.TS
			}
			if sg.TS.After(a.last) {
				a.last = sg.TS
			}
			return true
		})
	})
	if err != nil {
		return CoTravel{}, fmt.Errorf("co-travel: %w", err)
	}
	minCams := max(q.MinCameras, 1)
	for p, a := range found {
		if len(a.cameras) < minCams {
			continue
		}
		ct := CoTraveller{Plate: p, Sightings: a.sightings, First: a.first, Last: a.last}
		for c := range a.cameras {
			ct.Cameras = append(ct.Cameras, c)
		}
		slices.Sort(ct.Cameras)
		res.Travellers = append(res.Travellers, ct)
	}
	slices.SortFunc(res.Travellers, func(a, b CoTraveller) int {
		return cmp.Or(cmp.Compare(len(b.Cameras), len(a.Cameras)), cmp.Compare(b.Sightings, a.Sightings), cmp.Compare(a.Plate, b.Plate))
	})
	return res, nil
}
