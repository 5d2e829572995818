package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/engine"
	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/plate"
	"github.com/anpr/anpr/sectioncontrol"
)

// sectionTraffic is a planted set of passages through two sections: every
// third vehicle speeds, one enters and never leaves, one leaves without
// having entered.
type sectionTraffic struct {
	msgs []kafka.Message
	// want maps each violating plate to its entry and exit read ids.
	want map[string][2]string
	// paired counts the vehicles that pass each section.
	paired map[string]int
}

func sectionConfig(addr, dir string) engine.Config {
	cfg := testConfig(addr, dir)
	cert := func(id string) plate.Certificate {
		return plate.Certificate{ID: "MET-" + id, ValidUntil: time.Now().AddDate(1, 0, 0)}
	}
	for _, id := range []string{"CAM-E1", "CAM-X1", "CAM-E2", "CAM-X2"} {
		cfg.Cameras = append(cfg.Cameras, plate.Camera{ID: id, Certificate: cert(id)})
	}
	cfg.SectionControl = sectioncontrol.Config{Sections: []sectioncontrol.Section{
		{ID: "S1", Entry: []string{"CAM-E1"}, Exit: []string{"CAM-X1"}, LengthM: 5000, LimitKmh: 120, IdleFlush: 500 * time.Millisecond, MaxLateness: 10 * time.Second},
		{ID: "S2", Entry: []string{"CAM-E2"}, Exit: []string{"CAM-X2"}, LengthM: 3000, LimitKmh: 90, IdleFlush: 500 * time.Millisecond, MaxLateness: 10 * time.Second},
	}}
	return cfg
}

func newSectionTraffic(vehicles int) sectionTraffic {
	tr := sectionTraffic{want: map[string][2]string{}, paired: map[string]int{}}
	base := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Millisecond)
	type rd struct {
		ts    time.Time
		value []byte
		key   string
	}
	var reads []rd
	add := func(id, camera, p string, ts time.Time) {
		v := fmt.Appendf(nil, `{"read_id":%q,"camera_id":%q,"ts":%q,"plate":%q,"country":"BE","confidence":0.97,"lane":2,"vehicle_class":"car","image_ref":"s3://img/%s.jpg"}`,
			id, camera, ts.Format(time.RFC3339Nano), p, id)
		reads = append(reads, rd{ts, v, p})
	}
	for k := range vehicles {
		sec, e, x, length, limit := "S1", "CAM-E1", "CAM-X1", 5000.0, 120.0
		if k%2 == 1 {
			sec, e, x, length, limit = "S2", "CAM-E2", "CAM-X2", 3000, 90
		}
		p := fmt.Sprintf("%dSC%04d", k%10, k)
		entry := base.Add(time.Duration(k) * 2 * time.Second)
		speed := limit - 20
		if k%3 == 0 {
			speed = limit + 40
		}
		exit := entry.Add(time.Duration(length / speed * 3.6 * float64(time.Second))).Truncate(time.Millisecond)
		eid, xid := fmt.Sprintf("sc-%d-e", k), fmt.Sprintf("sc-%d-x", k)
		add(eid, e, p, entry)
		add(xid, x, p, exit)
		tr.paired[sec]++
		if k%3 == 0 {
			tr.want[p] = [2]string{eid, xid}
		}
	}
	// Early in the stream, so that later reads move the watermark past them.
	early := base.Add(time.Duration(vehicles) / 4 * 2 * time.Second)
	add("sc-noexit", "CAM-E1", "9NOEXIT", early)
	add("sc-noentry", "CAM-X2", "9NOENTRY", early)
	// Gateways deliver out of order by up to a few seconds.
	slices.SortFunc(reads, func(a, b rd) int { return a.ts.Compare(b.ts) })
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range reads {
		j := min(i+rng.IntN(3), len(reads)-1)
		if reads[j].ts.Sub(reads[i].ts) < 10*time.Second {
			reads[i], reads[j] = reads[j], reads[i]
		}
	}
	for _, r := range reads {
		tr.msgs = append(tr.msgs, msg(r.key, r.value))
	}
	return tr
}

type violationJSON struct {
	ID        string  `json:"violation_id"`
	SectionID string  `json:"section_id"`
	Plate     string  `json:"plate"`
	Corrected float64 `json:"corrected_kmh"`
	Limit     float64 `json:"limit_kmh"`
	Entry     struct {
		ReadID   string `json:"read_id"`
		ImageRef string `json:"image_ref"`
		Lane     int    `json:"lane"`
	} `json:"entry"`
	Exit struct {
		ReadID   string `json:"read_id"`
		ImageRef string `json:"image_ref"`
	} `json:"exit"`
}

