// Package simulate produces realistic camera traffic for a network: plate
// reads in the SPEC §3 format, with section-control passages whose exits
// follow their entries after length/speed, hotlist plates sprinkled in,
// OCR confusions, duplicates and foreign plates.
//
// A Generator is deterministic for a seed and the sequence of times passed to
// Next; Run paces one at a daily traffic rhythm and writes to Kafka.
package simulate

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/anpr/anpr/plate"
)

// Config describes the network and the traffic. Zero values mean the
// documented default; a negative share means none.
type Config struct {
	Cameras  []plate.Camera // required: every read is at one of these
	Sections []Section
	// Listed are normalized hotlist plates to sprinkle in.
	Listed []string
	// OCRClasses are the confusion classes OCR errors stay within; default
	// plate.DefaultOCRClasses.
	OCRClasses []string
	// Rate is the mean reads per second over a day (Run only).
	Rate float64
	// Flat makes Run pace at Rate all day instead of the daily rhythm.
	Flat bool
	// Shares of all events (a passage or a single read):
	ListedShare       float64 // a listed plate, read right; default 0.002
	OCRConfusionShare float64 // a listed plate with one OCR-confusable character swapped (8↔B, 0↔O…); default 0.01
	FuzzyShare        float64 // a listed plate one edit away (a character dropped, two swapped); default 0.005
	DuplicateShare    float64 // the last read sent twice, same read_id; default 0.01
	ForeignShare      float64 // NL, FR, DE, LU vehicles; default 0.15
	Seed              uint64
	Clock             func() time.Time // Run's clock; nil means time.Now
}

// Section is a section-control zone as the simulator needs it.
type Section struct {
	ID          string
	Entry, Exit []string // camera ids, one camera per lane
	LengthM     float64
	LimitKmh    float64
}

// Traffic constants that are not worth a knob.
const (
	population     = 1_000_000 // distinct vehicles
	straddleShare  = 0.02      // a gantry read by two adjacent lane cameras
	missedExit     = 0.01      // the exit gantry does not read the plate
	continueRoute  = 0.85      // at a gantry that enters another section, the vehicle goes on
	unknownCountry = 0.02      // the camera cannot tell the country
	unknownClass   = 0.02      // the camera cannot tell the class
	maxPending     = 1 << 20   // passages in flight; beyond, exits are dropped
)

// Generator makes reads. It is not safe for concurrent use.
type Generator struct {
	cfg        Config
	rng        *rand.Rand
	cams       []plate.Camera
	gantry     map[string]int   // camera id → the first section it is a gantry of
	entryOf    map[string][]int // camera id → sections it is an entry of
	confusable []string         // listed plates with a confusable character
	swaps      [256][]byte      // character → the others of its OCR class
	pending    passages
	seq        uint64
}

// NewGenerator checks cfg and returns a generator. It starts nothing.
func NewGenerator(cfg Config) (*Generator, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Generator{
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x616e7072)),
		cams:    cfg.Cameras,
		gantry:  map[string]int{},
		entryOf: map[string][]int{},
	}
	// An event at any camera of a section's gantries is a vehicle entering
	// that section; its exit read follows when due.
	for i, s := range cfg.Sections {
		for _, id := range s.Entry {
			g.entryOf[id] = append(g.entryOf[id], i)
		}
		for _, id := range slices.Concat(s.Entry, s.Exit) {
			if _, ok := g.gantry[id]; !ok {
				g.gantry[id] = i
			}
		}
	}
	for _, class := range cfg.OCRClasses {
		for i := 0; i < len(class); i++ {
			for j := 0; j < len(class); j++ {
				if i != j {
					g.swaps[class[i]] = append(g.swaps[class[i]], class[j])
				}
			}
		}
	}
	for _, p := range cfg.Listed {
		for i := 0; i < len(p); i++ {
			if len(g.swaps[p[i]]) > 0 {
				g.confusable = append(g.confusable, p)
				break
			}
		}
	}
	return g, nil
}

