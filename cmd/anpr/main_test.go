package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anpr/anpr/internal/config"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestDev runs `anpr dev` on free ports with simulated traffic and waits
// for hits over HTTP, then interrupts it.
func TestDev(t *testing.T) {
	kafkaAddr, httpAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	dir := t.TempDir()
	go func() {
		done <- Run(ctx, []string{"dev", "--log-level", "warn", "--config", "../../testdata/anpr.yaml",
			"--kafka-listen", kafkaAddr, "--http-listen", httpAddr, "--data-dir", dir, "--simulate", "400"})
	}()
	base := "http://" + httpAddr
	tokens := map[string]string{}
	b, err := os.ReadFile("../../testdata/dev-tokens.txt")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) == 2 {
			tokens[f[0]] = f[1]
		}
	}
	get := func(path, role string, header ...string) *http.Response {
		req, _ := http.NewRequest("GET", base+path, nil)
		if role != "" {
			req.Header.Set("Authorization", "Bearer "+tokens[role])
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil
		}
		return resp
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var page struct {
			Hits []json.RawMessage `json:"hits"`
		}
		if resp := get("/api/v1/hits", "dispatch"); resp != nil {
			_ = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
		}
		if len(page.Hits) > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("anpr dev exited early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no hit from the simulated traffic within 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	week := url.QueryEscape(time.Now().AddDate(0, 0, -7).Format(time.RFC3339))
	for _, tt := range []struct {
		path, role string
		header     []string
		want       int
	}{
		{"/api/v1/hits", "", nil, http.StatusUnauthorized},
		{"/api/v1/hits", "investigator", nil, http.StatusForbidden},
		{"/api/v1/violations", "enforcement", nil, http.StatusOK},
		{"/api/v1/sections", "enforcement", nil, http.StatusOK},
		{"/api/v1/passages?plate=1ABC234&from=" + week, "investigator", nil, http.StatusBadRequest},
		{"/api/v1/passages?plate=1ABC234&from=" + week, "investigator", []string{"X-Case-Ref", "PV/1"}, http.StatusOK},
		{"/api/v1/passages?plate=1ABC234", "investigator", []string{"X-Case-Ref", "PV/1"}, http.StatusForbidden},
		{"/api/v1/audit", "auditor", nil, http.StatusOK},
		{"/metrics", "", nil, http.StatusOK},
	} {
		resp := get(tt.path, tt.role, tt.header...)
		if resp == nil {
			t.Fatalf("GET %s: no answer", tt.path)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET %s as %q %v: %d, want %d", tt.path, tt.role, tt.header, resp.StatusCode, tt.want)
		}
	}
	// The hotlist commands go through the API with the admin token.
	for _, args := range [][]string{{"ls"}, {"ls", "stolen", "1-ABC-234"}, {"rm", "stolen", "9ZZZ999"}} {
		if err := Run(context.Background(), append([]string{"hotlist", "--api", base, "--token", tokens["admin"]}, args...)); err != nil {
			t.Errorf("anpr hotlist %v: %v", args, err)
		}
	}
	if err := Run(context.Background(), []string{"hotlist", "ls", "--api", base, "--token", tokens["dispatch"]}); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("anpr hotlist ls as dispatch: %v, want a 403", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("anpr dev stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("anpr dev did not stop within 30 s of the interrupt")
	}
	// The three passage queries (two refused, one answered) are in the
	// trail, and the chain verifies.
	b, err = stdout(t, func() error {
		return Run(context.Background(), []string{"audit", "export", "--data-dir", filepath.Join(dir, "store")})
	})
	if err != nil {
		t.Fatalf("audit export: %v", err)
	}
	export := filepath.Join(t.TempDir(), "export.jsonl")
	if err := os.WriteFile(export, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), `"action":"passages.query"`); n != 3 {
		t.Errorf("audit trail holds %d passage queries, want 3:\n%s", n, b)
	}
	// The refused query without approval is recorded with the case it gave.
	if n := strings.Count(string(b), `"case_ref":"PV/1"`); n != 2 {
		t.Errorf("audit trail names case PV/1 %d times, want 2 (answered and refused):\n%s", n, b)
	}
	if err := Run(context.Background(), []string{"audit", "verify", "--file", export}); err != nil {
		t.Errorf("audit verify: %v", err)
	}
}

// TestServeRefusesInvalidConfig checks that every problem is listed at once.
func TestServeRefusesInvalidConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	bad := `
retention: -1h
cameras:
  - {id: CAM-1, lat: 95, lon: 4}
sections:
  - {id: S1, entry: [CAM-1], exit: [CAM-404], length_m: 0, limit_kmh: 120}
hotlists:
  - {name: stolen, match: psychic}
`
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Run(context.Background(), []string{"serve", "--config", path})
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("serve with a bad config: %v, want a *config.ValidationError", err)
	}
	msg := err.Error()
	for _, want := range []string{"retention", "cameras[0].lat", "sections[0].exit[0]", "sections[0].length_m", "hotlists[0].match"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not name %s:\n%s", want, msg)
		}
	}
	if code := exitCode(err); code != exitConfig {
		t.Errorf("exit code %d, want %d", code, exitConfig)
	}
}

