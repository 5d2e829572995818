package config

import (
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/anpr/anpr/plate"
)

// ValidationError lists every problem of a configuration.
type ValidationError struct {
	File     string // the config file, when known
	Problems []Problem
}

// Problem is one invalid value.
type Problem struct {
	Field string // YAML path, e.g. "sections[1].entry[0]", or "line N"
	Why   string
}

// Error lists the problems one per line as "file: field: why".
func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		if e.File != "" {
			b.WriteString(e.File)
			b.WriteString(": ")
		}
		b.WriteString(p.Field)
		b.WriteString(": ")
		b.WriteString(p.Why)
	}
	return b.String()
}

type problems []Problem

func (ps *problems) add(field, format string, args ...any) {
	*ps = append(*ps, Problem{Field: field, Why: fmt.Sprintf(format, args...)})
}

// Validate checks c as Parse leaves it (defaults applied, paths resolved)
// and returns a *ValidationError listing every problem, or nil.
func (c *Config) Validate() error {
	var ps problems
	c.validateKafka(&ps)
	if err := checkHostPort(c.HTTP.Listen); err != nil {
		ps.add("http.listen", "%v", err)
	}
	if c.DataDir == "" {
		ps.add("data_dir", "required")
	}
	for _, r := range []struct {
		field string
		d     time.Duration
	}{{"retention", c.Retention}, {"hit_retention", c.HitRetention}, {"violation_retention", c.ViolationRetention}} {
		// The event retentions default to retention: say it once.
		if r.d <= 0 && (r.field == "retention" || r.d != c.Retention) {
			ps.add(r.field, "must be > 0, got %v", r.d)
		}
	}
	if c.Auth.ApprovalAge < 0 || c.Auth.Burst < 0 {
		ps.add("auth", "approval_age and burst must not be negative")
	}
	if (c.HTTP.CertFile == "") != (c.HTTP.KeyFile == "") {
		ps.add("http", "cert_file and key_file go together")
	}
	if e := c.Encryption; e != nil {
		if (e.KeyFile == "") == (e.KeyEnv == "") {
			ps.add("encryption", "give exactly one of key_file and key_env")
		} else if _, err := e.Key(); err != nil {
			ps.add("encryption", "%v", err)
		}
	}
	if _, err := plate.NewOCRTable(c.OCRClasses); err != nil {
		ps.add("ocr_classes", "%v", err)
	}
	cams := c.validateCameras(&ps)
	c.validateSections(&ps, cams)
	c.validateHotlists(&ps)
	c.validateUsers(&ps)
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{File: c.File, Problems: ps}
}

// topicName is Kafka's rule for topic names.
var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

func (c *Config) validateKafka(ps *problems) {
	k := c.Kafka
	if len(k.Brokers) == 0 {
		ps.add("kafka.brokers", "at least one broker required")
	}
	for i, b := range k.Brokers {
		if err := checkHostPort(b); err != nil {
			ps.add(fmt.Sprintf("kafka.brokers[%d]", i), "%v", err)
		}
	}
	if k.Group == "" {
		ps.add("kafka.group", "required")
	}
	topics := []struct{ field, name string }{
		{"reads", k.Topics.Reads}, {"dlq", k.Topics.DLQ}, {"hits", k.Topics.Hits},
		{"violations", k.Topics.Violations}, {"hotlists", k.Topics.Hotlists},
	}
	seen := map[string]string{}
	for _, t := range topics {
		field := "kafka.topics." + t.field
		if !topicName.MatchString(t.name) {
			ps.add(field, "%q is not a Kafka topic name (1..249 of a-z A-Z 0-9 . _ -)", t.name)
			continue
		}
		if prev, dup := seen[t.name]; dup {
			ps.add(field, "topic %q is also kafka.topics.%s", t.name, prev)
		}
		seen[t.name] = t.field
	}
	if t := k.TLS; t != nil {
		if (t.CertFile == "") != (t.KeyFile == "") {
			ps.add("kafka.tls", "cert_file and key_file go together")
		}
		checkFile(ps, "kafka.tls.ca_file", t.CAFile)
		checkFile(ps, "kafka.tls.cert_file", t.CertFile)
		checkFile(ps, "kafka.tls.key_file", t.KeyFile)
	}
	if s := k.SASL; s != nil {
		if s.Mechanism != "PLAIN" && s.Mechanism != "SCRAM-SHA-512" {
			ps.add("kafka.sasl.mechanism", "%q: want PLAIN or SCRAM-SHA-512", s.Mechanism)
		}
		if s.Username == "" {
			ps.add("kafka.sasl.username", "required")
		}
		if s.Password == "" {
			ps.add("kafka.sasl.password", "required")
		}
	}
}

