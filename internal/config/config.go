// Package config reads the anpr YAML configuration file (SPEC §7): Kafka,
// HTTP, storage, the camera registry, section-control zones, hotlists and
// users.
//
// The types mirror the YAML one to one and stay plain: cmd converts them into
// each stage's own Config. Load and Parse apply defaults, resolve relative
// paths against the file's directory and validate, reporting every problem
// at once as a *ValidationError. A Config is a plain value: safe for
// concurrent reads, not for concurrent writes.
package config

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/anpr/anpr/plate"
	"github.com/anpr/anpr/sectioncontrol"
)

// Config is the whole configuration file. Zero values mean the documented
// default.
type Config struct {
	Kafka Kafka `yaml:"kafka"`
	HTTP  HTTP  `yaml:"http"`
	// DataDir holds the store; default "./data", relative to the file.
	DataDir string `yaml:"data_dir"`
	// Retention is how long passages are kept; default 8760h.
	Retention time.Duration `yaml:"retention"`
	// HitRetention and ViolationRetention are how long hits and violations
	// are kept; default Retention.
	HitRetention       time.Duration `yaml:"hit_retention"`
	ViolationRetention time.Duration `yaml:"violation_retention"`
	// Encryption encrypts the store at rest; nil: not encrypted.
	Encryption *Encryption `yaml:"encryption"`
	// OCRClasses are the OCR confusion classes, first character canonical;
	// default plate.DefaultOCRClasses.
	OCRClasses []string  `yaml:"ocr_classes"`
	Registry   []Camera  `yaml:"cameras"` // the camera registry; see Cameras
	Sections   []Section `yaml:"sections"`
	Hotlists   []Hotlist `yaml:"hotlists"`
	Auth       Auth      `yaml:"auth"`

	// File is the path Load read, used in error messages; empty after Parse.
	File string `yaml:"-"`
}

// Kafka is the connection to the cluster and the topic names (SPEC §2).
type Kafka struct {
	Brokers []string `yaml:"brokers"` // default [127.0.0.1:9092]
	Group   string   `yaml:"group"`   // consumer group; default "anpr"
	Topics  Topics   `yaml:"topics"`
	TLS     *TLS     `yaml:"tls"`  // nil: plaintext
	SASL    *SASL    `yaml:"sasl"` // nil: no authentication
}

// Topics are the Kafka topic names; each defaults to its SPEC §2 name.
type Topics struct {
	Reads      string `yaml:"reads"`
	DLQ        string `yaml:"dlq"`
	Hits       string `yaml:"hits"`
	Violations string `yaml:"violations"`
	Hotlists   string `yaml:"hotlists"`
}