// allViolations pages through GET /api/v1/violations.
func allViolations(t *testing.T, base, query string) []violationJSON {
	t.Helper()
	var all []violationJSON
	after := ""
	for {
		var page struct {
			Violations []violationJSON `json:"violations"`
			Next       string          `json:"next"`
		}
		if code := getJSON(t, base+"/api/v1/violations?limit=7&after="+after+query, &page); code != http.StatusOK {
			t.Fatalf("GET violations: %d", code)
		}
		all = append(all, page.Violations...)
		if page.Next == after {
			return all
		}
		after = page.Next
	}
}

// checkViolations compares the stored violations with the planted ones:
// each once, with its evidence complete.
func checkViolations(t *testing.T, got []violationJSON, tr sectionTraffic) {
	t.Helper()
	ids := map[string]bool{}
	plates := map[string]bool{}
	for _, v := range got {
		if ids[v.ID] || plates[v.Plate] {
			t.Errorf("violation %s (plate %s) listed twice", v.ID, v.Plate)
		}
		ids[v.ID], plates[v.Plate] = true, true
		want, ok := tr.want[v.Plate]
		if !ok {
			t.Errorf("violation %s of plate %s, which did not speed", v.ID, v.Plate)
			continue
		}
		if v.Entry.ReadID != want[0] || v.Exit.ReadID != want[1] ||
			v.Entry.ImageRef != "s3://img/"+want[0]+".jpg" || v.Exit.ImageRef != "s3://img/"+want[1]+".jpg" || v.Entry.Lane != 2 {
			t.Errorf("violation %s evidence: entry %+v exit %+v, want reads %v with their images", v.ID, v.Entry, v.Exit, want)
		}
		if v.Corrected <= v.Limit {
			t.Errorf("violation %s: corrected %v not above limit %v", v.ID, v.Corrected, v.Limit)
		}
	}
	if len(plates) != len(tr.want) {
		t.Errorf("%d violations, want %d", len(plates), len(tr.want))
	}
}

func TestSectionControl(t *testing.T) {
	addr := startBroker(t)
	cfg := sectionConfig(addr, t.TempDir())
	tr := newSectionTraffic(60)
	r := start(t, cfg)
	produce(t, addr, tr.msgs...)

	var got []violationJSON
	waitFor(t, 30*time.Second, "every violation", func() bool {
		got = allViolations(t, r.base, "")
		return len(got) >= len(tr.want)
	})
	checkViolations(t, got, tr)

	topic := consumeTopic(t, addr, topics.Violations, len(got))
	for _, m := range topic {
		if s := string(m.Key); s != "S1" && s != "S2" {
			t.Errorf("violation record keyed %q, want its section id", s)
		}
	}
	// Without a restart each violation is published once, however many
	// idle rounds (every 200 ms, flush after 500 ms) pass.
	time.Sleep(2 * time.Second)
	if n := topicRecords(t, addr, topics.Violations); n != len(got) {
		t.Errorf("%d records on the violations topic, want %d: published again while idle", n, len(got))
	}

	// Filter by section; an unknown section is 404.
	var s1 int
	for _, v := range got {
		if v.SectionID == "S1" {
			s1++
		}
	}
	if only := allViolations(t, r.base, "&section=S1"); len(only) != s1 || slices.ContainsFunc(only, func(v violationJSON) bool { return v.SectionID != "S1" }) {
		t.Errorf("?section=S1 gave %d violations, want the %d of S1 only", len(only), s1)
	}
	if code := getJSON(t, r.base+"/api/v1/violations?section=NOPE", nil); code != http.StatusNotFound {
		t.Errorf("unknown section: status %d, want 404", code)
	}

	var defs struct {
		Sections []struct {
			ID       string  `json:"id"`
			LimitKmh float64 `json:"limit_kmh"`
		} `json:"sections"`
	}
	if code := getJSON(t, r.base+"/api/v1/sections", &defs); code != http.StatusOK || len(defs.Sections) != 2 || defs.Sections[0].ID != "S1" || defs.Sections[1].LimitKmh != 90 {
		t.Errorf("GET sections: %d %+v", code, defs)
	}
	for _, sec := range []string{"S1", "S2"} {
		var st struct {
			Paired         int            `json:"vehicles_paired"`
			Violations     int            `json:"violation"`
			UnmatchedEntry int            `json:"unmatched_entry"`
			UnmatchedExit  int            `json:"unmatched_exit"`
			Speed          map[string]int `json:"speed_kmh"`
		}
		// S2's exit without entry is decided once the watermark passes it;
		// S1's entry without exit stays inside for max_travel.
		wantExits := map[string]int{"S2": 1}[sec]
		waitFor(t, 10*time.Second, sec+" statistics complete", func() bool {
			getJSON(t, r.base+"/api/v1/sections/"+sec+"/stats", &st)
			return st.Paired == tr.paired[sec] && st.UnmatchedExit == wantExits
		})
		if st.UnmatchedEntry != 0 || st.Speed["p50"] == 0 || st.Speed["p99"] < st.Speed["p50"] {
			t.Errorf("%s statistics %+v: want no unmatched entry yet and speed percentiles", sec, st)
		}
	}
	if code := getJSON(t, r.base+"/api/v1/sections/NOPE/stats", nil); code != http.StatusNotFound {
		t.Errorf("unknown section stats: status %d, want 404", code)
	}
}