func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not 0..65535", addr, port)
	}
	return nil
}

// checkFile reports a path that is set but is not a readable regular file.
func checkFile(ps *problems, field, path string) {
	if path == "" {
		return
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		ps.add(field, "%v", err)
	case !fi.Mode().IsRegular():
		ps.add(field, "%q is not a regular file", path)
	}
}

// validateCameras returns the index of each camera id.
func (c *Config) validateCameras(ps *problems) map[string]int {
	ids := make(map[string]int, len(c.Registry))
	for i, cam := range c.Registry {
		f := fmt.Sprintf("cameras[%d]", i)
		switch {
		case cam.ID == "":
			ps.add(f+".id", "required")
		case len(cam.ID) > 64 || strings.ContainsFunc(cam.ID, notPrintable):
			ps.add(f+".id", "%q: want 1..64 printable characters, no spaces", cam.ID)
		}
		if prev, dup := ids[cam.ID]; dup && cam.ID != "" {
			ps.add(f+".id", "duplicate id %q (also cameras[%d])", cam.ID, prev)
		} else {
			ids[cam.ID] = i
		}
		if !(cam.Lat >= -90 && cam.Lat <= 90) {
			ps.add(f+".lat", "%v is not in -90..90", cam.Lat)
		}
		if !(cam.Lon >= -180 && cam.Lon <= 180) {
			ps.add(f+".lon", "%v is not in -180..180", cam.Lon)
		}
		cert := cam.Certificate
		if cert.ID == "" && !cert.ValidUntil.IsZero() {
			ps.add(f+".certificate.id", "required with valid_until")
		}
		if cert.ID != "" && cert.ValidUntil.IsZero() {
			ps.add(f+".certificate.valid_until", "required with id")
		}
	}
	return ids
}

func notPrintable(r rune) bool { return r <= ' ' || r == 0x7f }

var vehicleClasses = []string{plate.ClassCar, plate.ClassVan, plate.ClassTruck, plate.ClassBus, plate.ClassMotorcycle}