// TLS configures TLS to the brokers. File paths are resolved against the
// config file's directory.
type TLS struct {
	CAFile             string `yaml:"ca_file"`   // empty: system roots
	CertFile           string `yaml:"cert_file"` // client certificate, with KeyFile
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASL configures SASL authentication to the brokers.
type SASL struct {
	Mechanism string `yaml:"mechanism"` // PLAIN or SCRAM-SHA-512
	Username  string `yaml:"username"`
	Password  string `yaml:"password"`
}

// HTTP configures the API server.
type HTTP struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:8080
	// CertFile and KeyFile (PEM) serve the API over HTTPS; both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Encryption gives the store's AES key, as 32, 48 or 64 hex digits (AES-128,
// -192, -256), from a file (KeyFile) or an environment variable (KeyEnv);
// exactly one of them.
type Encryption struct {
	KeyFile string `yaml:"key_file"`
	KeyEnv  string `yaml:"key_env"`
}

// Key reads the key.
func (e *Encryption) Key() ([]byte, error) {
	var text string
	switch {
	case e.KeyFile != "":
		b, err := os.ReadFile(e.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("encryption key_file: %w", err)
		}
		text = string(b)
	case e.KeyEnv != "":
		var ok bool
		if text, ok = os.LookupEnv(e.KeyEnv); !ok {
			return nil, fmt.Errorf("encryption key_env: %s is not set", e.KeyEnv)
		}
	}
	key, err := hex.DecodeString(strings.TrimSpace(text))
	if err != nil || (len(key) != 16 && len(key) != 24 && len(key) != 32) {
		return nil, errors.New("encryption key: want 32, 48 or 64 hex digits")
	}
	return key, nil
}

// Camera is one camera of the registry.
type Camera struct {
	ID          string      `yaml:"id"` // required, 1..64 characters
	Name        string      `yaml:"name"`
	Lat         float64     `yaml:"lat"` // WGS84
	Lon         float64     `yaml:"lon"`
	Road        string      `yaml:"road"`
	Direction   string      `yaml:"direction"`
	Certificate Certificate `yaml:"certificate"` // zero: not certified
}

// Certificate is a camera's metrology certificate, valid until ValidUntil
// (exclusive).
type Certificate struct {
	ID         string    `yaml:"id"`
	ValidUntil time.Time `yaml:"valid_until"`
}

// Section is one section-control zone (SPEC §6).
type Section struct {
	ID          string             `yaml:"id"`
	Entry       []string           `yaml:"entry"` // camera ids
	Exit        []string           `yaml:"exit"`
	LengthM     float64            `yaml:"length_m"`
	LimitKmh    float64            `yaml:"limit_kmh"`
	ClassLimits map[string]float64 `yaml:"class_limits"` // vehicle class → limit
	Schedule    []ScheduleLimit    `yaml:"schedule"`
	MaxTravel   time.Duration      `yaml:"max_travel"`   // default 2h
	Tolerance   Tolerance          `yaml:"tolerance"`    // default BE
	Dedupe      time.Duration      `yaml:"dedupe"`       // default 30s
	MaxLateness time.Duration      `yaml:"max_lateness"` // default 2m
	IdleFlush   time.Duration      `yaml:"idle_flush"`   // default 5s
	// MaxPlausibleKmh: faster passages are anomalies; default 250.
	MaxPlausibleKmh float64 `yaml:"max_plausible_kmh"`
	// Timezone of the schedule, an IANA name; default Europe/Brussels.
	Timezone string `yaml:"timezone"`
	// Route names a chain of consecutive sections (each section's exit
	// gantry shares a camera with the next one's entry, in file order).
	Route string `yaml:"route"`
	// RoutePolicy says how violations on one route passage are reported:
	// "each" (default: every section on its own) or "highest" (only the
	// violation with the highest excess). The same for all sections of a route.
	RoutePolicy string `yaml:"route_policy"`
}

// ScheduleLimit is a time-of-day limit in the section's local time. From and
// To are "HH:MM"; To may be "24:00"; To before From wraps past midnight.
type ScheduleLimit struct {
	From     string  `yaml:"from"`
	To       string  `yaml:"to"`
	LimitKmh float64 `yaml:"limit_kmh"`
}

// Window returns From and To as offsets since local midnight.
func (s ScheduleLimit) Window() (from, to time.Duration, err error) {
	if from, err = parseHHMM(s.From, false); err != nil {
		return 0, 0, fmt.Errorf("from: %w", err)
	}
	if to, err = parseHHMM(s.To, true); err != nil {
		return 0, 0, fmt.Errorf("to: %w", err)
	}
	return from, to, nil
}

var hhmm = regexp.MustCompile(`^([0-9]{2}):([0-9]{2})$`)

func parseHHMM(s string, allow24 bool) (time.Duration, error) {
	m := hhmm.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	h, _ := strconv.Atoi(m[1])
	min, _ := strconv.Atoi(m[2])
	if min > 59 || h > 24 || h == 24 && (!allow24 || min != 0) {
		return 0, fmt.Errorf("%q is not a time of day", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(min)*time.Minute, nil
}

// Tolerance is the measurement margin rule. In YAML it is either a rule name,
// "BE" or "NL", or a mapping {margin_kmh, margin_pct, pct_above_kmh}, whose
// Name is then "custom". Parse fills the numbers of the named rules: margin
// MarginKmh when the measured speed is ≤ PctAboveKmh, else MarginPct % of it.
type Tolerance struct {
	Name        string  `yaml:"-"`
	MarginKmh   float64 `yaml:"margin_kmh"`
	MarginPct   float64 `yaml:"margin_pct"`
	PctAboveKmh float64 `yaml:"pct_above_kmh"`
}

// Tolerance rule names.
const (
	ToleranceBE     = "BE"
	ToleranceNL     = "NL"
	ToleranceCustom = "custom"
)

// namedTolerances are sectioncontrol's named rules.
var namedTolerances = func() map[string]Tolerance {
	m := map[string]Tolerance{}
	for _, t := range []sectioncontrol.Tolerance{sectioncontrol.ToleranceBE, sectioncontrol.ToleranceNL} {
		m[t.Name] = Tolerance{Name: t.Name, MarginKmh: t.MarginKmh, MarginPct: t.MarginPct, PctAboveKmh: t.PctAboveKmh}
	}
	return m
}()

// UnmarshalYAML accepts a rule name or a custom mapping. Unknown keys of the
// mapping are errors, as everywhere else in the file.
func (t *Tolerance) UnmarshalYAML(n *yaml.Node) error {
	var errs []string
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("line %d: ", line)+fmt.Sprintf(format, args...))
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value == ToleranceCustom {
			fail(n.Line, "tolerance %q: write the mapping {margin_kmh, margin_pct, pct_above_kmh}", n.Value)
			break
		}
		*t = Tolerance{Name: n.Value}
	case yaml.MappingNode:
		*t = Tolerance{Name: ToleranceCustom}
		fields := map[string]*float64{"margin_kmh": &t.MarginKmh, "margin_pct": &t.MarginPct, "pct_above_kmh": &t.PctAboveKmh}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				fail(k.Line, "field %s not found in tolerance {margin_kmh, margin_pct, pct_above_kmh}", k.Value)
				continue
			}
			if err := v.Decode(f); err != nil {
				fail(v.Line, "tolerance %s: %q is not a number", k.Value, v.Value)
			}
		}
	default:
		fail(n.Line, "tolerance: want BE, NL or {margin_kmh, margin_pct, pct_above_kmh}")
	}
	if errs != nil {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

// Hotlist is a named list's settings (SPEC §4).
type Hotlist struct {
	Name string `yaml:"name"`
	// File is an optional CSV loaded at start, relative to the config file.
	File        string        `yaml:"file"`
	Match       string        `yaml:"match"`        // exact (default), ocr or fuzzy
	MaxDistance int           `yaml:"max_distance"` // fuzzy only: 1 (default) or 2
	Suppress    time.Duration `yaml:"suppress"`     // default 5m
	Covert      bool          `yaml:"covert"`
	// Retro: when an entry is added, stored passages this far back are
	// searched for it; 0 (default) disables; at most Retention.
	Retro time.Duration `yaml:"retro"`
}

// Match modes.
const (
	MatchExact = "exact"
	MatchOCR   = "ocr"
	MatchFuzzy = "fuzzy"
)

// Route policies.
const (
	RouteEach    = "each"
	RouteHighest = "highest"
)

// Auth lists the API users and the investigator guard-rails.
type Auth struct {
	Users []User `yaml:"users"`
	// ApprovalAge is how far back an investigator may search with a case
	// reference alone; further needs X-Approval-Ref. Default 720h (30 days).
	ApprovalAge time.Duration `yaml:"approval_age"`
	// RatePerSecond and Burst limit each user's investigative requests;
	// defaults 5 and 20; a negative rate means no limit.
	RatePerSecond float64 `yaml:"rate_per_s"`
	Burst         int     `yaml:"burst"`
}

// User is an API user; only the SHA-256 of its bearer token is stored.
type User struct {
	Name        string   `yaml:"name"`
	Roles       []string `yaml:"roles"`
	TokenSHA256 string   `yaml:"token_sha256"` // 64 hex characters, lower-cased by Parse
}

// Roles are the roles a user may hold (SPEC §7).
var Roles = []string{"gateway", "dispatch", "covert", "enforcement", "investigator", "admin", "auditor"}

// Load reads the file at path, applies defaults, resolves relative paths
// against the file's directory and validates. A *ValidationError lists every
// problem found.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config %q: %w", path, err)
	}
	c, err := Parse(data, filepath.Dir(path))
	var verr *ValidationError
	if errors.As(err, &verr) {
		verr.File = path
	}
	if err != nil {
		return nil, err
	}
	c.File = path
	return c, nil
}

