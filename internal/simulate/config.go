package simulate

import (
	"fmt"
	"os"

	"github.com/anpr/anpr/internal/config"
	"github.com/anpr/anpr/matcher"
)

// FromConfig returns the simulator settings for the network (cameras,
// sections) and the hotlist files of c, at rate reads per second.
func FromConfig(c *config.Config, rate float64) (Config, error) {
	sc := Config{Cameras: c.Cameras(), Rate: rate}
	for _, s := range c.Sections {
		sc.Sections = append(sc.Sections, Section{ID: s.ID, Entry: s.Entry, Exit: s.Exit, LengthM: s.LengthM, LimitKmh: s.LimitKmh})
	}
	for _, h := range c.Hotlists {
		if h.File == "" {
			continue
		}
		f, err := os.Open(h.File)
		if err != nil {
			return sc, err
		}
		entries, _, err := matcher.ReadCSV(f)
		f.Close()
		if err != nil {
			return sc, fmt.Errorf("hotlist %q: %w", h.File, err)
		}
		for _, e := range entries {
			sc.Listed = append(sc.Listed, e.Plate)
		}
	}
	return sc, nil
}
