package engine_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/matcher"
)

// TestHotlistFeed changes a list over HTTP: the change goes through the
// hotlist topic into the matcher; reads hit or stop hitting; a restarted
// engine rebuilds the lists from the topic.
func TestHotlistFeed(t *testing.T) {
	addr := startBroker(t)
	dir := t.TempDir()
	cfg := testConfig(addr, dir)
	r := start(t, cfg)

	send := func(method, path, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, r.base+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	listed := func(base, p string) bool {
		var page struct {
			Entries []matcher.Entry `json:"entries"`
		}
		if code := getJSON(t, base+"/api/v1/hotlists/uninsured/entries?plate="+p, &page); code != http.StatusOK {
			t.Fatalf("entries: %d", code)
		}
		return len(page.Entries) == 1
	}
	if code := send("POST", "/api/v1/hotlists/uninsured/entries",
		`[{"plate":"9-NEW-001","country":"BE","reason":"test"},{"plate":"9-NEW-002"},{"plate":"!"}]`); code != http.StatusAccepted {
		t.Fatalf("POST entries: %d", code)
	}
	if code := send("POST", "/api/v1/hotlists/nope/entries", `{"plate":"9NEW003"}`); code != http.StatusNotFound {
		t.Errorf("POST to an unknown list: %d, want 404", code)
	}
	waitFor(t, 10*time.Second, "the entries in force", func() bool { return listed(r.base, "9NEW001") && listed(r.base, "9NEW002") })

	produce(t, addr, msg("9NEW001", readJSON("hl-1", "CAM-A", time.Now(), "9-NEW-001", "BE")))
	want := matcher.HitID("hl-1", "uninsured", "9NEW001")
	waitFor(t, 10*time.Second, "the hit of the new entry", func() bool { return slices.Contains(allHits(t, r.base), want) })

	if code := send("DELETE", "/api/v1/hotlists/uninsured/entries/9-NEW-001", ""); code != http.StatusAccepted {
		t.Fatalf("DELETE: %d", code)
	}
	waitFor(t, 10*time.Second, "the delete in force", func() bool { return !listed(r.base, "9NEW001") })
	// A read after the delete is stored, and does not hit.
	produce(t, addr, msg("9NEW001", readJSON("hl-2", "CAM-B", time.Now(), "9-NEW-001", "BE")))
	waitFor(t, 10*time.Second, "the read after the delete", func() bool {
		return passagesOverAPI(t, r.base, []kafka.Message{msg("9NEW001", nil)}) == 2
	})
	if slices.Contains(allHits(t, r.base), matcher.HitID("hl-2", "uninsured", "9NEW001")) {
		t.Error("a read hit a deleted entry")
	}

	// A CSV import: with strict and a bad row nothing goes out; without,
	// the good rows do. Each is audited with the count it wrote.
	csv := "list,plate,reason\nuninsured,9-NEW-004,test\nuninsured,!,bad\nuninsured,9-NEW-005,test\n"
	importCSV := func(query string) (applied, rejected int) {
		t.Helper()
		resp, err := http.Post(r.base+"/api/v1/hotlists/uninsured/import"+query, "text/csv", strings.NewReader(csv))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var res struct{ Applied, Rejected int }
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("import%s: %d %v", query, resp.StatusCode, err)
		}
		return res.Applied, res.Rejected
	}
	if a, rej := importCSV("?strict=true"); a != 0 || rej != 1 {
		t.Errorf("strict import: applied %d, rejected %d; want 0, 1", a, rej)
	}
	if a, rej := importCSV(""); a != 2 || rej != 1 {
		t.Errorf("import: applied %d, rejected %d; want 2, 1", a, rej)
	}
	waitFor(t, 10*time.Second, "the imported entries in force", func() bool { return listed(r.base, "9NEW004") && listed(r.base, "9NEW005") })
	var trail struct {
		Records []struct {
			Action  string
			Results int
		}
	}
	if code := getJSON(t, r.base+"/api/v1/audit", &trail); code != http.StatusOK {
		t.Fatalf("audit: %d", code)
	}
	var imports []int
	for _, rec := range trail.Records {
		if rec.Action == "hotlist.import" {
			imports = append(imports, rec.Results)
		}
	}
	if !slices.Equal(imports, []int{0, 2}) {
		t.Errorf("audited imports wrote %v entries, want [0 2]", imports)
	}

	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	r = start(t, cfg)
	if listed(r.base, "9NEW001") || !listed(r.base, "9NEW002") {
		t.Errorf("after restart: deleted entry listed %v, kept entry listed %v; want false, true",
			listed(r.base, "9NEW001"), listed(r.base, "9NEW002"))
	}
}
