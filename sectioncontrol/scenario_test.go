package sectioncontrol

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anpr/anpr/plate"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of the scenario files in testdata/")

// TestScenarios runs the data-driven scenarios in testdata/: one file per
// rule. A file is a series of blocks: a command line, input lines, "----",
// the expected output and a blank line. Regenerate the expected output with
//
//	go test ./sectioncontrol/ -run TestScenarios -rewrite
//
// and review the diff. Commands:
//
//	config                 input: "section ID key=value...", "camera ID cert=C until=TIME",
//	                       "max_pending N" and "route_policy P" lines
//	observe [by=DURATION] [json]
//	                       input: "TIME CAMERA PLATE [class] [country=CC] [id=READ_ID]" lines,
//	                       observed as one batch, then advance
//	advance [by=DURATION] [json]
//	                       moves the processing clock (default 0), calls Advance and prints
//	                       the decisions and the pending count
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScenario(t, f) })
	}
}

type scenario struct {
	tr    *Tracker
	now   time.Time
	next  int64                // the next read's offset
	reads map[int64]plate.Read // by offset: the engine's store
}

// fill completes a read of a Violation from the store, as the engine does.
func (sc *scenario) fill(r *plate.Read, offset int64) {
	st := sc.reads[offset]
	r.ReadID, r.Plate, r.ImageRef, r.Confidence, r.Lane = st.ReadID, st.Plate, st.ImageRef, st.Confidence, st.Lane
}

func runScenario(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := &scenario{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	var out strings.Builder
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			out.WriteString(l + "\n")
			i++
			continue
		}
		start := i
		cmd := l
		var input []string
		for i++; i < len(lines) && lines[i] != "----"; i++ {
			input = append(input, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("%s:%d: block without ----", path, start+1)
		}
		i++
		var want []string
		for ; i < len(lines) && lines[i] != ""; i++ {
			want = append(want, lines[i])
		}
		got, err := sc.run(cmd, input)
		if err != nil {
			t.Fatalf("%s:%d: %s: %v", path, start+1, cmd, err)
		}
		out.WriteString(cmd + "\n")
		for _, in := range input {
			out.WriteString(in + "\n")
		}
		out.WriteString("----\n")
		for _, g := range got {
			out.WriteString(g + "\n")
		}
		if !*rewrite && strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:%d: %s:\ngot:\n%s\nwant:\n%s", path, start+1, cmd, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (sc *scenario) run(cmd string, input []string) ([]string, error) {
	args := strings.Fields(cmd)
	switch args[0] {
	case "config":
		cfg, err := parseConfig(input)
		if err != nil {
			return nil, err
		}
		sc.reads, sc.next = map[int64]plate.Read{}, 0
		if sc.tr, err = New(cfg, nil); err != nil {
			return nil, err
		}
		return nil, nil
	case "observe":
		for _, in := range input {
			r, err := parseRead(in)
			if err != nil {
				return nil, err
			}
			sc.reads[sc.next] = *r
			sc.tr.Observe(r, sc.next)
			sc.next++
		}
		fallthrough // a partition worker advances after every batch
	case "advance":
		asJSON := false
		for _, a := range args[1:] {
			switch k, v, _ := strings.Cut(a, "="); k {
			case "by":
				d, err := time.ParseDuration(v)
				if err != nil {
					return nil, err
				}
				sc.now = sc.now.Add(d)
			case "json":
				asJSON = true
			default:
				return nil, fmt.Errorf("unknown argument %q", a)
			}
		}
		var got []string
		for _, d := range sc.tr.Advance(sc.now) {
			if v := d.Violation; v != nil {
				// As the engine does: the rest of the evidence from the store.
				sc.fill(&v.Entry, v.EntryOffset)
				sc.fill(&v.Exit, v.ExitOffset)
			}
			got = append(got, formatDecision(&d, asJSON))
		}
		return append(got, fmt.Sprintf("pending %d", sc.tr.Pending())), nil
	}
	return nil, fmt.Errorf("unknown command %q", args[0])
}

func formatDecision(d *Decision, asJSON bool) string {
	if asJSON && d.Violation != nil {
		return string(d.Violation.AppendJSON(nil))
	}
	s := fmt.Sprintf("%s %s %s %s", d.At.Format(plate.TimeFormat), d.SectionID, d.Plate, d.Outcome)
	if d.MeasuredKmh != 0 {
		s += fmt.Sprintf(" measured=%.2f", d.MeasuredKmh)
	}
	if d.Why != "" {
		s += " why=" + d.Why
	}
	if v := d.Violation; v != nil {
		s += fmt.Sprintf(" corrected=%v limit=%v reason=%s entry=%s exit=%s", v.CorrectedKmh, v.LimitKmh, v.LimitReason, v.Entry.ReadID, v.Exit.ReadID)
	}
	return s
}

func parseConfig(lines []string) (Config, error) {
	var cfg Config
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 2 {
			return cfg, fmt.Errorf("bad config line %q", l)
		}
		kv := map[string]string{}
		for _, a := range f[2:] {
			k, v, _ := strings.Cut(a, "=")
			kv[k] = v
		}
		switch f[0] {
		case "camera":
			c := plate.Camera{ID: f[1], Certificate: plate.Certificate{ID: kv["cert"]}}
			if u := kv["until"]; u != "" {
				ts, err := time.Parse(time.RFC3339, u)
				if err != nil {
					return cfg, err
				}
				c.Certificate.ValidUntil = ts
			}
			cfg.Cameras = append(cfg.Cameras, c)
		case "section":
			s, err := parseSection(f[1], kv)
			if err != nil {
				return cfg, fmt.Errorf("section %s: %w", f[1], err)
			}
			cfg.Sections = append(cfg.Sections, s)
		case "route_policy":
			cfg.RoutePolicy = f[1]
		case "max_pending":
			n, err := strconv.Atoi(f[1])
			if err != nil {
				return cfg, err
			}
			cfg.MaxPending = n
		default:
			return cfg, fmt.Errorf("bad config line %q", l)
		}
	}
	return cfg, nil
}