func (c *Config) applyDefaults() {
	share := func(s *float64, def float64) {
		switch {
		case *s == 0:
			*s = def
		case *s < 0:
			*s = 0
		}
	}
	share(&c.ListedShare, 0.002)
	share(&c.OCRConfusionShare, 0.01)
	share(&c.FuzzyShare, 0.005)
	share(&c.DuplicateShare, 0.01)
	share(&c.ForeignShare, 0.15)
	if c.OCRClasses == nil {
		c.OCRClasses = plate.DefaultOCRClasses
	}
}

// Validate reports every problem of c at once.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Cameras) == 0 {
		errs = append(errs, errors.New("no cameras"))
	}
	known := make(map[string]bool, len(c.Cameras))
	for _, cam := range c.Cameras {
		known[cam.ID] = true
	}
	for _, s := range c.Sections {
		if len(s.Entry) == 0 || len(s.Exit) == 0 {
			errs = append(errs, fmt.Errorf("section %q: needs entry and exit cameras", s.ID))
		}
		for _, id := range slices.Concat(s.Entry, s.Exit) {
			if !known[id] {
				errs = append(errs, fmt.Errorf("section %q: camera %q is not in Cameras", s.ID, id))
			}
		}
		if !(s.LengthM > 0) || !(s.LimitKmh > 0) {
			errs = append(errs, fmt.Errorf("section %q: length and limit must be > 0", s.ID))
		}
	}
	for _, p := range c.Listed {
		if n, ok := plate.Normalize(p); !ok || n != p {
			errs = append(errs, fmt.Errorf("listed plate %q is not normalized", p))
		}
	}
	if _, err := plate.NewOCRTable(c.OCRClasses); err != nil {
		errs = append(errs, err)
	}
	for _, s := range []struct {
		name string
		v    float64
	}{{"ListedShare", c.ListedShare}, {"OCRConfusionShare", c.OCRConfusionShare}, {"FuzzyShare", c.FuzzyShare},
		{"DuplicateShare", c.DuplicateShare}, {"ForeignShare", c.ForeignShare}} {
		if s.v > 1 || math.IsNaN(s.v) {
			errs = append(errs, fmt.Errorf("%s %v is above 1", s.name, s.v))
		}
	}
	if c.ListedShare+c.OCRConfusionShare+c.FuzzyShare > 1 {
		errs = append(errs, errors.New("ListedShare + OCRConfusionShare + FuzzyShare is above 1"))
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		errs = append(errs, fmt.Errorf("rate %v is not a positive number", c.Rate))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("simulate config: %w", err)
	}
	return nil
}

// Next returns the reads of one event at time now, after the exits of
// passages that fell due by now: usually one read; two for a duplicate
// or when a gantry's adjacent lane cameras both read the plate; more when
// exits are due. Reads are stamped a little before now (capture to send).
func (g *Generator) Next(now time.Time) []plate.Read {
	var out []plate.Read
	for len(g.pending) > 0 && !g.pending[0].due.After(now) {
		p := heap.Pop(&g.pending).(passage)
		out = g.exit(out, p)
	}
	v := g.vehicle()
	cam := g.rng.IntN(len(g.cams))
	ts := now.Add(-time.Duration(50+g.rng.IntN(400)) * time.Millisecond)
	if s, ok := g.gantry[g.cams[cam].ID]; ok {
		out = g.enter(out, s, v, ts)
	} else {
		out = append(out, g.read(g.cams[cam].ID, v, ts, 1+g.rng.IntN(3)))
	}
	if g.rng.Float64() < g.cfg.DuplicateShare {
		out = append(out, out[len(out)-1])
	}
	return out
}

// Pending returns the number of passages whose exit is still to come.
func (g *Generator) Pending() int { return len(g.pending) }

