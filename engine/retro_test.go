package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/anpr/anpr/engine"
	"github.com/anpr/anpr/hotlist"
	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/matcher"
)

// TestRetroHits stores passages, then adds entries to lists with a retro
// window through the hotlist topic: the passages within the window hit
// (kind retro) in the hit log and on the hits topic, exactly (uninsured),
// after the OCR mapping (stolen) and one edit away (wanted); one older than the window does not,
// nor one within the list's suppress window at the same camera; each search is audited;
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
		msg("9RET001", readJSON("rt-3", "CAM-A", now.Add(-40*24*time.Hour), "9-RET-001", "BE")),         // before the window
		msg("9RET001", readJSON("rt-7", "CAM-A", now.Add(-2*time.Hour+time.Minute), "9-RET-001", "BE")), // suppressed: rt-1's camera, 1 min later
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

	var trail struct {
		Records []struct {
			Action, Query string
			Results       int
		}
	}
	getJSON(t, r.base+"/api/v1/audit?limit=1000", &trail)
	searches := map[string]int{}
	for _, rec := range trail.Records {
		if rec.Action == "passages.retro" {
			searches[strings.Fields(rec.Query)[0]] += rec.Results
		}
	}
	if w := map[string]int{"list=uninsured": 2, "list=stolen": 1, "list=wanted": 1}; !maps.Equal(searches, w) {
		t.Errorf("audited retro searches found %v, want %v", searches, w)
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

// retroConfig is testConfig with a retro window on uninsured.
func retroConfig(addr, dir string) engine.Config {
	cfg := testConfig(addr, dir)
	cfg.Hotlists[1].Retro = 720 * time.Hour
	return cfg
}

// publishEntry writes an entry to the hotlist topic as an outside client
// would, with no engine running.
func publishEntry(t *testing.T, addr string, e matcher.Entry) {
	t.Helper()
	p, err := hotlist.NewPublisher(hotlist.Config{Kafka: kclient.Config{Brokers: []string{addr}}, Topic: topics.Hotlists})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Put(context.Background(), []matcher.Entry{e}); err != nil {
		t.Fatal(err)
	}
}

// retroOnTopic counts, per hit id, the retro hits on the hits topic: all
// of its records up to its end now.
func retroOnTopic(t *testing.T, addr string) map[string]int {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(addr), Transport: tr}
	var req []kafka.OffsetRequest
	for p := range 12 {
		req = append(req, kafka.LastOffsetOf(p))
	}
	res, err := c.ListOffsets(context.Background(), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topics.Hits: req}})
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, po := range res.Topics[topics.Hits] {
		if po.Error != nil {
			t.Fatal(po.Error)
		}
		size += po.LastOffset
	}
	n := map[string]int{}
	for _, m := range consumeTopic(t, addr, topics.Hits, int(size)) {
		var h struct {
			ID   string `json:"hit_id"`
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(m.Value, &h); err != nil {
			t.Fatalf("hit %s: %v", m.Value, err)
		}
		if h.Kind == "retro" {
			n[h.ID]++
		}
	}
	return n
}

