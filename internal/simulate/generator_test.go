package simulate

import (
	"encoding/csv"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anpr/anpr/internal/config"
	"github.com/anpr/anpr/plate"
)

// network returns the sample network of testdata/ and the plates of its
// stolen list.
func network(t testing.TB) Config {
	t.Helper()
	c, err := config.Load("../../testdata/anpr.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Cameras: c.Cameras(), Seed: 1}
	for _, s := range c.Sections {
		cfg.Sections = append(cfg.Sections, Section{ID: s.ID, Entry: s.Entry, Exit: s.Exit, LengthM: s.LengthM, LimitKmh: s.LimitKmh})
	}
	f, err := os.Open(c.Hotlists[0].File)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows[1:] {
		cfg.Listed = append(cfg.Listed, row[1])
	}
	return cfg
}

var start = time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)

// generate runs n events, one every step.
func generate(t testing.TB, cfg Config, n int, step time.Duration) []plate.Read {
	t.Helper()
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var reads []plate.Read
	for i := range n {
		reads = append(reads, g.Next(start.Add(time.Duration(i)*step))...)
	}
	return reads
}

func TestDeterministic(t *testing.T) {
	cfg := network(t)
	a := generate(t, cfg, 10000, 50*time.Millisecond)
	b := generate(t, cfg, 10000, 50*time.Millisecond)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two generators with the same seed made different reads")
	}
	cfg.Seed = 2
	c := generate(t, cfg, 100, 50*time.Millisecond)
	if reflect.DeepEqual(a[:100], c[:100]) {
		t.Error("seeds 1 and 2 made the same reads")
	}
}

// TestReadsValid checks every read against the SPEC §3 rules.
func TestReadsValid(t *testing.T) {
	cfg := network(t)
	cams := map[string]bool{}
	for _, c := range cfg.Cameras {
		cams[c.ID] = true
	}
	classes := map[string]bool{plate.ClassCar: true, plate.ClassVan: true, plate.ClassTruck: true,
		plate.ClassBus: true, plate.ClassMotorcycle: true, plate.ClassUnknown: true}
	countries := map[string]bool{"": true, "BE": true, "NL": true, "FR": true, "DE": true, "LU": true}
	seen := map[string]plate.Read{}
	for _, r := range generate(t, cfg, 50000, 20*time.Millisecond) {
		norm, ok := plate.Normalize(r.Plate)
		switch {
		case !ok || norm != r.PlateNorm:
			t.Errorf("%s: Normalize(%q) = %q, %v; PlateNorm %q", r.ReadID, r.Plate, norm, ok, r.PlateNorm)
		case !cams[r.CameraID]:
			t.Errorf("%s: unknown camera", r.ReadID)
		case len(r.ReadID) > 128 || !strings.HasPrefix(r.ReadID, r.CameraID+"/"+r.TS.Format("20060102T150405.000Z")+"/"):
			t.Errorf("read id %q: want camera/time/seq", r.ReadID)
		case r.Confidence < 0.6 || r.Confidence > 0.99:
			t.Errorf("%s: confidence %v, want 0.6..0.99", r.ReadID, r.Confidence)
		case r.Lane < 1 || r.Lane > 3:
			t.Errorf("%s: lane %d, want 1..3", r.ReadID, r.Lane)
		case !classes[r.VehicleClass] || !countries[r.Country]:
			t.Errorf("%s: class %q country %q", r.ReadID, r.VehicleClass, r.Country)
		case !strings.HasPrefix(r.ImageRef, "s3://anpr/"+r.TS.Format("2006/01/02")+"/") || len(r.ImageRef) > 512:
			t.Errorf("%s: image_ref %q", r.ReadID, r.ImageRef)
		case r.TS.Location() != time.UTC || r.TS.Nanosecond()%int(time.Millisecond) != 0:
			t.Errorf("%s: ts %v, want UTC milliseconds", r.ReadID, r.TS)
		}
		if prev, dup := seen[r.ReadID]; dup && prev != r {
			t.Errorf("read id %s reused for a different read", r.ReadID)
		}
		seen[r.ReadID] = r
		if t.Failed() {
			t.FailNow()
		}
	}
}