// vehicle draws who passes: a listed plate, a misread listed plate, or one
// of the population.
func (g *Generator) vehicle() vehicle {
	r := g.rng.Float64()
	switch {
	case r < g.cfg.ListedShare && len(g.cfg.Listed) > 0:
		return listedVehicle(g.cfg.Listed[g.rng.IntN(len(g.cfg.Listed))])
	case r < g.cfg.ListedShare+g.cfg.OCRConfusionShare && len(g.confusable) > 0:
		return g.misread(listedVehicle(g.confusable[g.rng.IntN(len(g.confusable))]))
	case r < g.cfg.ListedShare+g.cfg.OCRConfusionShare+g.cfg.FuzzyShare && len(g.cfg.Listed) > 0:
		return g.garble(listedVehicle(g.cfg.Listed[g.rng.IntN(len(g.cfg.Listed))]))
	}
	return makeVehicle(splitmix64(g.cfg.Seed^splitmix64(g.rng.Uint64N(population))), g.cfg.ForeignShare)
}

// misread swaps one OCR-confusable character of v's plate for another of
// its class, in both the printed and the normalized form.
func (g *Generator) misread(v vehicle) vehicle {
	norm := []byte(v.norm)
	var at []int
	for i, c := range norm {
		if len(g.swaps[c]) > 0 {
			at = append(at, i)
		}
	}
	i := at[g.rng.IntN(len(at))]
	alts := g.swaps[norm[i]]
	norm[i] = alts[g.rng.IntN(len(alts))]
	display := []byte(v.display)
	j := 0
	for k, c := range display {
		if c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			display[k] = norm[j]
			j++
		}
	}
	v.norm, v.display, v.misread = string(norm), string(display), true
	return v
}

// garble makes v's plate one edit away, as a dirty or bent plate reads: a
// character dropped (plates of 3+ characters) or two adjacent different
// characters swapped. The plate is then shown normalized.
func (g *Generator) garble(v vehicle) vehicle {
	norm := []byte(v.norm)
	var swaps []int
	for i := 0; i+1 < len(norm); i++ {
		if norm[i] != norm[i+1] {
			swaps = append(swaps, i)
		}
	}
	if len(norm) > 2 && (len(swaps) == 0 || g.rng.IntN(2) == 0) {
		i := g.rng.IntN(len(norm))
		norm = append(norm[:i], norm[i+1:]...)
	} else if len(swaps) > 0 {
		i := swaps[g.rng.IntN(len(swaps))]
		norm[i], norm[i+1] = norm[i+1], norm[i]
	}
	v.norm, v.display, v.misread = string(norm), string(norm), true
	return v
}

// passage is a vehicle between the gantries of a section.
type passage struct {
	due     time.Time
	seq     uint64 // ties: first scheduled, first out
	section int
	lane    int // entry lane index
	speed   float64
	v       vehicle
}

type passages []passage

func (p passages) Len() int { return len(p) }
func (p passages) Less(i, j int) bool {
	if !p[i].due.Equal(p[j].due) {
		return p[i].due.Before(p[j].due)
	}
	return p[i].seq < p[j].seq
}
func (p passages) Swap(i, j int) { p[i], p[j] = p[j], p[i] }
func (p *passages) Push(x any)   { *p = append(*p, x.(passage)) }
func (p *passages) Pop() any {
	old := *p
	x := old[len(old)-1]
	*p = old[:len(old)-1]
	return x
}

// enter reads v at the entry gantry of section s and schedules its exit.
func (g *Generator) enter(out []plate.Read, s int, v vehicle, ts time.Time) []plate.Read {
	sec := g.cfg.Sections[s]
	lane := g.rng.IntN(len(sec.Entry))
	out = g.gantryReads(out, sec.Entry, lane, v, ts)
	g.schedule(s, lane, g.speed(sec.LimitKmh, v.class), v, ts)
	return out
}

func (g *Generator) schedule(s, lane int, speed float64, v vehicle, from time.Time) {
	if len(g.pending) >= maxPending {
		return
	}
	travel := time.Duration(g.cfg.Sections[s].LengthM / (speed / 3.6) * float64(time.Second)).Round(time.Millisecond)
	g.seq++
	heap.Push(&g.pending, passage{due: from.Add(travel), seq: g.seq, section: s, lane: lane, speed: speed, v: v})
}

