package main

import (
	"context"
	"encoding/json"
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

// Helpers of the tests that run anpr as separate processes (crash, outage,
// shutdown): build, broker, serve, traffic and the final checks.

const sampleConfig = "../../testdata/anpr.yaml"

// procTest is the setting of a test that runs anpr as processes: the
// binary, `anpr broker`, the sample configuration, its traffic (n reads,
// none sent yet), the data directory and log of `anpr serve`.
type procTest struct {
	dir, bin, data string
	brk            *brokerProc
	c              *config.Config
	tr             *traffic
	log            *os.File
}

func newProcTest(t *testing.T, n int) *procTest {
	t.Helper()
	p := &procTest{dir: t.TempDir()}
	p.bin = buildAnpr(t, p.dir)
	p.data = filepath.Join(p.dir, "data")
	p.brk = startBrokerProc(t, p.bin, freeAddr(t), filepath.Join(p.dir, "broker"))
	var err error
	if p.c, err = config.Load(sampleConfig); err != nil {
		t.Fatal(err)
	}
	p.tr = newTraffic(t, p.c, p.brk.addr, n)
	p.log = serveLog(t, p.dir)
	return p
}

// serve starts `anpr serve` on p's data directory.
func (p *procTest) serve(t *testing.T) (*exec.Cmd, string) {
	t.Helper()
	return startServe(t, p.bin, p.brk.addr, p.data, p.log)
}

// check compares p's store with a run without the fault described by what.
func (p *procTest) check(t *testing.T, what string) {
	t.Helper()
	checkAgainstReference(t, p.c, p.brk.addr, p.dir, p.data, p.tr.valid, what)
}

// buildAnpr builds the binary into dir.
func buildAnpr(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "anpr")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// brokerProc is `anpr broker` on a fixed address and data directory, so it
// can be stopped and started again as the same broker.
type brokerProc struct {
	bin, addr, dir string
	cmd            *exec.Cmd
}

// startBrokerProc starts `anpr broker` and stops it when the test ends.
func startBrokerProc(t *testing.T, bin, addr, dir string) *brokerProc {
	t.Helper()
	b := &brokerProc{bin: bin, addr: addr, dir: dir}
	b.start(t)
	t.Cleanup(func() {
		if b.cmd != nil {
			_ = b.cmd.Process.Kill()
			_ = b.cmd.Wait()
		}
	})
	return b
}

func (b *brokerProc) start(t *testing.T) {
	t.Helper()
	b.cmd = exec.Command(b.bin, "broker", "--log-level", "warn", "--listen", b.addr, "--data-dir", b.dir)
	b.cmd.Stderr = os.Stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitTCP(t, b.addr)
}

// stop stops the broker as an operator would (SIGTERM: it persists its
// data directory and exits).
func (b *brokerProc) stop(t *testing.T) {
	t.Helper()
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	if err := b.cmd.Wait(); err != nil {
		t.Fatalf("broker stop: %v", err)
	}
	b.cmd = nil
}

// serveLog is the file the serve processes of a test log to, shown when
// the test fails.
func serveLog(t *testing.T, dir string) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(f.Name())
			t.Logf("serve log:\n%s", b[:min(len(b), 8000)])
		}
		f.Close()
	})
	return f
}

// startServe starts `anpr serve` of the sample configuration on data and
// returns it with its API address.
func startServe(t *testing.T, bin, brokerAddr, data string, log *os.File) (*exec.Cmd, string) {
	t.Helper()
	httpAddr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "--log-level", "warn", "--config", sampleConfig,
		"--brokers", brokerAddr, "--http-listen", httpAddr, "--data-dir", data)
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, httpAddr
}

// watched is a started process whose exit is awaited in the background.
type watched struct {
	done chan struct{} // closed when it exited
	err  error         // its exit, once done is closed
}

// watch waits for cmd in the background and kills it when the test ends.
func watch(t *testing.T, cmd *exec.Cmd) *watched {
	w := &watched{done: make(chan struct{})}
	go func() {
		w.err = cmd.Wait()
		close(w.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-w.done
	})
	return w
}

// traffic sends reads of the sample network (section traffic, listed
// plates, misreads, duplicates, an invalid record every 5000), captured
// over the half hour before it was made, and remembers the valid ones.
type traffic struct {
	g     *simulate.Generator
	w     *kclient.Writer
	now   time.Time
	step  time.Duration
	batch []kafka.Message
	// valid holds the valid reads sent, by identity.
	valid map[string]plate.Read
	sent  int
}

// newTraffic prepares total reads; send sends them in parts.
func newTraffic(t *testing.T, c *config.Config, addr string, total int) *traffic {
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
	t.Cleanup(func() { w.Close() })
	span := 30 * time.Minute
	return &traffic{g: g, w: w, now: time.Now().Add(-span - time.Minute), step: span / time.Duration(total),
		valid: map[string]plate.Read{}}
}

// send sends the next n reads.
func (tr *traffic) send(t *testing.T, n int) {
	t.Helper()
	if err := tr.sendErr(n); err != nil {
		t.Fatal(err)
	}
}

// sendErr sends the next n reads; it may run in another goroutine than the
// test's, while nothing else uses tr.
func (tr *traffic) sendErr(n int) error {
	for end := tr.sent + n; tr.sent < end; tr.now = tr.now.Add(tr.step) {
		for _, r := range tr.g.Next(tr.now) {
			if tr.sent == end {
				break
			}
			tr.batch = append(tr.batch, simulate.Message(&r))
			tr.valid[readKey(&r)] = r
			tr.sent++
			if tr.sent%5000 == 0 {
				tr.batch = append(tr.batch, kafka.Message{Key: []byte("x"), Value: []byte(`{"read_id":"bad"}`)})
			}
		}
		if len(tr.batch) >= 2000 || tr.sent == end {
			if err := tr.w.WriteMessages(context.Background(), tr.batch...); err != nil {
				return err
			}
			tr.batch = tr.batch[:0]
		}
	}
	return nil
}

// readKey is a read's identity (ARCHITECTURE.md).
func readKey(r *plate.Read) string {
	return r.ReadID + "|" + r.PlateNorm + "|" + strconv.FormatInt(r.TS.UnixMilli(), 10)
}

// checkAgainstReference runs the engine in process, without faults, on its
// own group, store and output topics over the same reads, and checks that
// the store in data (of the run with faults, described by what) holds every
// valid read exactly once and the same hits and violations, each once, and
// that every one of them is on its output topic.
func checkAgainstReference(t *testing.T, c *config.Config, brokerAddr, dir, data string, valid map[string]plate.Read, what string) {
	t.Helper()
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
			t.Errorf("%s after %s: %d, without %d (missing or extra ids)", log.name, what, len(log.got), len(log.want))
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
			for i := range reads {
				r := &reads[i]
				out.passages[readKey(r)]++
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