// TestShares measures the shares over 100 000 events on cameras outside
// sections, where an event is one read (two for a duplicate).
func TestShares(t *testing.T) {
	cfg := network(t)
	cfg.Sections = nil
	listed := map[string]bool{}
	canon := map[string]bool{}
	for _, p := range cfg.Listed {
		listed[p] = true
		canon[plate.DefaultOCRTable.Canonical(p)] = true
	}
	reads := generate(t, cfg, 100000, 10*time.Millisecond)

	counts := map[string]float64{}
	events := 0.0
	for i, r := range reads {
		if i > 0 && r == reads[i-1] {
			counts["duplicate"]++
			continue
		}
		events++
		switch {
		case listed[r.PlateNorm]:
			counts["listed"]++
		case canon[plate.DefaultOCRTable.Canonical(r.PlateNorm)]:
			counts["confused"]++
			if r.Confidence > 0.85 {
				t.Errorf("misread %s has confidence %v, want ≤ 0.85", r.ReadID, r.Confidence)
			}
		case slices.ContainsFunc(cfg.Listed, func(p string) bool { return oneEdit(p, r.PlateNorm) }):
			counts["fuzzy"]++
		}
		if r.Country != "" && r.Country != "BE" {
			counts["foreign"]++
		}
		counts["country:"+r.Country]++
		counts[r.VehicleClass]++
	}
	tests := []struct {
		what      string
		want, tol float64
	}{
		{"listed", 0.002, 0.0006},
		{"confused", 0.01, 0.0015},
		{"fuzzy", 0.005, 0.0012},
		{"duplicate", 0.01, 0.0015},
		{"foreign", 0.15 * 0.98, 0.01},
		{"country:", 0.02, 0.003},
		{"country:NL", 0.15 * 0.45 * 0.98, 0.006},
		{plate.ClassCar, 0.80 * 0.98, 0.01},
		{plate.ClassVan, 0.10 * 0.98, 0.006},
		{plate.ClassTruck, 0.08 * 0.98, 0.006},
		{plate.ClassBus, 0.01 * 0.98, 0.002},
		{plate.ClassMotorcycle, 0.01 * 0.98, 0.002},
		{plate.ClassUnknown, 0.02, 0.003},
	}
	for _, tt := range tests {
		if got := counts[tt.what] / events; math.Abs(got-tt.want) > tt.tol {
			t.Errorf("share %s = %.4f, want %.4f ± %.4f", tt.what, got, tt.want, tt.tol)
		}
	}
}

// oneEdit reports whether b is a with one character dropped or two adjacent
// characters swapped.
func oneEdit(a, b string) bool {
	if len(b) == len(a)-1 {
		for i := range a {
			if a[:i]+a[i+1:] == b {
				return true
			}
		}
	}
	if len(b) == len(a) {
		for i := 0; i+1 < len(a); i++ {
			if a[i] != a[i+1] && a[:i]+string(a[i+1])+string(a[i])+a[i+2:] == b {
				return true
			}
		}
	}
	return false
}

// TestPassages follows vehicles through the sections: every exit comes after
// an entry of the same plate at that section, at a plausible speed, the
// speeds look like motorway traffic, and vehicles go on along a route.
func TestPassages(t *testing.T) {
	cfg := network(t)
	entryOf := map[string]int{}
	exitOf := map[string]int{}
	for i, s := range cfg.Sections {
		for _, c := range s.Entry {
			entryOf[c] = i
		}
		for _, c := range s.Exit {
			exitOf[c] = i
		}
	}
	type key struct {
		section int
		plate   string
	}
	const n, step = 100000, 20 * time.Millisecond
	reads := generate(t, cfg, n, step)
	entries := map[key]time.Time{}
	var exits, paired, fast, usual, entriesN, implausible int
	for _, r := range reads {
		// A camera may be the exit of one section and the entry of the next.
		if s, ok := exitOf[r.CameraID]; ok {
			exits++
			in, ok := entries[key{s, r.PlateNorm}]
			_, next := entryOf[r.CameraID]
			switch d := r.TS.Sub(in); {
			case !ok && next: // entered the next section from the on-ramp
			case !ok:
				t.Fatalf("exit %s: no entry of %s before it", r.ReadID, cfg.Sections[s].ID)
			case d < 0:
				t.Fatalf("exit %s at %v before its entry at %v", r.ReadID, r.TS, in)
			case d < 100*time.Millisecond: // the adjacent lane read it too
			default:
				kmh := cfg.Sections[s].LengthM / d.Seconds() * 3.6
				limit := cfg.Sections[s].LimitKmh
				paired++
				if kmh < 5 || kmh > 241 {
					implausible++ // two passages of one plate overlapping
				}
				if kmh > limit+10 {
					fast++
				}
				if kmh >= limit-20 && kmh <= limit+5 {
					usual++
				}
			}
		}
		if s, ok := entryOf[r.CameraID]; ok {
			k := key{s, r.PlateNorm}
			if in, ok := entries[k]; !ok || r.TS.Sub(in) > time.Second { // the earliest of a straddle
				entries[k] = r.TS
				entriesN++
			}
		}
	}
	if paired < 10000 {
		t.Fatalf("paired passages = %d, want ≥ 10000", paired)
	}
	if implausible > paired/1000 {
		t.Errorf("implausible speeds = %d of %d passages, want ≤ 0.1 %%", implausible, paired)
	}
	if got := float64(fast) / float64(paired); got < 0.02 || got > 0.04 {
		t.Errorf("share more than 10 km/h above the limit = %.3f, want about 0.03", got)
	}
	if got := float64(usual) / float64(paired); got < 0.75 {
		t.Errorf("share within limit-20..limit+5 = %.3f, want ≥ 0.75", got)
	}
	t.Logf("entries %d, exits %d, paired %d, fast %d", entriesN, exits, paired, fast)
	checkRoute(t, reads, start.Add(n*step))
}

