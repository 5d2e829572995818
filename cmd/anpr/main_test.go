package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
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
	go func() {
		done <- Run(ctx, []string{"dev", "--log-level", "warn", "--config", "../../testdata/anpr.yaml",
			"--kafka-listen", kafkaAddr, "--http-listen", httpAddr, "--data-dir", t.TempDir(), "--simulate", "400"})
	}()
	base := "http://" + httpAddr
	deadline := time.Now().Add(60 * time.Second)
	for {
		var page struct {
			Hits []json.RawMessage `json:"hits"`
		}
		if resp, err := http.Get(base + "/api/v1/hits"); err == nil {
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
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("anpr dev stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("anpr dev did not stop within 30 s of the interrupt")
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