func parseSection(id string, kv map[string]string) (Section, error) {
	s := Section{ID: id, Entry: strings.Split(kv["entry"], ","), Exit: strings.Split(kv["exit"], ","), Route: kv["route"]}
	var err error
	num := func(k string) float64 {
		if kv[k] == "" || err != nil {
			return 0
		}
		var f float64
		f, err = strconv.ParseFloat(kv[k], 64)
		return f
	}
	dur := func(k string) time.Duration {
		if kv[k] == "" || err != nil {
			return 0
		}
		var d time.Duration
		d, err = time.ParseDuration(kv[k])
		return d
	}
	s.LengthM, s.LimitKmh, s.MaxPlausibleKmh = num("length"), num("limit"), num("plausible")
	s.MaxTravel, s.Dedupe, s.MaxLateness, s.IdleFlush = dur("max_travel"), dur("dedupe"), dur("lateness"), dur("idle")
	if c := kv["class"]; c != "" {
		s.ClassLimits = map[string]float64{}
		for _, p := range strings.Split(c, ",") {
			name, l, _ := strings.Cut(p, ":")
			if s.ClassLimits[name], err = strconv.ParseFloat(l, 64); err != nil {
				return s, err
			}
		}
	}
	if sch := kv["schedule"]; sch != "" { // 06:00-19:00:100,22:00-06:00:90
		for _, p := range strings.Split(sch, ",") {
			var fh, fm, th, tm int
			var l float64
			if _, err := fmt.Sscanf(p, "%d:%d-%d:%d:%g", &fh, &fm, &th, &tm, &l); err != nil {
				return s, fmt.Errorf("schedule %q: %w", p, err)
			}
			hm := func(h, m int) time.Duration { return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute }
			s.Schedule = append(s.Schedule, Window{From: hm(fh, fm), To: hm(th, tm), LimitKmh: l})
		}
	}
	if tz := kv["tz"]; tz != "" {
		if s.Location, err = time.LoadLocation(tz); err != nil {
			return s, err
		}
	}
	switch tol := kv["tolerance"]; tol {
	case "", "BE":
	case "NL":
		s.Tolerance = ToleranceNL
	default: // kmh:pct:above
		var k, p, a float64
		if _, err := fmt.Sscanf(tol, "%g:%g:%g", &k, &p, &a); err != nil {
			return s, fmt.Errorf("tolerance %q: %w", tol, err)
		}
		s.Tolerance = Tolerance{Name: "custom", MarginKmh: k, MarginPct: p, PctAboveKmh: a}
	}
	return s, err
}

func parseRead(l string) (*plate.Read, error) {
	f := strings.Fields(l)
	if len(f) < 3 {
		return nil, fmt.Errorf("bad read %q", l)
	}
	ts, err := time.Parse(time.RFC3339, f[0])
	if err != nil {
		return nil, err
	}
	norm, ok := plate.Normalize(f[2])
	if !ok {
		return nil, fmt.Errorf("bad plate %q", f[2])
	}
	r := &plate.Read{ReadID: f[1] + "/" + ts.UTC().Format("150405.000"), CameraID: f[1], TS: ts, Plate: f[2], PlateNorm: norm,
		Confidence: 0.9, Lane: 1, VehicleClass: plate.ClassUnknown}
	for _, a := range f[3:] {
		switch k, v, ok := strings.Cut(a, "="); {
		case !ok:
			r.VehicleClass = a
		case k == "country":
			r.Country = v
		case k == "id":
			r.ReadID = v
		default:
			return nil, fmt.Errorf("bad read field %q", a)
		}
	}
	return r, nil
}