// checkRoute checks route E40-W (E40-W-01 then E40-W-02): a plate read at
// Ternat (CAM-E40-10x) shows up at Aalst (CAM-E40-30x) some 6 minutes later,
// unless the exit gantry missed it (1 %) or the vehicle left at Affligem (15 %).
func checkRoute(t *testing.T, reads []plate.Read, end time.Time) {
	t.Helper()
	ternat := map[string]time.Time{}
	aalst := map[string]bool{}
	for _, r := range reads {
		switch r.CameraID[:len("CAM-E40-1")] {
		case "CAM-E40-1":
			ternat[r.PlateNorm] = r.TS
		case "CAM-E40-3":
			aalst[r.PlateNorm] = true
		}
	}
	through, entered := 0, 0
	for p, ts := range ternat {
		if ts.Before(end.Add(-15 * time.Minute)) {
			entered++
			if aalst[p] {
				through++
			}
		}
	}
	if got := float64(through) / float64(entered); got < 0.8 || got > 0.87 {
		t.Errorf("vehicles through both E40-W sections = %d of %d, want about 84 %%", through, entered)
	}
}

func TestNewGeneratorErrors(t *testing.T) {
	cams := []plate.Camera{{ID: "A"}, {ID: "B"}}
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"no cameras", Config{}, []string{"no cameras"}},
		{"sections", Config{Cameras: cams, Sections: []Section{{ID: "S", Entry: []string{"A"}, Exit: []string{"X"}}}},
			[]string{`camera "X" is not in Cameras`, "length and limit"}},
		{"listed", Config{Cameras: cams, Listed: []string{"1-ABC-234"}}, []string{`"1-ABC-234" is not normalized`}},
		{"shares", Config{Cameras: cams, ListedShare: 0.6, OCRConfusionShare: 0.6, DuplicateShare: 2, Rate: -1},
			[]string{"DuplicateShare 2 is above 1", "ListedShare + OCRConfusionShare", "rate -1"}},
	}
	for _, tt := range tests {
		_, err := NewGenerator(tt.cfg)
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: NewGenerator error = %v, want it to mention %q", tt.name, err, w)
			}
		}
	}
}

func TestDailyFactor(t *testing.T) {
	brussels, err := time.LoadLocation("Europe/Brussels")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, brussels)
	var sum float64
	const steps = 24 * 60
	for m := range steps {
		sum += dailyFactor(day.Add(time.Duration(m) * time.Minute))
	}
	if mean := sum / steps; math.Abs(mean-1) > 0.01 {
		t.Errorf("daily mean factor = %.3f, want 1", mean)
	}
	tests := []struct {
		hour     int
		min, max float64
	}{{3, 0.1, 0.2}, {8, 1.5, 1.8}, {17, 1.4, 1.7}, {12, 1.2, 1.5}}
	for _, tt := range tests {
		if got := dailyFactor(day.Add(time.Duration(tt.hour) * time.Hour)); got < tt.min || got > tt.max {
			t.Errorf("dailyFactor(%02d:00) = %.2f, want %.2f..%.2f", tt.hour, got, tt.min, tt.max)
		}
	}
}

// BenchmarkNext measures the generator alone on the sample network.
//
//	go test -run XXX -bench Next -benchtime 1s ./internal/simulate
func BenchmarkNext(b *testing.B) {
	g, err := NewGenerator(network(b))
	if err != nil {
		b.Fatal(err)
	}
	now := start
	reads := 0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		reads += len(g.Next(now))
	}
	b.ReportMetric(float64(reads)/b.Elapsed().Seconds(), "reads/s")
}

func TestPlates(t *testing.T) {
	cfg := network(t)
	cfg.ListedShare, cfg.OCRConfusionShare, cfg.FuzzyShare = -1, -1, -1
	ps := Plates(cfg, 50_000)
	if len(ps) != 50_000 {
		t.Fatalf("got %d plates, want 50000", len(ps))
	}
	listed := make(map[string]bool, len(ps))
	for _, p := range ps {
		if n, ok := plate.Normalize(p); !ok || n != p {
			t.Fatalf("plate %q is not normalized (%q, %v)", p, n, ok)
		}
		if listed[p] {
			t.Fatalf("plate %q repeats", p)
		}
		listed[p] = true
	}
	if again := Plates(cfg, 10); !slices.Equal(again, ps[:10]) {
		t.Errorf("Plates is not deterministic: %v, then %v", ps[:10], again)
	}
	// Traffic without listed reads never carries one of the plates.
	for _, r := range generate(t, cfg, 100_000, 10*time.Millisecond) {
		if listed[r.PlateNorm] {
			t.Fatalf("read %s carries generated plate %s", r.ReadID, r.PlateNorm)
		}
	}
}
