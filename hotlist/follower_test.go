package hotlist

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/goleak"

	"github.com/anpr/anpr/internal/broker"
	"github.com/anpr/anpr/internal/kclient"
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

// inForce is the SPEC §8 promise: a change is in force within a second.
const inForce = time.Second

func startBroker(t testing.TB) kclient.Config {
	t.Helper()
	b, err := broker.Start(broker.Options{Compacted: []string{DefaultTopic}, Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return kclient.Config{Brokers: []string{b.Addr()}}
}

func newMatcher(t testing.TB) *matcher.Matcher {
	t.Helper()
	m, err := matcher.New([]matcher.List{
		{Name: "stolen", Mode: matcher.OCR},
		{Name: "uninsured", Mode: matcher.Exact},
	}, matcher.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// startFollower runs a Follower of m until the test ends.
func startFollower(t testing.TB, kc kclient.Config, m *matcher.Matcher, reg prometheus.Registerer) *Follower {
	t.Helper()
	f, err := NewFollower(Config{Kafka: kc, Registerer: reg}, m)
	if err != nil {
		t.Fatal(err)
	}
	runFollower(t, f)
	return f
}

// runFollower runs f until the test ends.
func runFollower(t testing.TB, f *Follower) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func newPublisher(t testing.TB, kc kclient.Config, lists []string) *Publisher {
	t.Helper()
	p, err := NewPublisher(Config{Kafka: kc, Lists: lists})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func waitReady(t testing.TB, f *Follower) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or within has passed.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(time.Millisecond)
	}
}

// metricValue returns the value of a counter (or the sample count of a
// histogram) with the label value given, or 0.
func metricValue(t testing.TB, reg *prometheus.Registry, name, labelValue string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelValue != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != labelValue) {
				continue
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func read(p string, ts time.Time) *plate.Read {
	norm, _ := plate.Normalize(p)
	return &plate.Read{ReadID: "r1", CameraID: "CAM-A", TS: ts, Plate: p, PlateNorm: norm,
		Confidence: -1, Lane: -1}
}

func TestPutAndDeleteInForce(t *testing.T) {
	kc := startBroker(t)
	m := newMatcher(t)
	reg := prometheus.NewRegistry()
	f := startFollower(t, kc, m, reg)
	waitReady(t, f)
	p := newPublisher(t, kc, []string{"stolen", "uninsured"})
	ctx := context.Background()

	e := matcher.Entry{List: "stolen", Plate: "1-abc-234", Country: "be", Category: "stolen_vehicle",
		Priority: 1, Action: "intercept", Reference: "PV-1", Reason: "theft"}
	if err := p.Put(ctx, []matcher.Entry{e}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, inForce, "entry in force", func() bool { return len(m.Entries("stolen", "1ABC234")) == 1 })
	got := m.Entries("stolen", "1ABC234")[0]
	if got.Plate != "1ABC234" || got.Country != "BE" || got.Reference != "PV-1" || got.Priority != 1 {
		t.Errorf("entry = %+v, want plate 1ABC234, country BE, reference PV-1, priority 1", got)
	}
	now := time.Now()
	// I for 1 is an OCR confusion: the OCR list still hits.
	hits := m.Match(read("IABC234", now), now, nil)
	if len(hits) != 1 || hits[0].List != "stolen" || hits[0].Match != matcher.OCR {
		t.Fatalf("hits = %+v, want one ocr hit on stolen", hits)
	}

	if err := p.Delete(ctx, "stolen", "1 abc 234"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, inForce, "deletion in force", func() bool { return len(m.Entries("stolen", "1ABC234")) == 0 })
	if hits := m.Match(read("1ABC234", now), now, nil); len(hits) != 0 {
		t.Errorf("hits after delete = %+v, want none", hits)
	}

	for _, c := range []struct {
		name, label string
		want        float64
	}{
		{"anpr_hotlist_changes_total", "put", 1},
		{"anpr_hotlist_changes_total", "delete", 1},
		{"anpr_hotlist_apply_seconds", "", 2},
	} {
		if got := metricValue(t, reg, c.name, c.label); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.label, got, c.want)
		}
	}
}

func TestBadRecordsSkipped(t *testing.T) {
	kc := startBroker(t)
	m := newMatcher(t)
	reg := prometheus.NewRegistry()
	f := startFollower(t, kc, m, reg)
	waitReady(t, f)

	good := matcher.Entry{List: "stolen", Plate: "AB123"}
	recs := []struct {
		key, value, reason string
	}{
		{"stolen/AB123", `{"list":"stolen","plate":`, reasonJSON},
		{"stolen/AB123", `{"list":"stolen","plate":"XY999"}`, reasonMismatch},
		{"stolen/AB123", `{"list":"uninsured","plate":"AB123"}`, reasonMismatch},
		{"stolen/AB123", `{"list":"stolen","plate":"AB123","country":"BEL"}`, reasonEntry},
		{"stolen/ab-123", `{"list":"stolen","plate":"AB123"}`, reasonKey},
		{"AB123", `{"list":"stolen","plate":"AB123"}`, reasonKey},
		{"wanted/AB123", `{"list":"wanted","plate":"AB123"}`, reasonUnknownList},
		{"stolen/AB123", string(good.AppendJSON(nil)), ""},
	}
	w := kc.Writer(DefaultTopic)
	defer w.Close()
	want := map[string]float64{}
	for _, r := range recs {
		if err := w.WriteMessages(context.Background(), kafka.Message{Key: []byte(r.key), Value: []byte(r.value)}); err != nil {
			t.Fatal(err)
		}
		if r.reason != "" {
			want[r.reason]++
		}
	}
	waitFor(t, inForce, "good record after bad ones in force", func() bool { return len(m.Entries("stolen", "AB123")) == 1 })
	// Bad records of other keys may sit in other partitions.
	waitFor(t, 5*time.Second, "bad records counted", func() bool {
		for _, r := range reasons {
			if metricValue(t, reg, "anpr_hotlist_bad_records_total", r) != want[r] {
				return false
			}
		}
		return true
	})
	for _, r := range reasons {
		if got := metricValue(t, reg, "anpr_hotlist_bad_records_total", r); got != want[r] {
			t.Errorf("bad_records_total{reason=%q} = %v, want %v", r, got, want[r])
		}
	}
	if got := m.Entries("stolen", "XY999"); len(got) != 0 {
		t.Errorf("entry of a mismatched record applied: %+v", got)
	}
	if got := metricValue(t, reg, "anpr_hotlist_changes_total", "put"); got != 1 {
		t.Errorf("changes_total{op=put} = %v, want 1", got)
	}
}

func TestRestartRebuildsBeforeReady(t *testing.T) {
	kc := startBroker(t)
	p := newPublisher(t, kc, nil)
	ctx := context.Background()
	var entries []matcher.Entry
	// More than a chunk per partition: the replay spans several chunks.
	for i := range 6000 {
		entries = append(entries, matcher.Entry{List: "uninsured", Plate: fmt.Sprintf("UN%04d", i), Priority: 1})
	}
	entries = append(entries, matcher.Entry{List: "stolen", Plate: "ST1", Reason: "first"},
		matcher.Entry{List: "stolen", Plate: "ST1", Reason: "second"}, // the last one wins
		matcher.Entry{List: "stolen", Plate: "ST2"})
	if err := p.Put(ctx, entries); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(ctx, "uninsured", "UN0007"); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(ctx, "stolen", "ST2"); err != nil {
		t.Fatal(err)
	}

	// Start, then restart on a fresh matcher applying the replay in
	// batches smaller than a partition's records: the last change to a
	// key wins across batches too.
	for run, batch := range []int{replayBatch, 1000} {
		m := newMatcher(t)
		f, err := NewFollower(Config{Kafka: kc}, m)
		if err != nil {
			t.Fatal(err)
		}
		f.batch = batch
		runFollower(t, f)
		waitReady(t, f)
		if !f.Ready() {
			t.Errorf("run %d: Ready() = false after WaitReady", run)
		}
		got := map[string]int{}
		for _, l := range m.Lists() {
			got[l.Name] = l.Entries
		}
		if got["uninsured"] != 5999 || got["stolen"] != 1 {
			t.Errorf("run %d: entries per list at ready = %v, want uninsured 5999, stolen 1", run, got)
		}
		if e := m.Entries("stolen", "ST1"); len(e) != 1 || e[0].Reason != "second" {
			t.Errorf("run %d: ST1 = %+v, want the second version", run, e)
		}
		if e := m.Entries("uninsured", "UN0007"); len(e) != 0 {
			t.Errorf("run %d: deleted entry present: %+v", run, e)
		}
	}
}

func TestFollowerNotReadyBeforeRun(t *testing.T) {
	f, err := NewFollower(Config{Kafka: kclient.Config{Brokers: []string{"127.0.0.1:1"}}}, newMatcher(t))
	if err != nil {
		t.Fatal(err)
	}
	if f.Ready() {
		t.Error("Ready() = true before Run")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.WaitReady(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitReady(canceled) = %v, want context.Canceled", err)
	}
	// No broker listens: Run retries until ctx ends, then returns nil.
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := f.Run(ctx); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if f.Ready() {
		t.Error("Ready() = true without a broker")
	}
	if err := f.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("second Run = %v, want an error", err)
	}
}
