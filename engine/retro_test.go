package engine_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/engine"
	"github.com/anpr/anpr/matcher"
)

// TestRetroHits stores passages, then adds entries to lists with a retro
// window through the hotlist topic: the passages within the window hit
// (kind retro) in the hit log and on the hits topic, exactly (uninsured),
// after the OCR mapping (stolen) and one edit away (wanted); one older than the window does not;
// adding the entry again raises nothing new.
func TestRetroHits(t *testing.T) {
	addr := startBroker(t)
	cfg := testConfig(addr, t.TempDir())
	cfg.Hotlists[0].Retro = 720 * time.Hour
	cfg.Hotlists[1].Retro = 720 * time.Hour
	empty := filepath.Join(t.TempDir(), "wanted.csv")
	if err := os.WriteFile(empty, []byte("list,plate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Hotlists = append(cfg.Hotlists, engine.Hotlist{List: matcher.List{Name: "wanted", Mode: matcher.Fuzzy, MaxDistance: 1}, File: empty, Retro: 720 * time.Hour})
	r := start(t, cfg)
	now := time.Now()
	reads := []kafka.Message{
		msg("9RET001", readJSON("rt-1", "CAM-A", now.Add(-2*time.Hour), "9-RET-001", "BE")),
		msg("9RET001", readJSON("rt-2", "CAM-B", now.Add(-10*24*time.Hour), "9-RET-001", "BE")),
		msg("9RET001", readJSON("rt-3", "CAM-A", now.Add(-40*24*time.Hour), "9-RET-001", "BE")), // before the window
		msg("9RET002", readJSON("rt-4", "CAM-B", now.Add(-5*time.Hour), "9-RET-002", "BE")),
		msg("9RETXYZ", readJSON("rt-5", "CAM-B", now.Add(-5*time.Hour), "9-RET-XYZ", "BE")),
		msg("9RET7Z9", readJSON("rt-6", "CAM-A", now.Add(-6*time.Hour), "9-RET-7Z9", "BE")),
	}
	produce(t, addr, reads...)
	waitFor(t, 10*time.Second, "the passages stored", func() bool { return passagesOverAPI(t, r.base, reads) == len(reads) })

	post := func(list, body string) {
		t.Helper()
		resp, err := http.Post(r.base+"/api/v1/hotlists/"+list+"/entries", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST %s: %d", list, resp.StatusCode)
		}
	}
	post("uninsured", `{"plate":"9-RET-001","country":"BE"}`)
	post("stolen", `{"plate":"9-RET-OO2","country":"BE"}`) // O for 0: an OCR match of 9RET002
	post("wanted", `{"plate":"9-RFT-7Z9","country":"BE"}`) // one edit from 9RET7Z9
	want := []string{
		matcher.HitID("rt-1", "uninsured", "9RET001"),
		matcher.HitID("rt-2", "uninsured", "9RET001"),
		matcher.HitID("rt-4", "stolen", "9RETOO2"),
		matcher.HitID("rt-6", "wanted", "9RFT7Z9"),
	}
	slices.Sort(want)
	waitFor(t, 10*time.Second, "the retro hits", func() bool {
		got := allHits(t, r.base)
		return len(got) >= len(want)
	})
	got := allHits(t, r.base)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("hit log %v, want %v", got, want)
	}
	var page struct{ Hits []struct{ Kind string } }
	getJSON(t, r.base+"/api/v1/hits", &page)
	for _, h := range page.Hits {
		if h.Kind != "retro" {
			t.Errorf("hit of kind %q, want retro", h.Kind)
		}
	}
	msgs := consumeTopic(t, addr, topics.Hits, len(want))
	var onTopic []string
	for _, m := range msgs {
		for _, id := range want {
			if bytes.Contains(m.Value, []byte(id)) && bytes.Contains(m.Value, []byte(`"kind":"retro"`)) {
				onTopic = append(onTopic, id)
			}
		}
	}
	slices.Sort(onTopic)
	if !slices.Equal(onTopic, want) {
		t.Errorf("on the hits topic %v, want %v", onTopic, want)
	}

	// The same entry added again: the search runs again and finds hits
	// already in the log; a new passage and entry show it did run.
	post("uninsured", `{"plate":"9-RET-001","country":"BE"}`)
	post("uninsured", `{"plate":"9-RET-XYZ","country":"BE"}`)
	want5 := matcher.HitID("rt-5", "uninsured", "9RETXYZ")
	waitFor(t, 10*time.Second, "the last retro hit", func() bool { return slices.Contains(allHits(t, r.base), want5) })
	if got := allHits(t, r.base); len(got) != len(want)+1 {
		t.Errorf("hit log after adding an entry again: %d hits, want %d", len(got), len(want)+1)
	}
}
