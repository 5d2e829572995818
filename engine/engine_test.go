package engine_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/goleak"

	"github.com/anpr/anpr/engine"
	"github.com/anpr/anpr/internal/broker"
	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/matcher"
	"github.com/anpr/anpr/plate"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// kafka-go keeps idle connections of closed writers' transports for a while.
		goleak.IgnoreTopFunction("github.com/segmentio/kafka-go.(*connPool).discover"),
		goleak.IgnoreAnyFunction("github.com/segmentio/kafka-go/protocol.(*Conn).Read"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

var topics = engine.Topics{Reads: "anpr.reads", DLQ: "anpr.reads.dlq", Hits: "anpr.hits",
	Violations: "anpr.violations", Hotlists: "anpr.hotlists"}

func startBroker(t testing.TB) string {
	t.Helper()
	b, err := broker.Start(broker.Options{Topics: []string{topics.Reads, topics.DLQ, topics.Hits, topics.Violations},
		Compacted: []string{topics.Hotlists}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.Addr()
}

func testConfig(addr, dir string) engine.Config {
	return engine.Config{
		Kafka:   kclient.Config{Brokers: []string{addr}},
		Group:   "anpr-test",
		Topics:  topics,
		DataDir: dir,
		Cameras: []plate.Camera{{ID: "CAM-A", Name: "A"}, {ID: "CAM-B", Name: "B"}},
		Hotlists: []engine.Hotlist{
			{List: matcher.List{Name: "stolen", Mode: matcher.OCR, Suppress: 5 * time.Minute}, File: "testdata/stolen.csv"},
			{List: matcher.List{Name: "uninsured", Mode: matcher.Exact, Suppress: 30 * time.Minute}, File: "testdata/uninsured.csv"},
		},
		HTTPListen: "127.0.0.1:0",
		Logger:     testLogger(),
	}
}

// testLogger logs to stderr when ANPR_TEST_LOG is set (debug, info, ...).
func testLogger() *slog.Logger {
	var level slog.Level
	if v := os.Getenv("ANPR_TEST_LOG"); v == "" || level.UnmarshalText([]byte(v)) != nil {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// running is an engine under test.
type running struct {
	e    *engine.Engine
	base string
	stop func() error
}

func start(t *testing.T, cfg engine.Config) *running {
	t.Helper()
	e, err := engine.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	r := &running{e: e, base: "http://" + e.APIAddr()}
	stopped := false
	r.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		err := <-done
		if cerr := e.Close(); err == nil {
			err = cerr
		}
		return err
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("engine stopped with %v", err)
		}
	})
	waitFor(t, 30*time.Second, "engine ready", func() bool {
		resp, err := http.Get(r.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return r
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readJSON builds a read record value.
func readJSON(id, camera string, ts time.Time, p, country string) []byte {
	return fmt.Appendf(nil, `{"read_id":%q,"camera_id":%q,"ts":%q,"plate":%q,"country":%q,"confidence":0.9,"lane":1,"vehicle_class":"car"}`,
		id, camera, ts.UTC().Format(time.RFC3339Nano), p, country)
}

func produce(t *testing.T, addr string, msgs ...kafka.Message) {
	t.Helper()
	w := kclient.Config{Brokers: []string{addr}}.Writer(topics.Reads)
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func msg(key string, value []byte) kafka.Message {
	return kafka.Message{Key: []byte(key), Value: value}
}

type hitsPage struct {
	Hits []struct {
		ID    string `json:"hit_id"`
		List  string `json:"list"`
		Match string `json:"match"`
		Read  struct {
			ReadID    string `json:"read_id"`
			PlateNorm string `json:"plate_norm"`
		} `json:"read"`
	} `json:"hits"`
	Next string `json:"next"`
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, body)
		}
	}
	return resp.StatusCode
}

// allHits pages through GET /api/v1/hits with small pages.
func allHits(t *testing.T, base string) []string {
	t.Helper()
	var ids []string
	after := ""
	for {
		var page hitsPage
		if code := getJSON(t, base+"/api/v1/hits?limit=2&after="+after, &page); code != http.StatusOK {
			t.Fatalf("GET hits: %d", code)
		}
		for _, h := range page.Hits {
			ids = append(ids, h.ID)
		}
		if len(page.Hits) == 0 {
			return ids
		}
		after = page.Next
	}
}

// consumeTopic reads every record of topic from the start until want
// records have arrived or the deadline passes.
func consumeTopic(t *testing.T, addr, topic string, want int) []kafka.Message {
	t.Helper()
	return consumeUntil(t, addr, topic, func(got []kafka.Message) bool { return len(got) >= want })
}

// consumeUntil reads the records of topic from the start until done says
// so; the test fails after 30 s.
func consumeUntil(t *testing.T, addr, topic string, done func([]kafka.Message) bool) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic,
		GroupID: "check-" + topic + "-" + t.Name(), StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []kafka.Message
	for !done(got) {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("consume %s: stopped after %d records: %v", topic, len(got), err)
		}
		got = append(got, m)
	}
	return got
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func TestEndToEnd(t *testing.T) {
	addr := startBroker(t)
	r := start(t, testConfig(addr, t.TempDir()))
	now := time.Now().UTC().Truncate(time.Millisecond)

	// Good reads, with their expected hits.
	produce(t, addr,
		msg("1ABC234", readJSON("r1", "CAM-A", now, "1-abc-234", "BE")), // stolen (exact) + uninsured
		msg("1A8C234", readJSON("r2", "CAM-B", now, "1-A8C-234", "BE")), // stolen by OCR (B read as 8)
		msg("2XYZ8O8", readJSON("r3", "CAM-A", now, "2-XYZ-8O8", "")),   // stolen by OCR (0 read as O)
		msg("AB123CD", readJSON("r4", "CAM-A", now, "AB-123-CD", "NL")), // country disagrees: no hit
		msg("9ZZZ999", readJSON("r5", "CAM-X", now, "9-ZZZ-999", "BE")), // unknown camera: stored, no hit
		msg("1ABC234", readJSON("r1", "CAM-A", now, "1-abc-234", "BE")), // repeated read_id: nothing new
	)
	// Bad records: each to the DLQ with its reason.
	bad := map[string][]byte{
		"invalid_json":  []byte(`{"read_id":`),
		"missing_field": []byte(`{"read_id":"b2","camera_id":"CAM-A","ts":"2026-11-22T07:00:00Z"}`),
		"invalid_field": []byte(`{"read_id":"b3","camera_id":"CAM-A","ts":"2026-11-22T07:00:00Z","plate":"1ABC234","confidence":1.5}`),
		"future_ts":     readJSON("b4", "CAM-A", now.Add(2*time.Hour), "1ABC234", "BE"),
		"too_large":     []byte(`{"read_id":"b5","camera_id":"CAM-A","ts":"2026-11-22T07:00:00Z","plate":"1ABC234","image_ref":"` + strings.Repeat("x", 5000) + `"}`),
	}
	var badMsgs []kafka.Message
	for reason, v := range bad {
		badMsgs = append(badMsgs, msg("k-"+reason, v))
	}
	produce(t, addr, badMsgs...)

	want := []string{
		matcher.HitID("r1", "stolen", "1ABC234"),
		matcher.HitID("r1", "uninsured", "1ABC234"),
		matcher.HitID("r2", "stolen", "1ABC234"),
		matcher.HitID("r3", "stolen", "2XYZ808"),
	}
	slices.Sort(want)

	var got []string
	waitFor(t, 20*time.Second, "4 hits over HTTP", func() bool {
		got = allHits(t, r.base)
		return len(got) >= len(want)
	})
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("hits over HTTP = %v, want %v", got, want)
	}

	t.Run("hits topic", func(t *testing.T) {
		var ids []string
		for _, m := range consumeTopic(t, addr, topics.Hits, len(want)) {
			var h struct {
				ID   string `json:"hit_id"`
				Read struct {
					PlateNorm string `json:"plate_norm"`
				} `json:"read"`
			}
			if err := json.Unmarshal(m.Value, &h); err != nil {
				t.Fatalf("hit record: %v", err)
			}
			if string(m.Key) != h.Read.PlateNorm {
				t.Errorf("hit %s key = %q, want the normalized plate %q", h.ID, m.Key, h.Read.PlateNorm)
			}
			ids = append(ids, h.ID)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, want) {
			t.Errorf("hits on topic = %v, want %v", ids, want)
		}
	})

	t.Run("dead letters", func(t *testing.T) {
		reasons := map[string]string{}
		for _, m := range consumeTopic(t, addr, topics.DLQ, len(bad)) {
			reasons[string(m.Key)] = header(m, "anpr-error")
			if header(m, "anpr-detail") == "" || !strings.HasPrefix(header(m, "anpr-source"), topics.Reads+"/") {
				t.Errorf("DLQ record %s: headers %v lack detail or source", m.Key, m.Headers)
			}
			if reason := strings.TrimPrefix(string(m.Key), "k-"); string(bad[reason]) != string(m.Value) {
				t.Errorf("DLQ record %s: value changed", m.Key)
			}
		}
		for reason := range bad {
			if got := reasons["k-"+reason]; got != reason {
				t.Errorf("DLQ reason of the %s record = %q", reason, got)
			}
		}
	})

	t.Run("passages", func(t *testing.T) {
		var page struct {
			Passages []struct {
				ReadID   string `json:"read_id"`
				CameraID string `json:"camera_id"`
			} `json:"passages"`
		}
		// The repeated r1 is stored once; the unknown camera's read is stored.
		for plateQ, wantIDs := range map[string][]string{"1ABC234": {"r1"}, "9-zzz-999": {"r5"}, "1A8C234": {"r2"}} {
			if code := getJSON(t, r.base+"/api/v1/passages?plate="+plateQ, &page); code != http.StatusOK {
				t.Fatalf("passages of %s: status %d", plateQ, code)
			}
			var ids []string
			for _, p := range page.Passages {
				ids = append(ids, p.ReadID)
			}
			if !slices.Equal(ids, wantIDs) {
				t.Errorf("passages of %s = %v, want %v", plateQ, ids, wantIDs)
			}
		}
	})

	t.Run("stream", func(t *testing.T) {
		events := readStream(t, r.base, "", len(want))
		var ids []string
		for _, ev := range events {
			ids = append(ids, ev.hitID)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, want) {
			t.Fatalf("stream hits = %v, want %v", ids, want)
		}
		// Resuming after the first event gives the rest, in the same order.
		rest := readStream(t, r.base, events[0].id, len(want)-1)
		for i, ev := range rest {
			if ev.hitID != events[i+1].hitID {
				t.Errorf("resumed event %d = %s, want %s", i, ev.hitID, events[i+1].hitID)
			}
		}
		// A hit stored while the stream is open arrives live.
		live := make(chan []sseEvent, 1)
		go func() { live <- readStream(t, r.base, events[len(events)-1].id, 1) }()
		produce(t, addr, msg("1DEF567", readJSON("r6", "CAM-B", now, "1-DEF-567", "BE")))
		select {
		case evs := <-live:
			if len(evs) != 1 || evs[0].hitID != matcher.HitID("r6", "uninsured", "1DEF567") {
				t.Errorf("live events = %+v", evs)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no live hit on the stream")
		}
	})

	t.Run("http ingest", func(t *testing.T) {
		body := string(readJSON("g1", "CAM-A", now, "1-XYZ-999", "BE")) + "\n" +
			`{"read_id":"g2","camera_id":"CAM-A","ts":"2026-11-22T07:00:00Z"}` + "\n"
		resp, err := http.Post(r.base+"/api/v1/reads", "application/x-ndjson", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var res struct {
			Accepted, Rejected int
			Errors             []struct {
				Index         int
				Reason, Field string
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusAccepted || res.Accepted != 1 || res.Rejected != 1 ||
			len(res.Errors) != 1 || res.Errors[0].Index != 1 || res.Errors[0].Reason != "missing_field" || res.Errors[0].Field != "plate" {
			t.Fatalf("POST reads: %d %+v", resp.StatusCode, res)
		}
		waitFor(t, 20*time.Second, "the posted read as a passage", func() bool {
			var page struct{ Passages []json.RawMessage }
			return getJSON(t, r.base+"/api/v1/passages?plate=1XYZ999", &page) == http.StatusOK && len(page.Passages) == 1
		})
		resp2, err := http.Post(r.base+"/api/v1/reads", "application/json", strings.NewReader(`[{"read_id":`))
		if err != nil {
			t.Fatal(err)
		}
		resp2.Body.Close()
		if resp2.StatusCode != http.StatusBadRequest {
			t.Errorf("POST of a broken JSON array: status %d, want 400", resp2.StatusCode)
		}
	})

	t.Run("api errors", func(t *testing.T) {
		for _, tc := range []struct {
			path string
			code int
			want string
		}{
			{"/api/v1/hits?after=forged", http.StatusBadRequest, "bad_cursor"},
			{"/api/v1/hits?limit=-3", http.StatusBadRequest, "bad_limit"},
			{"/api/v1/passages?plate=1ABC234&after=AAAA", http.StatusBadRequest, "bad_cursor"},
			{"/api/v1/passages?plate=1ABC234&from=2026-11-23T00:00:00Z&to=2026-11-22T00:00:00Z", http.StatusBadRequest, "bad_window"},
			{"/api/v1/passages?plate=1ABC234&from=yesterday", http.StatusBadRequest, "bad_time"},
			{"/api/v1/passages?plate=1*", http.StatusBadRequest, "bad_pattern"},
			{"/api/v1/passages?plate=-", http.StatusBadRequest, "bad_plate"},
			{"/api/v1/nothing", http.StatusNotFound, "not_found"},
		} {
			resp, err := http.Get(r.base + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			var e struct{ Error, Code string }
			err = json.NewDecoder(resp.Body).Decode(&e)
			resp.Body.Close()
			if resp.StatusCode != tc.code || err != nil || e.Code != tc.want || e.Error == "" {
				t.Errorf("GET %s: %d %+v (%v), want %d %s", tc.path, resp.StatusCode, e, err, tc.code, tc.want)
			}
		}
	})

	t.Run("kcat", func(t *testing.T) {
		kcat, err := exec.LookPath("kcat")
		if err != nil {
			t.Skip("kcat not installed (.ci/run installs it)")
		}
		in := "1ABC234:" + string(readJSON("k1", "CAM-B", now, "1 ABC 234", "BE")) + "\n"
		cmd := exec.Command(kcat, "-b", addr, "-P", "-t", topics.Reads, "-K:", "-z", "lz4",
			"-X", "acks=all", "-X", "partitioner=murmur2_random")
		cmd.Stdin = strings.NewReader(in)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat: %v: %s", err, out)
		}
		id := matcher.HitID("k1", "stolen", "1ABC234")
		waitFor(t, 20*time.Second, "the hit of the kcat read", func() bool { return slices.Contains(allHits(t, r.base), id) })
	})
}

type sseEvent struct{ id, hitID string }

// readStream opens the hit stream after cursor and returns the first n
// events.
func readStream(t *testing.T, base, cursor string, n int) []sseEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/hits/stream", nil)
	if cursor != "" {
		req.Header.Set("Last-Event-ID", cursor)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("stream: %v", err)
		return nil
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("stream content type %q", ct)
	}
	var evs []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for len(evs) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "data: "):
			var h struct {
				ID string `json:"hit_id"`
			}
			if err := json.Unmarshal([]byte(line[6:]), &h); err != nil {
				t.Errorf("stream data: %v", err)
			}
			cur.hitID = h.ID
		case line == "" && cur.hitID != "":
			evs = append(evs, cur)
			cur = sseEvent{}
		}
	}
	return evs
}

// TestRestart stops the engine in mid-stream and starts it again on the
// same data directory and broker: no passage or hit is missing or doubled.
func TestRestart(t *testing.T) {
	addr := startBroker(t)
	dir := t.TempDir()
	cfg := testConfig(addr, dir)
	const n, plates = 3000, 300
	now := time.Now().UTC().Truncate(time.Millisecond)
	var msgs []kafka.Message
	var wantHits []string
	for i := range n {
		id := fmt.Sprintf("rr%d", i)
		ts := now.Add(time.Duration(i-n) * time.Millisecond)
		if i%100 == 0 {
			// A listed plate, read at a new camera each time so no hit is suppressed.
			p := "1ABC234"
			msgs = append(msgs, msg(p, readJSON(id, fmt.Sprintf("CAM-%d", i), ts, p, "BE")))
			wantHits = append(wantHits, matcher.HitID(id, "stolen", p), matcher.HitID(id, "uninsured", p))
			continue
		}
		p := fmt.Sprintf("%dRS%04d", i%10, i%plates)
		msgs = append(msgs, msg(p, readJSON(id, "CAM-A", ts, p, "BE")))
	}
	slices.Sort(wantHits)

	r := start(t, cfg)
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		produceSlowly(addr, msgs)
	}()
	defer func() { <-produced }()
	waitFor(t, 30*time.Second, "a third of the hits", func() bool { return len(allHits(t, r.base)) >= len(wantHits)/3 })
	if err := r.stop(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	t.Logf("stopped after %d of %d passages", countPassages(t, dir, msgs), n)

	r = start(t, cfg)
	<-produced
	waitFor(t, 60*time.Second, "every passage after restart", func() bool { return passagesOverAPI(t, r.base, msgs) == n })
	got := allHits(t, r.base)
	if err := r.stop(); err != nil {
		t.Fatalf("second run: %v", err)
	}
	slices.Sort(got)
	if !slices.Equal(got, wantHits) {
		t.Errorf("hits after restart: got %d, want %d (doubled or missing)", len(got), len(wantHits))
	}
	if got := countPassages(t, dir, msgs); got != n {
		t.Errorf("passages after restart = %d, want %d", got, n)
	}
}

// passagesOverAPI counts the distinct read ids of the passages of the
// plates in msgs, as the API answers them.
func passagesOverAPI(t *testing.T, base string, msgs []kafka.Message) int {
	t.Helper()
	ids := map[string]bool{}
	done := map[string]bool{}
	for _, m := range msgs {
		if done[string(m.Key)] {
			continue
		}
		done[string(m.Key)] = true
		var page struct {
			Passages []struct {
				ReadID string `json:"read_id"`
			} `json:"passages"`
		}
		if code := getJSON(t, base+"/api/v1/passages?limit=1000&plate="+string(m.Key), &page); code != http.StatusOK {
			t.Fatalf("passages: status %d", code)
		}
		for _, p := range page.Passages {
			ids[p.ReadID] = true
		}
	}
	return len(ids)
}

// produceSlowly writes msgs in small paced batches so that a stop lands
// mid-stream.
func produceSlowly(addr string, msgs []kafka.Message) {
	w := kclient.Config{Brokers: []string{addr}}.Writer(topics.Reads)
	defer w.Close()
	for i := 0; i < len(msgs); i += 50 {
		_ = w.WriteMessages(context.Background(), msgs[i:min(i+50, len(msgs))]...)
		time.Sleep(10 * time.Millisecond)
	}
}

// countPassages opens the store (the engine must be closed) and counts the
// passages of the plates in msgs, each read id once.
func countPassages(t *testing.T, dir string, msgs []kafka.Message) int {
	t.Helper()
	seen := storedReadIDs(t, dir, msgs)
	for id, c := range seen {
		if c != 1 {
			t.Errorf("read %s stored %d times", id, c)
		}
	}
	return len(seen)
}

// storedReadIDs opens the store (the engine must be closed) and returns how
// many times each read id of the plates in msgs is stored.
func storedReadIDs(t *testing.T, dir string, msgs []kafka.Message) map[string]int {
	t.Helper()
	s, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seen := map[string]int{}
	done := map[string]bool{}
	for _, m := range msgs {
		if done[string(m.Key)] {
			continue
		}
		done[string(m.Key)] = true
		reads, _, err := s.Passages(store.PassageQuery{Plate: string(m.Key), Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, rd := range reads {
			seen[rd.ReadID]++
		}
	}
	return seen
}