// TestRetroWhileStopped: an entry put on the hotlist topic while no engine
// runs is searched when the engine starts; a second restart searches it
// no more, and each retro hit is on the hits topic once.
func TestRetroWhileStopped(t *testing.T) {
	addr := startBroker(t)
	cfg := retroConfig(addr, t.TempDir())
	now := time.Now()
	reads := []kafka.Message{
		msg("9STP001", readJSON("st-1", "CAM-A", now.Add(-3*time.Hour), "9-STP-001", "BE")),
		msg("9STP001", readJSON("st-2", "CAM-B", now.Add(-9*24*time.Hour), "9-STP-001", "BE")),
		msg("9STP002", readJSON("st-3", "CAM-A", now.Add(-time.Hour), "9-STP-002", "BE")),
	}
	r := start(t, cfg)
	produce(t, addr, reads...)
	waitFor(t, 10*time.Second, "the passages stored", func() bool { return passagesOverAPI(t, r.base, reads) == len(reads) })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	publishEntry(t, addr, matcher.Entry{List: "uninsured", Plate: "9-STP-001", Country: "BE"})
	want := []string{matcher.HitID("st-1", "uninsured", "9STP001"), matcher.HitID("st-2", "uninsured", "9STP001")}
	slices.Sort(want)
	r = start(t, cfg)
	waitFor(t, 10*time.Second, "the retro hits after start", func() bool { return len(allHits(t, r.base)) >= len(want) })
	if got := allHits(t, r.base); !slices.Equal(sorted(got), want) {
		t.Fatalf("hit log %v, want %v", got, want)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	// Started again: nothing is searched again. An entry added now is
	// searched after whatever the start queued, and a hit is published
	// before it is stored: once its hit is stored, every retro hit is on
	// the topic.
	r = start(t, cfg)
	publishEntry(t, addr, matcher.Entry{List: "uninsured", Plate: "9-STP-002", Country: "BE"})
	sentinel := matcher.HitID("st-3", "uninsured", "9STP002")
	waitFor(t, 10*time.Second, "the last entry's hit", func() bool { return slices.Contains(allHits(t, r.base), sentinel) })
	n := retroOnTopic(t, addr)
	for _, id := range append(want, sentinel) {
		if n[id] != 1 {
			t.Errorf("hit %s on the topic %d times, want once", id, n[id])
		}
	}
	if got := allHits(t, r.base); len(got) != len(want)+1 {
		t.Errorf("hit log holds %d hits, want %d", len(got), len(want)+1)
	}
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}

// startFaultyBroker starts a kfake broker like startBroker whose produce
// requests to the hits topic are refused while *refuse is true.
func startFaultyBroker(t *testing.T, refuse *atomic.Bool) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(12), kfake.AllowAutoTopicCreation(),
		kfake.SeedTopics(12, topics.Reads, topics.DLQ, topics.Hits, topics.Violations))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.CreateTopic(topics.Hotlists, 12, map[string]string{"cleanup.policy": "compact"}); err != nil {
		t.Fatal(err)
	}
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		if !refuse.Load() || !slices.ContainsFunc(pr.Topics, func(tp kmsg.ProduceRequestTopic) bool { return tp.Topic == topics.Hits }) {
			return nil, nil, false
		}
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, tp := range pr.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = tp.Topic
			for _, p := range tp.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = 29 // TOPIC_AUTHORIZATION_FAILED: not retried
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	return c.ListenAddrs()[0]
}

// TestRetroPublishFailure: the hits topic refuses the retro hits of an
// entry; the engine stops with the error and has stored none of them (a
// stored hit was published). Started again with the topic writable, it
// searches the entry again: the hits are published, with their stable
// ids, and stored once.
func TestRetroPublishFailure(t *testing.T) {
	var refuse atomic.Bool
	addr := startFaultyBroker(t, &refuse)
	dir := t.TempDir()
	cfg := retroConfig(addr, dir)
	now := time.Now()
	reads := []kafka.Message{
		msg("9PF0001", readJSON("pf-1", "CAM-A", now.Add(-2*time.Hour), "9-PF-0001", "BE")),
		msg("9PF0001", readJSON("pf-2", "CAM-B", now.Add(-4*24*time.Hour), "9-PF-0001", "BE")),
	}
	e, err := engine.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Run(context.Background()) }()
	base := "http://" + e.APIAddr()
	produce(t, addr, reads...)
	waitFor(t, 30*time.Second, "the passages stored", func() bool { return passagesOverAPI(t, base, reads) == len(reads) })

	refuse.Store(true)
	publishEntry(t, addr, matcher.Entry{List: "uninsured", Plate: "9-PF-0001", Country: "BE"})
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the engine kept running with retro hits it could not publish")
	}
	if cerr := e.Close(); cerr != nil {
		t.Errorf("close: %v", cerr)
	}
	if err == nil || !strings.Contains(err.Error(), "retro") {
		t.Fatalf("Run returned %v, want the retro publication's error", err)
	}
	t.Logf("Run: %v", err)
	s, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	evs, _, err := s.Events(store.Hits, "", 100)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 0 {
		t.Fatalf("%d hits stored though none was published", len(evs))
	}

	refuse.Store(false)
	r := start(t, cfg)
	want := []string{matcher.HitID("pf-1", "uninsured", "9PF0001"), matcher.HitID("pf-2", "uninsured", "9PF0001")}
	slices.Sort(want)
	waitFor(t, 10*time.Second, "the hits stored", func() bool { return len(allHits(t, r.base)) >= len(want) })
	if got := allHits(t, r.base); !slices.Equal(sorted(got), want) {
		t.Errorf("hit log %v, want %v", got, want)
	}
	n := retroOnTopic(t, addr) // published before stored
	for _, id := range want {
		if n[id] != 1 {
			t.Errorf("hit %s on the topic %d times, want once", id, n[id])
		}
	}
}

