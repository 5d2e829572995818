package engine_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/anpr/anpr/internal/store"
)

// TestRetention runs the engine with short retentions: the hit goes first
// (hit_retention), then the passage (retention), from the API and from the
// store itself.
func TestRetention(t *testing.T) {
	addr := startBroker(t)
	dir := t.TempDir()
	cfg := testConfig(addr, dir)
	cfg.Retention, cfg.HitRetention = 8*time.Second, 4*time.Second
	r := start(t, cfg)
	produce(t, addr, msg("1ABC234", readJSON("ret-1", "CAM-A", time.Now(), "1-ABC-234", "BE")))

	passages := func() int {
		var page struct {
			Passages []any `json:"passages"`
		}
		if code := getJSON(t, r.base+"/api/v1/passages?plate=1ABC234", &page); code != http.StatusOK {
			t.Fatalf("passages: %d", code)
		}
		return len(page.Passages)
	}
	waitFor(t, 4*time.Second, "the hit and the passage", func() bool { return len(allHits(t, r.base)) > 0 && passages() == 1 })
	waitFor(t, 10*time.Second, "the hit to expire", func() bool { return len(allHits(t, r.base)) == 0 })
	if n := passages(); n != 1 {
		t.Fatalf("passage gone with the hit (%d left), want it kept until its own retention", n)
	}
	waitFor(t, 10*time.Second, "the passage to expire", func() bool { return passages() == 0 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reads, _, err := s.Passages(store.PassageQuery{Plate: "1ABC234"})
	evs, _, err2 := s.Events(store.Hits, "", 10)
	if err != nil || err2 != nil || len(reads) != 0 || len(evs) != 0 {
		t.Errorf("store after retention: %d passages, %d hits (%v, %v); want none", len(reads), len(evs), err, err2)
	}
}
