package sectioncontrol

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/anpr/anpr/plate"
)

// Config is everything a Tracker needs. Zero values mean the documented
// defaults; New applies them to a copy and validates.
type Config struct {
	Sections []Section
	// Cameras is the camera registry: a section camera missing from it has
	// no certificate, so its pairs can never be violations (annulled).
	Cameras []plate.Camera
	// MaxPending caps the plate states (vehicles inside a section or reads
	// awaiting a decision) one Tracker holds; the oldest are evicted first.
	// Default 2,000,000.
	MaxPending int
	// RoutePolicy is RouteEach (default: every violation is issued) or
	// RouteHighest: of the violations of one traversal of a route, only the
	// highest excess over the limit is issued, the others are superseded
	// (see the package documentation, Routes).
	RoutePolicy string
}

// Route policies.
const (
	RouteEach    = "each"
	RouteHighest = "highest"
)

// Section is one section-control zone (SPEC §6).
type Section struct {
	ID          string
	Entry, Exit []string // camera ids; disjoint, each at least one
	LengthM     float64  // > 0
	LimitKmh    float64  // base limit, > 0
	// ClassLimits maps a vehicle class to its limit, applied only when both
	// reads of a pair carry that class.
	ClassLimits map[string]float64
	// Schedule are time-of-day limits in Location; outside every window the
	// base limit holds.
	Schedule        []Window
	MaxTravel       time.Duration  // default 2h
	Dedupe          time.Duration  // default 30s
	MaxLateness     time.Duration  // default 2m
	IdleFlush       time.Duration  // default 5s
	MaxPlausibleKmh float64        // default 250
	Location        *time.Location // of the schedule; default Europe/Brussels
	Tolerance       Tolerance      // default BE
	// Route names the route the section belongs to; empty: none. A
	// route's sections follow one another in configuration order. It
	// matters only under route_policy highest.
	Route string
}

// Window is a time-of-day limit: in force from From (inclusive) to To
// (exclusive), both offsets since local midnight; To ≤ From wraps past
// midnight (From == To: all day).
type Window struct {
	From, To time.Duration
	LimitKmh float64
}

