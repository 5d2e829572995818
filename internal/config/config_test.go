package config

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // LoadLocation everywhere, as the binary does

	"github.com/anpr/anpr/plate"
)

const sampleConfig = "../../testdata/anpr.yaml"

// base is a small valid configuration the table tests start from.
const base = `
cameras:
  - {id: A1, lat: 50.1, lon: 4.1, certificate: {id: C1, valid_until: 2027-01-01T00:00:00Z}}
  - {id: A2, lat: 50.1, lon: 4.1}
  - {id: B1, lat: 50.2, lon: 4.2}
  - {id: B2, lat: 50.2, lon: 4.2}
  - {id: C1, lat: 50.3, lon: 4.3}
sections:
  - {id: S1, entry: [A1, A2], exit: [B1, B2], length_m: 5000, limit_kmh: 120}
hotlists:
  - {name: stolen, match: ocr}
auth:
  users:
    - {name: u1, roles: [dispatch], token_sha256: ` + hash64a + `}
`

const (
	hash64a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hash64b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestParseBase(t *testing.T) {
	if _, err := Parse([]byte(base), t.TempDir()); err != nil {
		t.Fatalf("Parse(base) = %v, want nil", err)
	}
}

func TestParseDefaults(t *testing.T) {
	dir := t.TempDir()
	c, err := Parse([]byte(base), dir)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"kafka.brokers", c.Kafka.Brokers, []string{"127.0.0.1:9092"}},
		{"kafka.group", c.Kafka.Group, "anpr"},
		{"kafka.topics", c.Kafka.Topics, Topics{"anpr.reads", "anpr.reads.dlq", "anpr.hits", "anpr.violations", "anpr.hotlists"}},
		{"kafka.tls", c.Kafka.TLS, (*TLS)(nil)},
		{"http.listen", c.HTTP.Listen, "127.0.0.1:8080"},
		{"data_dir", c.DataDir, filepath.Join(dir, "data")},
		{"retention", c.Retention, 8760 * time.Hour},
		{"ocr_classes", c.OCRClasses, plate.DefaultOCRClasses},
		{"dedupe", c.Sections[0].Dedupe, 30 * time.Second},
		{"max_travel", c.Sections[0].MaxTravel, 2 * time.Hour},
		{"max_lateness", c.Sections[0].MaxLateness, 2 * time.Minute},
		{"idle_flush", c.Sections[0].IdleFlush, 5 * time.Second},
		{"max_plausible_kmh", c.Sections[0].MaxPlausibleKmh, 250.0},
		{"tolerance", c.Sections[0].Tolerance, Tolerance{Name: "BE", MarginKmh: 6, MarginPct: 6, PctAboveKmh: 100}},
		{"timezone", c.Sections[0].Timezone, "Europe/Brussels"},
		{"route_policy", c.Sections[0].RoutePolicy, ""},
		{"match", c.Hotlists[0].Match, "ocr"},
		{"suppress", c.Hotlists[0].Suppress, 5 * time.Minute},
		{"max_distance", c.Hotlists[0].MaxDistance, 1},
		{"retro", c.Hotlists[0].Retro, time.Duration(0)},
	}
	for _, ch := range checks {
		if !equal(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
}

func equal(a, b any) bool {
	switch a := a.(type) {
	case []string:
		return slices.Equal(a, b.([]string))
	}
	return a == b
}

func TestParseFull(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"ca.pem", "c.pem", "k.pem", "list.csv"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yml := `
kafka:
  brokers: [k1:9093, k2:9093]
  group: g
  topics: {reads: r, dlq: d, hits: h, violations: v, hotlists: l}
  tls: {ca_file: ca.pem, cert_file: c.pem, key_file: ` + dir + `/k.pem, server_name: kafka.local}
  sasl: {mechanism: SCRAM-SHA-512, username: anpr, password: secret}
http: {listen: ":9000"}
data_dir: /var/lib/anpr
retention: 720h
ocr_classes: ["0O", "8B"]
cameras:
  - {id: A1, name: "a", lat: 50, lon: 4, road: E40, direction: W, certificate: {id: C1, valid_until: 2027-01-31T00:00:00Z}}
  - {id: B1, lat: 50, lon: 4}
  - {id: C1, lat: 50, lon: 4}
sections:
  - id: S1
    entry: [A1]
    exit: [B1]
    length_m: 5312.5
    limit_kmh: 120
    class_limits: {truck: 90, bus: 90}
    schedule: [{from: "22:00", to: "06:00", limit_kmh: 90}, {from: "06:00", to: "24:00", limit_kmh: 100}]
    max_travel: 1h
    tolerance: {margin_kmh: 5, margin_pct: 5, pct_above_kmh: 100}
    dedupe: 10s
    max_lateness: 1m
    idle_flush: 2s
    max_plausible_kmh: 300
    timezone: Europe/Amsterdam
    route: R
  - {id: S2, entry: [B1], exit: [C1], length_m: 100, limit_kmh: 50, tolerance: NL, route: R, route_policy: each}
hotlists:
  - {name: l1, file: list.csv, match: fuzzy, max_distance: 2, suppress: 1m, covert: true, retro: 720h}
auth:
  users:
    - {name: u1, roles: [dispatch, covert], token_sha256: ` + strings.ToUpper(hash64a) + `}
`
	c, err := Parse([]byte(yml), dir)
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	if got, want := c.Kafka.TLS.CAFile, filepath.Join(dir, "ca.pem"); got != want {
		t.Errorf("tls.ca_file = %q, want %q", got, want)
	}
	if got, want := c.Hotlists[0].File, filepath.Join(dir, "list.csv"); got != want {
		t.Errorf("hotlists[0].file = %q, want %q", got, want)
	}
	if got, want := c.DataDir, "/var/lib/anpr"; got != want {
		t.Errorf("data_dir = %q, want %q", got, want)
	}
	if got, want := c.Sections[0].Tolerance, (Tolerance{Name: "custom", MarginKmh: 5, MarginPct: 5, PctAboveKmh: 100}); got != want {
		t.Errorf("tolerance = %+v, want %+v", got, want)
	}
	if got, want := c.Sections[1].Tolerance, namedTolerances["NL"]; got != want {
		t.Errorf("tolerance = %+v, want %+v", got, want)
	}
	if got, want := c.Sections[0].RoutePolicy, "each"; got != want {
		t.Errorf("route_policy = %q, want %q", got, want)
	}
	if got, want := c.Auth.Users[0].TokenSHA256, hash64a; got != want {
		t.Errorf("token_sha256 = %q, want lower-cased %q", got, want)
	}
	if got, want := c.Kafka.SASL.Mechanism, "SCRAM-SHA-512"; got != want {
		t.Errorf("sasl.mechanism = %q, want %q", got, want)
	}
	from, to, err := c.Sections[0].Schedule[0].Window()
	if err != nil || from != 22*time.Hour || to != 6*time.Hour {
		t.Errorf("Window() = %v, %v, %v; want 22h, 6h, nil", from, to, err)
	}
	tab, err := c.OCRTable()
	if err != nil || !tab.Same("B0", "8O") || tab.Same("1", "I") {
		t.Errorf("OCRTable() = %v, %v; want classes 0O 8B only", tab, err)
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name string
		yml  string // replaces base when it starts with "!", else appended to it
		want []Problem
	}{
		{
			name: "kafka and http",
			yml: `
kafka:
  brokers: [nohostport, "h:99999"]
  topics: {reads: "bad topic", dlq: anpr.hits}
  tls: {cert_file: missing.pem}
  sasl: {mechanism: GSSAPI}
http: {listen: "localhost"}
retention: -1h
ocr_classes: ["0O", "O8"]`,
			want: []Problem{
				{"kafka.brokers[0]", "not host:port"},
				{"kafka.brokers[1]", "port"},
				{"kafka.topics.reads", "not a Kafka topic name"},
				{"kafka.topics.hits", `topic "anpr.hits" is also kafka.topics.dlq`},
				{"kafka.tls", "cert_file and key_file go together"},
				{"kafka.tls.cert_file", "no such file"},
				{"kafka.sasl.mechanism", "want PLAIN or SCRAM-SHA-512"},
				{"kafka.sasl.username", "required"},
				{"kafka.sasl.password", "required"},
				{"http.listen", "not host:port"},
				{"retention", "must be > 0"},
				{"ocr_classes", "already in class"},
			},
		},
		{
			name: "cameras",
			yml: `!
cameras:
  - {id: A1, lat: 91, lon: 4}
  - {id: A1, lat: 50, lon: -181}
  - {lat: 50, lon: 4, certificate: {id: X}}
  - {id: "has space", certificate: {valid_until: 2027-01-01T00:00:00Z}}`,
			want: []Problem{
				{"cameras[0].lat", "not in -90..90"},
				{"cameras[1].id", `duplicate id "A1" (also cameras[0])`},
				{"cameras[1].lon", "not in -180..180"},
				{"cameras[2].id", "required"},
				{"cameras[2].certificate.valid_until", "required with id"},
				{"cameras[3].id", "printable"},
				{"cameras[3].certificate.id", "required with valid_until"},
			},
		},
		{
			name: "sections",
			yml: `!
cameras: [{id: A1}, {id: A2}, {id: B1}]
sections:
  - id: S1
    entry: [A1, X9, A1]
    exit: [A1, B1]
    length_m: 0
    limit_kmh: -5
    class_limits: {truck: 0, tractor: 40}
    schedule: [{from: "6:00", to: "25:00", limit_kmh: 100}, {from: "07:00", to: "07:00", limit_kmh: 90}]
    max_travel: -1s
    dedupe: -1s
    tolerance: XX
    timezone: Mars/Olympus
    route_policy: highest
  - {id: S1, exit: [B1], length_m: 1000, limit_kmh: 300, max_plausible_kmh: 200,
     tolerance: {margin_kmh: -1, margin_pct: 60, pct_above_kmh: 100}}`,
			want: []Problem{
				{"sections[0].entry[1]", `unknown camera "X9"`},
				{"sections[0].entry[2]", `camera "A1" listed twice`},
				{"sections[0].exit[0]", `camera "A1" is also an entry camera`},
				{"sections[0].length_m", "must be > 0"},
				{"sections[0].limit_kmh", "must be in (0, 1000)"},
				{"sections[0].class_limits.tractor", "unknown vehicle class"},
				{"sections[0].class_limits.truck", "must be in (0, 1000)"},
				{"sections[0].schedule[0].from", "not HH:MM"},
				{"sections[0].schedule[0].to", "not a time of day"},
				{"sections[0].schedule[1]", "empty window"},
				{"sections[0].max_travel", "must be > 0"},
				{"sections[0].dedupe", "must be > 0"},
				{"sections[0].tolerance", `unknown rule "XX"`},
				{"sections[0].timezone", "unknown time zone"},
				{"sections[0].route_policy", "set without route"},
				{"sections[1].id", `duplicate id "S1" (also sections[0])`},
				{"sections[1].entry", "at least one camera"},
				{"sections[1].max_plausible_kmh", "must be above limit_kmh"},
				{"sections[1].tolerance.margin_kmh", "[0, 50)"},
				{"sections[1].tolerance.margin_pct", "[0, 50)"},
			},
		},
		{
			name: "routes",
			yml: `!
cameras: [{id: A}, {id: B}, {id: C}, {id: D}]
sections:
  - {id: S1, entry: [A], exit: [B], length_m: 1, limit_kmh: 1, route: R, route_policy: highest}
  - {id: S2, entry: [C], exit: [D], length_m: 1, limit_kmh: 1, route: R}
  - {id: S3, entry: [A], exit: [B], length_m: 1, limit_kmh: 1, route: Q, route_policy: best}`,
			want: []Problem{
				{"sections[2].route_policy", `"best": want each or highest`},
				{"sections[1].route_policy", `"each" differs from "highest" of sections[0]`},
				{"sections[1].entry", "no entry camera is an exit camera of the previous section sections[0]"},
			},
		},
		{
			name: "hotlists",
			yml: `!
retention: 24h
hotlists:
  - {name: stolen, file: nope.csv, match: soundex, max_distance: 3, suppress: -1m, retro: 48h}
  - {name: stolen}
  - {name: "a/b"}
  - {match: exact}`,
			want: []Problem{
				{"hotlists[0].file", "no such file"},
				{"hotlists[0].match", `"soundex": want exact, ocr or fuzzy`},
				{"hotlists[0].max_distance", "must be 1 or 2"},
				{"hotlists[0].suppress", "must be > 0"},
				{"hotlists[0].retro", "must be in [0, retention 24h0m0s]"},
				{"hotlists[1].name", `duplicate name "stolen" (also hotlists[0])`},
				{"hotlists[2].name", "want 1..64"},
				{"hotlists[3].name", "required"},
			},
		},
		{
			name: "users",
			yml: `!
auth:
  users:
    - {name: u1, roles: [dispatch, sheriff, dispatch], token_sha256: ` + hash64a + `}
    - {name: u1, roles: [], token_sha256: ` + hash64a + `}
    - {roles: [admin], token_sha256: "abc"}
    - {name: u4, roles: [admin], token_sha256: "` + strings.Repeat("g", 64) + `"}
    - {name: u5, roles: [auditor], token_sha256: ` + hash64b + `}`,
			want: []Problem{
				{"auth.users[0].roles[1]", `unknown role "sheriff"`},
				{"auth.users[0].roles[2]", `role "dispatch" listed twice`},
				{"auth.users[1].name", `duplicate name "u1" (also auth.users[0])`},
				{"auth.users[1].roles", "at least one role"},
				{"auth.users[1].token_sha256", "same token as auth.users[0]"},
				{"auth.users[2].name", "required"},
				{"auth.users[2].token_sha256", "64 hex"},
				{"auth.users[3].token_sha256", "64 hex"},
			},
		},
		{
			name: "yaml typos and types, with validation problems",
			yml: `!
cameras: [{id: A}, {id: B}]
sections:
  - id: S1
    entry: [A]
    exit: [B]
    lenght_m: 5000
    limit_kmh: fast
    max_travel: 7200
    tolerance: {margin_kmh: 5, margin: 5}
  - {id: S2, entry: [A], exit: [B], length_m: 1, limit_kmh: 1, tolerance: custom}
kafak: {}`,
			want: []Problem{
				{"line 7", "field lenght_m not found"},
				{"line 8", "cannot unmarshal !!str `fast` into float64"},
				{"line 9", "into time.Duration"},
				{"line 10", "field margin not found in tolerance"},
				{"line 11", `tolerance "custom": write the mapping`},
				{"line 12", "field kafak not found"},
				{"sections[0].length_m", "must be > 0"},
				{"sections[0].limit_kmh", "must be in (0, 1000)"},
			},
		},
		{
			name: "tolerance forms",
			yml: `!
cameras: [{id: A}, {id: B}]
sections:
  - {id: S1, entry: [A], exit: [B], length_m: 1, limit_kmh: 1, tolerance: {margin_kmh: x}}
  - {id: S2, entry: [A], exit: [B], length_m: 1, limit_kmh: 1, tolerance: [BE]}
  - {id: S3, entry: [A], exit: [B], length_m: 1, limit_kmh: 1, tolerance: 5}`,
			want: []Problem{
				{"line 4", `tolerance margin_kmh: "x" is not a number`},
				{"line 5", "tolerance: want BE, NL or"},
				{"sections[2].tolerance", `unknown rule "5"`},
			},
		},
		{
			name: "yaml syntax",
			yml:  "!\ncameras: [{id: A}\nsections: x",
			want: []Problem{{"line 1", "did not find expected ',' or ']'"}},
		},
		{
			name: "two documents",
			yml:  "!\nretention: 1h\n---\nretention: 2h\n",
			want: []Problem{{"yaml", "more than one document"}},
		},
		{
			name: "not a mapping",
			yml:  "!\n- a\n- b",
			want: []Problem{{"line 2", "cannot unmarshal !!seq into config.Config"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yml := base + tt.yml
			if rest, ok := strings.CutPrefix(tt.yml, "!"); ok {
				yml = rest
			}
			c, err := Parse([]byte(yml), t.TempDir())
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Parse = %v, %v; want a *ValidationError", c, err)
			}
			if c != nil {
				t.Errorf("Parse returned a Config with an error")
			}
			checkProblems(t, verr.Problems, tt.want)
		})
	}
}

// checkProblems wants exactly the fields of want, in order, each with a Why
// containing the wanted text.
func checkProblems(t *testing.T, got, want []Problem) {
	t.Helper()
	n := max(len(got), len(want))
	for i := range n {
		var g, w Problem
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g.Field != w.Field || !strings.Contains(g.Why, w.Why) || (w.Field == "") != (g.Field == "") {
			t.Errorf("problem %d = %q: %q, want %q: …%q…", i, g.Field, g.Why, w.Field, w.Why)
		}
	}
}

func TestLoadReportsFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "anpr.yaml")
	yml := "retention: -1h\nhotlists: [{name: l, file: l.csv}]\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil {
		t.Fatal("Load = nil error, want problems")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		path + ": retention: must be > 0, got -1h0m0s",
		path + ": hotlists[0].file: stat " + filepath.Join(dir, "l.csv") + ": no such file or directory",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("Load error =\n%s\nwant\n%s", err, strings.Join(want, "\n"))
	}

	// Once the list exists, the relative path resolves against the file's dir.
	if err := os.WriteFile(filepath.Join(dir, "l.csv"), []byte("list,plate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("hotlists: [{name: l, file: l.csv}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if c.File != path {
		t.Errorf("File = %q, want %q", c.File, path)
	}

	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "read config") {
		t.Errorf("Load(missing) = %v, want a read error", err)
	}
}

func TestParseEmpty(t *testing.T) {
	c, err := Parse(nil, "")
	if err != nil {
		t.Fatalf("Parse(nil) = %v, want defaults only", err)
	}
	if len(c.Registry) != 0 || c.Kafka.Group != "anpr" {
		t.Errorf("Parse(nil) = %+v, want an empty registry and defaults", c)
	}
}

// TestSampleConfig checks the shared testdata network: it loads cleanly, and
// each dev token hashes to a configured user holding that role.
func TestSampleConfig(t *testing.T) {
	c, err := Load(sampleConfig)
	if err != nil {
		t.Fatalf("Load(%s) = %v", sampleConfig, err)
	}
	if got := len(c.Cameras()); got < 30 || got > 40 {
		t.Errorf("cameras = %d, want 30..40", got)
	}
	if got := len(c.Sections); got < 2 {
		t.Errorf("sections = %d, want ≥ 2", got)
	}
	expired := 0
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	for _, cam := range c.Cameras() {
		if cam.Certificate.ID != "" && !cam.Certificate.ValidAt(now) {
			expired++
		}
	}
	if expired != 1 {
		t.Errorf("cameras with an expired certificate = %d, want 1", expired)
	}
	for _, h := range c.Hotlists {
		if _, err := os.Stat(h.File); err != nil {
			t.Errorf("hotlist %s: %v", h.Name, err)
		}
	}

	f, err := os.Open(filepath.Join(filepath.Dir(sampleConfig), "dev-tokens.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	roles := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		role, token, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("dev-tokens.txt line %q: want `role token`", sc.Text())
		}
		sum := sha256.Sum256([]byte(token))
		i := slices.IndexFunc(c.Auth.Users, func(u User) bool { return u.TokenSHA256 == hex.EncodeToString(sum[:]) })
		if i < 0 || !slices.Contains(c.Auth.Users[i].Roles, role) {
			t.Errorf("dev token for %s: no user with that token and role", role)
		}
		roles[role] = true
	}
	for _, r := range Roles {
		if !roles[r] {
			t.Errorf("dev-tokens.txt has no token for role %s", r)
		}
	}
}

func TestCameras(t *testing.T) {
	c, err := Parse([]byte(base), "")
	if err != nil {
		t.Fatal(err)
	}
	got := c.Cameras()[0]
	want := plate.Camera{ID: "A1", Lat: 50.1, Lon: 4.1,
		Certificate: plate.Certificate{ID: "C1", ValidUntil: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}}
	if got != want {
		t.Errorf("Cameras()[0] = %+v, want %+v", got, want)
	}
}

func TestScheduleWindow(t *testing.T) {
	tests := []struct {
		from, to         string
		wantFrom, wantTo time.Duration
		wantErr          bool
	}{
		{"06:00", "19:00", 6 * time.Hour, 19 * time.Hour, false},
		{"00:00", "24:00", 0, 24 * time.Hour, false},
		{"23:59", "00:30", 23*time.Hour + 59*time.Minute, 30 * time.Minute, false},
		{"24:00", "06:00", 0, 0, true},
		{"06:60", "07:00", 0, 0, true},
		{"6:00", "07:00", 0, 0, true},
		{"06:00", "24:01", 0, 0, true},
	}
	for _, tt := range tests {
		from, to, err := ScheduleLimit{From: tt.from, To: tt.to}.Window()
		if (err != nil) != tt.wantErr || from != tt.wantFrom || to != tt.wantTo {
			t.Errorf("Window(%s, %s) = %v, %v, %v; want %v, %v, error %v",
				tt.from, tt.to, from, to, err, tt.wantFrom, tt.wantTo, tt.wantErr)
		}
	}
}

// FuzzParse: Parse never panics, and what it accepts validates.
//
//	go test -fuzz FuzzParse -fuzztime 30s ./internal/config
func FuzzParse(f *testing.F) {
	sample, err := os.ReadFile(sampleConfig)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Add([]byte(base))
	f.Add([]byte("sections: [{tolerance: {margin_kmh: 1}}, {tolerance: NL}]"))
	f.Add([]byte("a: &a [*a, *a]"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, dir)
		if err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) || len(verr.Problems) == 0 {
				t.Fatalf("Parse error %v is not a *ValidationError with problems", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
	})
}