// TestEvidenceWrittenSince: the entry reads of violations decided in a
// later batch are found among the tables written since their own batch
// (store.Mark before each Write), never by the lookup in the whole store.
func TestEvidenceWrittenSince(t *testing.T) {
	addr := startBroker(t)
	cfg := sectionConfig(addr, t.TempDir())
	reg := prometheus.NewRegistry()
	cfg.Registerer, cfg.Gatherer = reg, reg
	tr := newSectionTraffic(12)
	// Every entry is at least a minute before every exit: the entries go
	// first, and the exits once the entries are stored.
	split := slices.IndexFunc(tr.msgs, func(m kafka.Message) bool { return bytes.Contains(m.Value, []byte(`-x"`)) })
	r := start(t, cfg)
	produce(t, addr, tr.msgs[:split]...)
	waitFor(t, 30*time.Second, "the entries stored", func() bool {
		return metricSum(t, reg, "anpr_store_passages_written_total") >= float64(split)
	})
	produce(t, addr, tr.msgs[split:]...)
	var got []violationJSON
	waitFor(t, 30*time.Second, "every violation", func() bool {
		got = allViolations(t, r.base, "")
		return len(got) >= len(tr.want)
	})
	checkViolations(t, got, tr)
	since := metricSum(t, reg, "anpr_engine_evidence_reads_total", "from", "written_since")
	batch := metricSum(t, reg, "anpr_engine_evidence_reads_total", "from", "batch")
	whole := metricSum(t, reg, "anpr_engine_evidence_reads_total", "from", "store")
	if whole != 0 || since < float64(len(tr.want)) || since+batch < float64(2*len(tr.want)) {
		t.Errorf("evidence reads: %v from tables written since, %v from the batch, %v from the whole store; want %d reads, at least %d written since, none from the whole store",
			since, batch, whole, 2*len(tr.want), len(tr.want))
	}
}

// TestSectionRestart stops the engine while section traffic flows: pending
// entries must survive, so that no violation is lost, doubled or changed.
func TestSectionRestart(t *testing.T) {
	addr := startBroker(t)
	dir := t.TempDir()
	cfg := sectionConfig(addr, dir)
	tr := newSectionTraffic(300)

	r := start(t, cfg)
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		produceSlowly(addr, tr.msgs)
	}()
	defer func() { <-produced }()
	waitFor(t, 30*time.Second, "some violations", func() bool { return len(allViolations(t, r.base, "")) >= 5 })
	if err := r.stop(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	first := allViolationsStored(t, dir)

	r = start(t, cfg)
	<-produced
	var got []violationJSON
	waitFor(t, 60*time.Second, "every violation after restart", func() bool {
		got = allViolations(t, r.base, "")
		return len(got) >= len(tr.want)
	})
	checkViolations(t, got, tr)
	// Decided before the stop, the same after it.
	byID := map[string]violationJSON{}
	for _, v := range got {
		byID[v.ID] = v
	}
	for _, v := range first {
		if byID[v.ID] != v {
			t.Errorf("violation %s changed across the restart: %+v then %+v", v.ID, v, byID[v.ID])
		}
	}
	// The topic holds every violation at least once.
	missing := map[string]bool{}
	for _, v := range got {
		missing[v.ID] = true
	}
	consumeUntil(t, addr, topics.Violations, func(ms []kafka.Message) bool {
		if len(ms) > 0 {
			var v violationJSON
			if err := json.Unmarshal(ms[len(ms)-1].Value, &v); err != nil {
				t.Fatalf("violation record: %v", err)
			}
			delete(missing, v.ID)
		}
		return len(missing) == 0
	})
}

// allViolationsStored reads the violations log of a closed engine's store.
func allViolationsStored(t *testing.T, dir string) []violationJSON {
	t.Helper()
	s, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, _, err := s.Events(store.Violations, "", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]violationJSON, len(evs))
	for i, ev := range evs {
		if err := json.Unmarshal(ev.JSON, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// topicRecords is the number of records of topic (the sum of its
// partitions' end offsets).
func topicRecords(t *testing.T, addr, topic string) int {
	t.Helper()
	tr := kclient.Config{Brokers: []string{addr}}.Transport()
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second, Transport: tr}
	ctx := context.Background()
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) != 1 {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	var reqs []kafka.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
	}
	ends, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ends.Topics[topic] {
		n += int(e.LastOffset)
	}
	return n
}
