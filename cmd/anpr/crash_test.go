package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/engine"
	"github.com/anpr/anpr/internal/config"
	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/internal/simulate"
	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/plate"
)

// TestCrash kills `anpr serve` with SIGKILL at random moments while it
// works through a backlog of realistic reads (section traffic, listed
// plates, misreads, duplicates, a few invalid records), restarting it each
// time on the same data directory against `anpr broker` running
// separately. At the end the store must hold every valid read exactly once,
// and the hits and violations of a run without kills, each once; the output
// topics must carry every one of them at least once.
//
// ANPR_CRASH_KILLS sets the number of kills (default 3; `make crash` runs
// 50) and ANPR_CRASH_READS the reads (default 60000).
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes for a minute")
	}
	kills := envInt("ANPR_CRASH_KILLS", 3)
	n := envInt("ANPR_CRASH_READS", 60000)
	dir := t.TempDir()
	bin := filepath.Join(dir, "anpr")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	brokerAddr := freeAddr(t)
	brk := exec.Command(bin, "broker", "--log-level", "warn", "--listen", brokerAddr, "--data-dir", filepath.Join(dir, "broker"))
	brk.Stderr = os.Stderr
	if err := brk.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = brk.Process.Kill(); _ = brk.Wait() })
	waitTCP(t, brokerAddr)

	const cfgPath = "../../testdata/anpr.yaml"
	c, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	valid := produceTraffic(t, c, brokerAddr, n)
	t.Logf("produced %d reads (%d valid, distinct)", n, len(valid))

	// The run with kills. Its processes log to a file, shown on failure.
	data := filepath.Join(dir, "data")
	serveLog, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer serveLog.Close()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(serveLog.Name())
			t.Logf("serve log:\n%s", b[:min(len(b), 8000)])
		}
	})
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	serve := func() (*exec.Cmd, string) {
		httpAddr := freeAddr(t)
		cmd := exec.Command(bin, "serve", "--log-level", "warn", "--config", cfgPath,
			"--brokers", brokerAddr, "--http-listen", httpAddr, "--data-dir", data)
		cmd.Stderr = serveLog
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, httpAddr
	}
	for i := range kills {
		cmd, _ := serve()
		time.Sleep(time.Duration(1000+rng.IntN(4000)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		t.Logf("kill %d of %d", i+1, kills)
	}
	// Killed members stay in the group until their session times out, with
	// partitions assigned: wait until the last process is alone in it and
	// ready (it has rebuilt its section state; the offsets may all have been
	// committed by an earlier process already). Once in about six runs the
	// group stayed split for minutes after the kills (cause not found yet:
	// see the stop-10 note); a graceful restart of the last process is
	// logged and settles it, and the checks below are unchanged.
	var cmd *exec.Cmd
	for attempt := 1; ; attempt++ {
		var httpAddr string
		cmd, httpAddr = serve()
		waitReady(t, "http://"+httpAddr, 2*time.Minute)
		if waitAlone(brokerAddr, c.Kafka.Group, 90*time.Second) || attempt == 3 {
			break
		}
		t.Logf("group still split after 90 s; restarting the last process gracefully")
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	waitConsumed(t, brokerAddr, c.Kafka.Group, c.Kafka.Topics.Reads, 5*time.Minute)
	// Let the idle flush take the last section decisions.
	time.Sleep(3 * c.Sections[0].IdleFlush)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("final serve: %v", err)
	}

	// The run without kills, in process, on its own group, store and topics.
	ec, err := engineConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	ec.Kafka.Brokers = []string{brokerAddr}
	ec.Group = "reference"
	ec.DataDir = filepath.Join(dir, "reference")
	ec.HTTPListen = ""
	ec.Topics.Hits, ec.Topics.Violations, ec.Topics.DLQ = "ref.hits", "ref.violations", "ref.dlq"
	e, err := engine.Open(ec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	waitConsumed(t, brokerAddr, "reference", c.Kafka.Topics.Reads, 5*time.Minute)
	time.Sleep(2 * c.Sections[0].IdleFlush)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	got, want := contents(t, data, valid), contents(t, ec.DataDir, valid)
	for id, count := range got.passages {
		if count != 1 {
			t.Errorf("read %s stored %d times", id, count)
		}
	}
	if len(got.passages) != len(valid) {
		t.Errorf("%d reads stored, want %d", len(got.passages), len(valid))
	}
	for _, log := range []struct {
		name      string
		got, want []string
		topic     string
	}{
		{"hits", got.hits, want.hits, c.Kafka.Topics.Hits},
		{"violations", got.violations, want.violations, c.Kafka.Topics.Violations},
	} {
		if !slices.Equal(log.got, log.want) {
			t.Errorf("%s after %d kills: %d, without kills %d (missing or extra ids)", log.name, kills, len(log.got), len(log.want))
		}
		onTopic := topicIDs(t, brokerAddr, log.topic, log.name)
		for _, id := range log.got {
			if !onTopic[id] {
				t.Errorf("%s %s stored but never published", log.name, id)
			}
		}
		t.Logf("%s: %d stored once, all on the topic (%d records)", log.name, len(log.got), len(onTopic))
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}

func waitReady(t *testing.T, base string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %v", base, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitAlone reports whether group came down to one member within limit:
// the dead ones fenced (session timeout), the last process holding every
// partition.
func waitAlone(addr, group string, limit time.Duration) bool {
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		resp, err := client.DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err == nil && len(resp.Groups) == 1 && resp.Groups[0].Error == nil && len(resp.Groups[0].Members) == 1 {
			return true
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}

func waitTCP(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// produceTraffic sends n reads of the sample network, captured over the
// last half hour, plus a few invalid records, and returns the identities
// of the valid reads.
func produceTraffic(t *testing.T, c *config.Config, addr string, n int) map[string]plate.Read {
	t.Helper()
	sc, err := simulate.FromConfig(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	sc.Seed = 42
	g, err := simulate.NewGenerator(sc)
	if err != nil {
		t.Fatal(err)
	}
	w := kclient.Config{Brokers: []string{addr}}.Writer(c.Kafka.Topics.Reads)
	defer w.Close()
	valid := map[string]plate.Read{}
	span := 30 * time.Minute
	now := time.Now().Add(-span - time.Minute)
	step := span / time.Duration(n)
	var batch []kafka.Message
	for sent := 0; sent < n; now = now.Add(step) {
		for _, r := range g.Next(now) {
			if sent == n {
				break
			}
			batch = append(batch, simulate.Message(&r))
			valid[r.ReadID+"|"+r.PlateNorm+"|"+strconv.FormatInt(r.TS.UnixMilli(), 10)] = r
			sent++
			if sent%5000 == 0 {
				batch = append(batch, kafka.Message{Key: []byte("x"), Value: []byte(`{"read_id":"bad"}`)})
			}
		}
		if len(batch) >= 2000 || sent == n {
			if err := w.WriteMessages(context.Background(), batch...); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return valid
}

// waitConsumed waits until group has committed every partition of topic
// to its end.
func waitConsumed(t *testing.T, addr, group, topic string, limit time.Duration) {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
	deadline := time.Now().Add(limit)
	for ; time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err != nil || len(meta.Topics) != 1 {
			cancel()
			continue
		}
		var parts []int
		var reqs []kafka.OffsetRequest
		for _, p := range meta.Topics[0].Partitions {
			parts = append(parts, p.ID)
			reqs = append(reqs, kafka.LastOffsetOf(p.ID))
		}
		ends, err1 := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
		committed, err2 := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
		cancel()
		if err1 != nil || err2 != nil {
			continue
		}
		done := true
		for _, end := range ends.Topics[topic] {
			var c int64 = -1
			for _, p := range committed.Topics[topic] {
				if p.Partition == end.Partition {
					c = p.CommittedOffset
				}
			}
			if c < end.LastOffset {
				done = false
			}
		}
		if done {
			return
		}
	}
	t.Fatalf("group %s did not consume %s within %v", group, topic, limit)
}

type storeContents struct {
	passages         map[string]int // read identity → times stored
	hits, violations []string       // ids, sorted
}

// contents reads a closed engine's store: the passages of the plates of
// valid, and every hit and violation id.
func contents(t *testing.T, dir string, valid map[string]plate.Read) storeContents {
	t.Helper()
	s, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := storeContents{passages: map[string]int{}}
	plates := map[string]bool{}
	for _, r := range valid {
		plates[r.PlateNorm] = true
	}
	for p := range plates {
		after := ""
		for {
			reads, next, err := s.Passages(store.PassageQuery{Plate: p, After: after, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range reads {
				out.passages[r.ReadID+"|"+r.PlateNorm+"|"+strconv.FormatInt(r.TS.UnixMilli(), 10)]++
			}
			if next == "" {
				break
			}
			after = next
		}
	}
	for _, l := range []struct {
		log store.Log
		ids *[]string
	}{{store.Hits, &out.hits}, {store.Violations, &out.violations}} {
		evs, _, err := s.Events(l.log, "", 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			*l.ids = append(*l.ids, ev.ID)
		}
		slices.Sort(*l.ids)
	}
	return out
}

// topicIDs reads a whole output topic and returns the ids it carries.
func topicIDs(t *testing.T, addr, topic, kind string) map[string]bool {
	t.Helper()
	field := map[string]string{"hits": "hit_id", "violations": "violation_id"}[kind]
	client := &kafka.Client{Addr: kafka.TCP(addr)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	var reqs []kafka.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
	}
	ends, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, end := range ends.Topics[topic] {
		total += end.LastOffset
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, GroupID: "crash-check-" + topic,
		StartOffset: kafka.FirstOffset, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ids := map[string]bool{}
	for read := int64(0); read < total; read++ {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("read %s: %d of %d records: %v", topic, read, total, err)
		}
		var v map[string]any
		if json.Unmarshal(m.Value, &v) == nil {
			if id, ok := v[field].(string); ok {
				ids[id] = true
			}
		}
	}
	return ids
}