// Parse is Load from bytes; relative paths are resolved against dir. Problems
// with the YAML itself (syntax, unknown fields, wrong types) are listed with
// field "line N", together with the validation problems.
func Parse(data []byte, dir string) (*Config, error) {
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var ps []Problem
	if err := dec.Decode(c); err != nil && err != io.EOF {
		ps = yamlProblems(err)
	} else if err == nil {
		var next yaml.Node
		if dec.Decode(&next) != io.EOF {
			ps = append(ps, Problem{Field: "yaml", Why: "more than one document"})
		}
	}
	c.applyDefaults()
	c.resolvePaths(dir)
	var verr *ValidationError
	if errors.As(c.Validate(), &verr) {
		ps = append(ps, verr.Problems...)
	}
	if len(ps) > 0 {
		return nil, &ValidationError{Problems: ps}
	}
	return c, nil
}

// yamlProblems turns a decoding error into problems whose field is the line.
func yamlProblems(err error) []Problem {
	var lines []string
	var terr *yaml.TypeError
	if errors.As(err, &terr) {
		lines = terr.Errors
	} else {
		lines = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	ps := make([]Problem, 0, len(lines))
	for _, l := range lines {
		field, why, ok := strings.Cut(l, ": ")
		if !ok || !strings.HasPrefix(field, "line ") {
			field, why = "yaml", l
		}
		ps = append(ps, Problem{Field: field, Why: why})
	}
	return ps
}

func (c *Config) applyDefaults() {
	k := &c.Kafka
	if len(k.Brokers) == 0 {
		k.Brokers = []string{"127.0.0.1:9092"}
	}
	setDefault(&k.Group, "anpr")
	setDefault(&k.Topics.Reads, "anpr.reads")
	setDefault(&k.Topics.DLQ, "anpr.reads.dlq")
	setDefault(&k.Topics.Hits, "anpr.hits")
	setDefault(&k.Topics.Violations, "anpr.violations")
	setDefault(&k.Topics.Hotlists, "anpr.hotlists")
	setDefault(&c.HTTP.Listen, "127.0.0.1:8080")
	setDefault(&c.DataDir, "./data")
	if c.Retention == 0 {
		c.Retention = 8760 * time.Hour
	}
	setDurationDefault(&c.HitRetention, c.Retention)
	setDurationDefault(&c.ViolationRetention, c.Retention)
	if c.OCRClasses == nil {
		c.OCRClasses = append([]string(nil), plate.DefaultOCRClasses...)
	}
	for i := range c.Sections {
		s := &c.Sections[i]
		// The section-control library owns the defaults.
		def := sectioncontrol.DefaultSection()
		setDurationDefault(&s.Dedupe, def.Dedupe)
		setDurationDefault(&s.MaxTravel, def.MaxTravel)
		setDurationDefault(&s.MaxLateness, def.MaxLateness)
		setDurationDefault(&s.IdleFlush, def.IdleFlush)
		if s.MaxPlausibleKmh == 0 {
			s.MaxPlausibleKmh = def.MaxPlausibleKmh
		}
		if s.Tolerance == (Tolerance{}) {
			s.Tolerance.Name = def.Tolerance.Name
		}
		if named, ok := namedTolerances[s.Tolerance.Name]; ok {
			s.Tolerance = named
		}
		if def.Location != nil {
			setDefault(&s.Timezone, def.Location.String())
		}
		if s.Route != "" {
			setDefault(&s.RoutePolicy, RouteEach)
		}
	}
	for i := range c.Hotlists {
		h := &c.Hotlists[i]
		setDefault(&h.Match, MatchExact)
		if h.MaxDistance == 0 {
			h.MaxDistance = 1
		}
		setDurationDefault(&h.Suppress, 5*time.Minute)
	}
	for i := range c.Auth.Users {
		u := &c.Auth.Users[i]
		u.TokenSHA256 = strings.ToLower(u.TokenSHA256)
	}
}

func setDefault(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

func setDurationDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

func (c *Config) resolvePaths(dir string) {
	resolve := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	resolve(&c.DataDir)
	resolve(&c.HTTP.CertFile)
	resolve(&c.HTTP.KeyFile)
	if c.Encryption != nil {
		resolve(&c.Encryption.KeyFile)
	}
	if t := c.Kafka.TLS; t != nil {
		resolve(&t.CAFile)
		resolve(&t.CertFile)
		resolve(&t.KeyFile)
	}
	for i := range c.Hotlists {
		resolve(&c.Hotlists[i].File)
	}
}

// Cameras returns the camera registry in the shared vocabulary.
func (c *Config) Cameras() []plate.Camera {
	out := make([]plate.Camera, len(c.Registry))
	for i, cam := range c.Registry {
		out[i] = plate.Camera{
			ID: cam.ID, Name: cam.Name, Lat: cam.Lat, Lon: cam.Lon,
			Road: cam.Road, Direction: cam.Direction,
			Certificate: plate.Certificate{ID: cam.Certificate.ID, ValidUntil: cam.Certificate.ValidUntil},
		}
	}
	return out
}

// OCRTable builds the table of c.OCRClasses, or returns
// plate.DefaultOCRTable when they are the default.
func (c *Config) OCRTable() (*plate.OCRTable, error) {
	if c.OCRClasses == nil || slices.Equal(c.OCRClasses, plate.DefaultOCRClasses) {
		return plate.DefaultOCRTable, nil
	}
	return plate.NewOCRTable(c.OCRClasses)
}