// reason is the window's limit_reason, "schedule:06:00-19:00".
func (w Window) reason() string {
	hm := func(d time.Duration) string {
		return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return "schedule:" + hm(w.From) + "-" + hm(w.To)
}

// contains reports whether the local time of day tod is inside w.
func (w Window) contains(tod time.Duration) bool {
	if w.From < w.To {
		return w.From <= tod && tod < w.To
	}
	return tod >= w.From || tod < w.To
}

// Tolerance is the measurement margin rule: MarginKmh when the measured
// speed is ≤ PctAboveKmh, else MarginPct % of the measured speed.
type Tolerance struct {
	Name        string // "BE", "NL" or "custom"; written in the violation
	MarginKmh   float64
	MarginPct   float64
	PctAboveKmh float64
}

// The named tolerance rules of SPEC §6.
var (
	ToleranceBE = Tolerance{Name: "BE", MarginKmh: 6, MarginPct: 6, PctAboveKmh: 100}
	ToleranceNL = Tolerance{Name: "NL", MarginKmh: 3, MarginPct: 3, PctAboveKmh: 100}
)

// Margin returns the margin for a measured speed.
func (t Tolerance) Margin(measuredKmh float64) float64 {
	if measuredKmh <= t.PctAboveKmh {
		return t.MarginKmh
	}
	return measuredKmh * t.MarginPct / 100
}

// DefaultSection returns a Section with every defaulted field set to its
// default (max_travel 2h, dedupe 30s, max_lateness 2m, idle_flush 5s,
// max_plausible 250 km/h, tolerance BE, Europe/Brussels) and the others
// zero. Location is nil when the zone database lacks Europe/Brussels (New
// then reports the error); the binary imports time/tzdata. It is the one
// source of these defaults: the YAML layer takes them from here.
func DefaultSection() Section {
	s, _ := defaultSection()
	return s
}

func defaultSection() (Section, error) {
	loc, err := time.LoadLocation("Europe/Brussels")
	return Section{
		MaxTravel:       2 * time.Hour,
		Dedupe:          30 * time.Second,
		MaxLateness:     2 * time.Minute,
		IdleFlush:       5 * time.Second,
		MaxPlausibleKmh: 250,
		Location:        loc,
		Tolerance:       ToleranceBE,
	}, err
}

// WithDefaults returns a copy of c with the defaults applied, as New uses
// it: what a Tracker enforces, for a caller to show (a zero MaxTravel is the
// default 2h). An error reports a default that cannot be had (the zone).
func (c Config) WithDefaults() (Config, error) {
	c.Sections = slices.Clone(c.Sections)
	err := c.applyDefaults()
	return c, err
}

func (c *Config) applyDefaults() error {
	if c.MaxPending == 0 {
		c.MaxPending = 2_000_000
	}
	if c.RoutePolicy == "" {
		c.RoutePolicy = RouteEach
	}
	if len(c.Sections) == 0 {
		return nil
	}
	d, locErr := defaultSection()
	var errs []error
	for i := range c.Sections {
		s := &c.Sections[i]
		setDuration(&s.MaxTravel, d.MaxTravel)
		setDuration(&s.Dedupe, d.Dedupe)
		setDuration(&s.MaxLateness, d.MaxLateness)
		setDuration(&s.IdleFlush, d.IdleFlush)
		if s.MaxPlausibleKmh == 0 {
			s.MaxPlausibleKmh = d.MaxPlausibleKmh
		}
		if s.Tolerance == (Tolerance{}) {
			s.Tolerance = d.Tolerance
		}
		if s.Location == nil {
			if locErr != nil {
				errs = append(errs, fmt.Errorf("section %q: default timezone: %w", s.ID, locErr))
			}
			s.Location = d.Location
		}
	}
	return errors.Join(errs...)
}

// maxDuration bounds the section durations, so due times fit in 48 bits.
const maxDuration = 366 * 24 * time.Hour

func setDuration(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// Validate reports every problem of c at once. It expects defaults applied
// (New does that).
func (c *Config) Validate() error {
	var ps []string
	bad := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }
	if c.MaxPending < 1 {
		bad("max pending %d: want ≥ 1", c.MaxPending)
	}
	if c.RoutePolicy != RouteEach && c.RoutePolicy != RouteHighest {
		bad("route policy %q: want %q or %q", c.RoutePolicy, RouteEach, RouteHighest)
	}
	cams := map[string]bool{}
	ids := map[string]bool{}
	for i, s := range c.Sections {
		name := fmt.Sprintf("section %d %q", i, s.ID)
		if s.ID == "" {
			bad("%s: empty id", name)
		}
		if ids[s.ID] {
			bad("%s: duplicate id", name)
		}
		ids[s.ID] = true
		if len(s.Entry) == 0 || len(s.Exit) == 0 {
			bad("%s: needs entry and exit cameras", name)
		}
		for _, id := range append(slices.Clone(s.Entry), s.Exit...) {
			cams[id] = true
		}
		for _, e := range s.Entry {
			for _, x := range s.Exit {
				if e == x {
					bad("%s: camera %q is both entry and exit", name, e)
				}
			}
		}
		if !(s.LengthM > 0) {
			bad("%s: length %v m: want > 0", name, s.LengthM)
		}
		if !(s.LimitKmh > 0) {
			bad("%s: limit %v km/h: want > 0", name, s.LimitKmh)
		}
		for class, l := range s.ClassLimits {
			if !(l > 0) {
				bad("%s: class %q limit %v: want > 0", name, class, l)
			}
		}
		for j, w := range s.Schedule {
			if w.From < 0 || w.From >= 24*time.Hour || w.To < 0 || w.To > 24*time.Hour || w.From%time.Minute != 0 || w.To%time.Minute != 0 {
				bad("%s: schedule %d: from %v to %v: want whole minutes within a day", name, j, w.From, w.To)
			}
			if !(w.LimitKmh > 0) {
				bad("%s: schedule %d: limit %v: want > 0", name, j, w.LimitKmh)
			}
		}
		for _, d := range []struct {
			what string
			v    time.Duration
		}{{"max_travel", s.MaxTravel}, {"dedupe", s.Dedupe}, {"max_lateness", s.MaxLateness}, {"idle_flush", s.IdleFlush}} {
			if d.v < 0 || d.v > maxDuration {
				bad("%s: %s %v: want 0 to %v", name, d.what, d.v, maxDuration)
			}
		}
		if !(s.MaxPlausibleKmh > 0) {
			bad("%s: max plausible %v km/h: want > 0", name, s.MaxPlausibleKmh)
		}
		t := s.Tolerance
		if t.Name == "" || t.MarginKmh < 0 || t.MarginPct < 0 || t.MarginPct >= 100 || t.PctAboveKmh < 0 {
			bad("%s: tolerance %+v: want a name, margins ≥ 0, pct < 100", name, t)
		}
	}
	if len(c.Sections) > 1<<16 {
		bad("%d sections: at most 65536", len(c.Sections))
	}
	if len(cams) > 1<<16 {
		bad("%d section cameras: at most 65536", len(cams))
	}
	if ps != nil {
		return fmt.Errorf("invalid section control config: %s", strings.Join(ps, "; "))
	}
	return nil
}