// TestRetroBadCursor: a retro cursor the engine cannot read makes it
// search every entry on the hotlist topic at start, rather than none.
func TestRetroBadCursor(t *testing.T) {
	addr := startBroker(t)
	dir := t.TempDir()
	cfg := retroConfig(addr, dir)
	now := time.Now()
	reads := []kafka.Message{msg("9BAD001", readJSON("bc-1", "CAM-A", now.Add(-time.Hour), "9-BAD-001", "BE"))}
	r := start(t, cfg)
	produce(t, addr, reads...)
	waitFor(t, 10*time.Second, "the passage stored", func() bool { return passagesOverAPI(t, r.base, reads) == 1 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	// Put while stopped, and the cursor then damaged.
	publishEntry(t, addr, matcher.Entry{List: "uninsured", Plate: "9-BAD-001", Country: "BE"})
	s, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Write(&store.Batch{State: []store.State{{Key: "retro/" + topics.Hotlists, Value: []byte("{not json")}}})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	r = start(t, cfg)
	want := matcher.HitID("bc-1", "uninsured", "9BAD001")
	waitFor(t, 10*time.Second, "the retro hit", func() bool { return slices.Contains(allHits(t, r.base), want) })
}

// TestRetroTwoInstances: two instances in one consumer group, each with its
// own store, follow the same hotlist topic: an entry put is searched by
// both, each in its own store, and together they raise every retro hit,
// each from the store that holds its read.
func TestRetroTwoInstances(t *testing.T) {
	addr := startBroker(t)
	a := start(t, retroConfig(addr, t.TempDir()))
	b := start(t, retroConfig(addr, t.TempDir()))
	now := time.Now()
	var reads []kafka.Message
	var want []string
	for i := range 24 {
		p := fmt.Sprintf("7TW%04d", i)
		id := fmt.Sprintf("tw-%d", i)
		reads = append(reads, msg(p, readJSON(id, "CAM-A", now.Add(-time.Duration(i+1)*time.Hour), p, "BE")))
		want = append(want, matcher.HitID(id, "uninsured", p))
	}
	slices.Sort(want)
	produce(t, addr, reads...)
	// Each plate is read once: it is stored on one instance (or on both,
	// after a rebalance) and never missing from both.
	stored := func() int {
		n := 0
		for _, m := range reads {
			if passagesOverAPI(t, a.base, []kafka.Message{m})+passagesOverAPI(t, b.base, []kafka.Message{m}) > 0 {
				n++
			}
		}
		return n
	}
	waitFor(t, 30*time.Second, "the passages stored", func() bool { return stored() == len(reads) })
	t.Logf("passages: %d on one instance, %d on the other",
		passagesOverAPI(t, a.base, reads), passagesOverAPI(t, b.base, reads))

	for i := range reads {
		publishEntry(t, addr, matcher.Entry{List: "uninsured", Plate: string(reads[i].Key), Country: "BE"})
	}
	union := func() []string {
		ids := append(allHits(t, a.base), allHits(t, b.base)...)
		slices.Sort(ids)
		return slices.Compact(ids)
	}
	waitFor(t, 20*time.Second, "every retro hit", func() bool { return len(union()) >= len(want) })
	if got := union(); !slices.Equal(got, want) {
		t.Fatalf("hits of both instances %v, want %v", got, want)
	}
	// Each instance has the hits of exactly the reads it stores.
	for _, r := range []*running{a, b} {
		var mine []string
		for i, m := range reads {
			if passagesOverAPI(t, r.base, []kafka.Message{m}) > 0 {
				mine = append(mine, matcher.HitID(fmt.Sprintf("tw-%d", i), "uninsured", string(m.Key)))
			}
		}
		slices.Sort(mine)
		if got := sorted(allHits(t, r.base)); !slices.Equal(got, mine) {
			t.Errorf("an instance has hits %v, want those of its own passages %v", got, mine)
		}
	}
}