func (c *Config) validateSections(ps *problems, cams map[string]int) {
	ids := map[string]int{}
	for i, s := range c.Sections {
		f := fmt.Sprintf("sections[%d]", i)
		if s.ID == "" {
			ps.add(f+".id", "required")
		} else if prev, dup := ids[s.ID]; dup {
			ps.add(f+".id", "duplicate id %q (also sections[%d])", s.ID, prev)
		} else {
			ids[s.ID] = i
		}
		entry := checkSectionCameras(ps, f+".entry", s.Entry, cams)
		for j, id := range s.Exit {
			if _, both := entry[id]; both {
				ps.add(fmt.Sprintf("%s.exit[%d]", f, j), "camera %q is also an entry camera", id)
			}
		}
		checkSectionCameras(ps, f+".exit", s.Exit, cams)
		if !(s.LengthM > 0) || math.IsInf(s.LengthM, 0) {
			ps.add(f+".length_m", "must be > 0, got %v", s.LengthM)
		}
		checkLimit(ps, f+".limit_kmh", s.LimitKmh)
		for _, class := range slices.Sorted(maps.Keys(s.ClassLimits)) { // stable order
			if !slices.Contains(vehicleClasses, class) {
				ps.add(f+".class_limits."+class, "unknown vehicle class (want one of %s)", strings.Join(vehicleClasses, ", "))
			}
			checkLimit(ps, f+".class_limits."+class, s.ClassLimits[class])
		}
		for j, sl := range s.Schedule {
			g := fmt.Sprintf("%s.schedule[%d]", f, j)
			from, err1 := parseHHMM(sl.From, false)
			if err1 != nil {
				ps.add(g+".from", "%v", err1)
			}
			to, err2 := parseHHMM(sl.To, true)
			if err2 != nil {
				ps.add(g+".to", "%v", err2)
			}
			if err1 == nil && err2 == nil && from == to {
				ps.add(g, "from and to are equal: an empty window")
			}
			checkLimit(ps, g+".limit_kmh", sl.LimitKmh)
		}
		checkPositive(ps, f+".max_travel", s.MaxTravel)
		checkPositive(ps, f+".dedupe", s.Dedupe)
		checkPositive(ps, f+".max_lateness", s.MaxLateness)
		checkPositive(ps, f+".idle_flush", s.IdleFlush)
		if s.MaxPlausibleKmh <= s.LimitKmh || math.IsInf(s.MaxPlausibleKmh, 0) {
			ps.add(f+".max_plausible_kmh", "must be above limit_kmh (%v), got %v", s.LimitKmh, s.MaxPlausibleKmh)
		}
		checkTolerance(ps, f+".tolerance", s.Tolerance)
		if _, err := time.LoadLocation(s.Timezone); err != nil || s.Timezone == "Local" {
			ps.add(f+".timezone", "unknown time zone %q", s.Timezone)
		}
		switch {
		case s.Route == "" && s.RoutePolicy != "":
			ps.add(f+".route_policy", "set without route")
		case s.Route != "" && s.RoutePolicy != RouteEach && s.RoutePolicy != RouteHighest:
			ps.add(f+".route_policy", "%q: want %s or %s", s.RoutePolicy, RouteEach, RouteHighest)
		}
	}
	c.validateRoutes(ps)
}

// checkSectionCameras checks one camera list of a section and returns its set.
func checkSectionCameras(ps *problems, field string, ids []string, cams map[string]int) map[string]struct{} {
	if len(ids) == 0 {
		ps.add(field, "at least one camera required")
	}
	set := make(map[string]struct{}, len(ids))
	for j, id := range ids {
		g := fmt.Sprintf("%s[%d]", field, j)
		if _, ok := cams[id]; !ok {
			ps.add(g, "unknown camera %q", id)
		}
		if _, dup := set[id]; dup {
			ps.add(g, "camera %q listed twice", id)
		}
		set[id] = struct{}{}
	}
	return set
}

// validateRoutes checks that the sections of a route chain up in file order
// and agree on the policy.
func (c *Config) validateRoutes(ps *problems) {
	last := map[string]int{} // route → index of its previous section
	for i, s := range c.Sections {
		if s.Route == "" {
			continue
		}
		prev, ok := last[s.Route]
		last[s.Route] = i
		if !ok {
			continue
		}
		p := c.Sections[prev]
		if p.RoutePolicy != s.RoutePolicy {
			ps.add(fmt.Sprintf("sections[%d].route_policy", i), "%q differs from %q of sections[%d] on route %q",
				s.RoutePolicy, p.RoutePolicy, prev, s.Route)
		}
		if !slices.ContainsFunc(s.Entry, func(id string) bool { return slices.Contains(p.Exit, id) }) {
			ps.add(fmt.Sprintf("sections[%d].entry", i), "route %q: no entry camera is an exit camera of the previous section sections[%d]",
				s.Route, prev)
		}
	}
}

func checkLimit(ps *problems, field string, kmh float64) {
	if !(kmh > 0 && kmh < 1000) {
		ps.add(field, "must be in (0, 1000) km/h, got %v", kmh)
	}
}