// TestBenchE2E runs a small `anpr bench e2e --json` at saturation and at an
// offered rate: every read goes through, hits come back with latencies, and
// the figures are filled in.
func TestBenchE2E(t *testing.T) {
	for _, rate := range []string{"0", "4000"} {
		b, err := stdout(t, func() error {
			return Run(context.Background(), []string{"bench", "e2e", "--log-level", "warn", "--config", "../../testdata/anpr.yaml",
				"--reads", "8000", "--rate", rate, "--json"})
		})
		if err != nil {
			t.Fatalf("bench e2e --rate %s: %v", rate, err)
		}
		var res struct {
			Reads      int     `json:"reads"`
			ReadsPerS  float64 `json:"reads_per_s"`
			CPU        float64 `json:"cpu_s_per_million"`
			P99        float64 `json:"hit_latency_p99_ms"`
			Hits       int     `json:"hits"`
			RSS        float64 `json:"rss_peak_mb"`
			BytesPerPa float64 `json:"bytes_per_passage"`
		}
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatalf("bench e2e output %q: %v", b, err)
		}
		if res.Reads != 8000 || res.ReadsPerS <= 0 || res.CPU <= 0 || res.Hits == 0 || res.RSS <= 0 || res.BytesPerPa <= 0 {
			t.Errorf("bench e2e --rate %s: %+v", rate, res)
		}
		if rate != "0" && res.P99 <= 0 {
			t.Errorf("bench e2e --rate %s: no hit latency measured: %+v", rate, res)
		}
	}
}

// TestBenchMatcher runs a small `anpr bench matcher --json` in each mode:
// the figures are filled in, and each mode catches more of the traffic's
// misread listed plates than the one before (ocr: the OCR confusions too,
// fuzzy: the plates one edit away too).
func TestBenchMatcher(t *testing.T) {
	var prev float64
	for _, mode := range []string{"exact", "ocr", "fuzzy"} {
		b, err := stdout(t, func() error {
			return Run(context.Background(), []string{"bench", "matcher", "--log-level", "warn", "--config", "../../testdata/anpr.yaml",
				"--entries", "2000", "--mode", mode, "--duration", "100ms", "--json"})
		})
		if err != nil {
			t.Fatalf("bench matcher --mode %s: %v", mode, err)
		}
		var res struct {
			Entries  int     `json:"entries"`
			Checks   int64   `json:"checks"`
			PerCore  float64 `json:"checks_per_s_per_core"`
			Ns       float64 `json:"cpu_ns_per_check"`
			Bytes    float64 `json:"bytes_per_entry"`
			HitsPerM float64 `json:"hits_per_million_checks"`
		}
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatalf("bench matcher output %q: %v", b, err)
		}
		if res.Entries != 2000 || res.Checks <= 0 || res.PerCore <= 0 || res.Ns <= 0 || res.Bytes <= 0 {
			t.Errorf("bench matcher --mode %s: %+v", mode, res)
		}
		if res.HitsPerM <= prev {
			t.Errorf("bench matcher --mode %s: %.0f hits per million checks, want more than the previous mode's %.0f", mode, res.HitsPerM, prev)
		}
		prev = res.HitsPerM
	}
	if err := Run(context.Background(), []string{"bench", "matcher", "--mode", "nearly"}); !errors.Is(err, errUsage) {
		t.Errorf("bench matcher --mode nearly: %v, want a usage error", err)
	}
}

// stdout runs fn with os.Stdout sent to a file and returns what it wrote.
func stdout(t *testing.T, fn func() error) ([]byte, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stdout")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = f
	err = fn()
	os.Stdout = saved
	f.Close()
	b, rerr := os.ReadFile(path)
	if rerr != nil {
		t.Fatal(rerr)
	}
	return b, err
}