// exit reads a passage at its exit gantry, mostly in the same lane, and may
// send the vehicle on into the next section of a route.
func (g *Generator) exit(out []plate.Read, p passage) []plate.Read {
	if g.rng.Float64() < missedExit {
		return out
	}
	sec := g.cfg.Sections[p.section]
	lane := min(p.lane, len(sec.Exit)-1)
	if g.rng.Float64() < 0.3 {
		lane = g.rng.IntN(len(sec.Exit))
	}
	out = g.gantryReads(out, sec.Exit, lane, p.v, p.due)
	if next := g.entryOf[sec.Exit[lane]]; len(next) > 0 && g.rng.Float64() < continueRoute {
		speed := p.speed * (1 + 0.03*g.rng.NormFloat64())
		g.schedule(next[0], min(lane, len(g.cfg.Sections[next[0]].Entry)-1), speed, p.v, p.due)
	}
	return out
}

// gantryReads reads v at lane camera cams[lane]; now and then the camera of
// the adjacent lane reads it too, a few milliseconds apart.
func (g *Generator) gantryReads(out []plate.Read, cams []string, lane int, v vehicle, ts time.Time) []plate.Read {
	out = append(out, g.read(cams[lane], v, ts, lane+1))
	if len(cams) > 1 && g.rng.Float64() < straddleShare {
		other := lane + 1
		if other == len(cams) {
			other = lane - 1
		}
		out = append(out, g.read(cams[other], v, ts.Add(time.Duration(g.rng.IntN(40))*time.Millisecond), other+1))
	}
	return out
}

// speed draws a passage speed at a limit: most drivers a little under it,
// 3 % clearly above, 2 % in a jam; trucks and buses held by their limiters.
func (g *Generator) speed(limit float64, class string) float64 {
	var v float64
	switch r := g.rng.Float64(); {
	case r < 0.03:
		v = limit + 10 + g.rng.ExpFloat64()*12
	case r < 0.05:
		v = limit * (0.15 + 0.35*g.rng.Float64())
	default:
		for v = 0; v < limit*0.5 || v > limit+10; {
			v = limit*0.94 + g.rng.NormFloat64()*limit*0.06
		}
	}
	switch class {
	case plate.ClassTruck:
		v = min(v, 84+3*g.rng.NormFloat64(), 92)
	case plate.ClassBus:
		v = min(v, 96+3*g.rng.NormFloat64(), 102)
	}
	return max(min(v, 240), 5)
}

// read builds one read of v by camera at ts. Reads of a listed plate with a
// confused character come with a lower confidence, as real misreads do.
func (g *Generator) read(camera string, v vehicle, ts time.Time, lane int) plate.Read {
	g.seq++
	ts = ts.UTC().Truncate(time.Millisecond)
	// One buffer for both: "CAM/20261122T070000.123Z/7" and
	// "s3://anpr/2026/11/22/CAM/20261122T070000.123Z-7.jpg".
	var buf [256]byte
	b := append(buf[:0], camera...)
	b = append(b, '/')
	b = ts.AppendFormat(b, "20060102T150405.000Z")
	stampEnd := len(b)
	b = append(b, '/')
	b = strconv.AppendUint(b, g.seq, 10)
	readID := string(b)
	b = append(b[:0], "s3://anpr/"...)
	b = ts.AppendFormat(b, "2006/01/02/")
	b = append(b, readID[:stampEnd]...)
	b = append(b, '-')
	b = append(b, readID[stampEnd+1:]...)
	b = append(b, ".jpg"...)
	r := plate.Read{
		ReadID:       readID,
		CameraID:     camera,
		TS:           ts,
		Plate:        v.display,
		PlateNorm:    v.norm,
		Country:      v.country,
		Confidence:   g.confidence(v.misread),
		Lane:         lane,
		VehicleClass: v.class,
		ImageRef:     string(b),
	}
	if g.rng.Float64() < unknownCountry {
		r.Country = ""
	}
	if g.rng.Float64() < unknownClass {
		r.VehicleClass = plate.ClassUnknown
	}
	return r
}

// confidence is mostly high, 0.60..0.99; misreads get 0.60..0.85.
func (g *Generator) confidence(misread bool) float64 {
	c := 0.99 - 0.39*math.Pow(g.rng.Float64(), 2)
	if misread {
		c = 0.60 + 0.25*g.rng.Float64()
	}
	return math.Round(c*100) / 100
}