func checkPositive(ps *problems, field string, d time.Duration) {
	if d <= 0 {
		ps.add(field, "must be > 0, got %v", d)
	}
}

func checkTolerance(ps *problems, field string, t Tolerance) {
	if _, named := namedTolerances[t.Name]; !named && t.Name != ToleranceCustom {
		ps.add(field, "unknown rule %q: want BE, NL or {margin_kmh, margin_pct, pct_above_kmh}", t.Name)
		return
	}
	if !(t.MarginKmh >= 0 && t.MarginKmh < 50) {
		ps.add(field+".margin_kmh", "must be in [0, 50), got %v", t.MarginKmh)
	}
	if !(t.MarginPct >= 0 && t.MarginPct < 50) {
		ps.add(field+".margin_pct", "must be in [0, 50), got %v", t.MarginPct)
	}
	if !(t.PctAboveKmh >= 0 && t.PctAboveKmh < 1000) {
		ps.add(field+".pct_above_kmh", "must be in [0, 1000), got %v", t.PctAboveKmh)
	}
}

// hotlistName keeps list names usable in the `<list>/<plate>` Kafka key.
var hotlistName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func (c *Config) validateHotlists(ps *problems) {
	names := map[string]int{}
	for i, h := range c.Hotlists {
		f := fmt.Sprintf("hotlists[%d]", i)
		switch {
		case h.Name == "":
			ps.add(f+".name", "required")
		case !hotlistName.MatchString(h.Name):
			ps.add(f+".name", "%q: want 1..64 of A-Z a-z 0-9 . _ -", h.Name)
		}
		if prev, dup := names[h.Name]; dup && h.Name != "" {
			ps.add(f+".name", "duplicate name %q (also hotlists[%d])", h.Name, prev)
		} else {
			names[h.Name] = i
		}
		checkFile(ps, f+".file", h.File)
		switch h.Match {
		case MatchExact, MatchOCR, MatchFuzzy:
		default:
			ps.add(f+".match", "%q: want exact, ocr or fuzzy", h.Match)
		}
		if h.MaxDistance < 1 || h.MaxDistance > 2 {
			ps.add(f+".max_distance", "must be 1 or 2, got %d", h.MaxDistance)
		}
		checkPositive(ps, f+".suppress", h.Suppress)
		if h.Retro < 0 || c.Retention > 0 && h.Retro > c.Retention {
			ps.add(f+".retro", "must be in [0, retention %v], got %v", c.Retention, h.Retro)
		}
	}
}

func (c *Config) validateUsers(ps *problems) {
	names := map[string]int{}
	tokens := map[string]int{}
	for i, u := range c.Auth.Users {
		f := fmt.Sprintf("auth.users[%d]", i)
		if u.Name == "" {
			ps.add(f+".name", "required")
		} else if prev, dup := names[u.Name]; dup {
			ps.add(f+".name", "duplicate name %q (also auth.users[%d])", u.Name, prev)
		} else {
			names[u.Name] = i
		}
		if len(u.Roles) == 0 {
			ps.add(f+".roles", "at least one role required")
		}
		for j, r := range u.Roles {
			g := fmt.Sprintf("%s.roles[%d]", f, j)
			if !slices.Contains(Roles, r) {
				ps.add(g, "unknown role %q (want one of %s)", r, strings.Join(Roles, ", "))
			} else if slices.Index(u.Roles, r) < j {
				ps.add(g, "role %q listed twice", r)
			}
		}
		if b, err := hex.DecodeString(u.TokenSHA256); err != nil || len(b) != 32 {
			ps.add(f+".token_sha256", "want 64 hex characters (the SHA-256 of the token)")
		} else if prev, dup := tokens[u.TokenSHA256]; dup {
			ps.add(f+".token_sha256", "same token as auth.users[%d]", prev)
		} else {
			tokens[u.TokenSHA256] = i
		}
	}
}
