package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/engine"
	"github.com/anpr/anpr/internal/kclient"
)

// errDiskFull stands for what Badger returns when its disk is full.
var errDiskFull = errors.New("injected: no space left on device")

// TestStoreFailure makes every store commit fail in mid-stream, after the
// engine has committed offsets of what it stored. Run must return the
// store's error (what `anpr serve` prints as its one last line before it
// exits 1), every offset committed must be of reads the store has, and a
// restart without the fault must then store every read exactly once.
func TestStoreFailure(t *testing.T) {
	addr := startBroker(t)
	dir := t.TempDir()
	const n, plates = 4000, 400
	now := time.Now().UTC().Truncate(time.Millisecond)
	var msgs []kafka.Message
	for i := range n {
		p := fmt.Sprintf("%dSF%04d", i%10, i%plates)
		msgs = append(msgs, msg(p, readJSON(fmt.Sprintf("sf%d", i), "CAM-A", now.Add(time.Duration(i-n)*time.Millisecond), p, "BE")))
	}
	var failing atomic.Bool
	cfg := testConfig(addr, dir)
	cfg.HTTPListen = ""
	cfg.StoreFailCommit = func() error {
		if failing.Load() {
			return errDiskFull
		}
		return nil
	}
	e, err := engine.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Run(context.Background()) }()
	produce(t, addr, msgs[:n/2]...)
	waitFor(t, 30*time.Second, "offsets committed", func() bool { return committedSum(t, addr, cfg.Group) >= n/4 })
	failing.Store(true)
	produce(t, addr, msgs[n/2:]...)
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the engine kept running with a failing store")
	}
	if cerr := e.Close(); cerr != nil {
		t.Errorf("close: %v", cerr)
	}
	if !errors.Is(err, errDiskFull) || !strings.Contains(err.Error(), "store batch") {
		t.Fatalf("Run returned %v, want the store's error", err)
	}
	t.Logf("Run: %v", err)

	committed := committedByPartition(t, addr, cfg.Group)
	stored := storedReadIDs(t, dir, msgs)
	var acked, unstoredAcked int
	for _, m := range consumeTopic(t, addr, topics.Reads, n) {
		if m.Offset < committed[m.Partition] {
			acked++
			var r struct {
				ReadID string `json:"read_id"`
			}
			_ = json.Unmarshal(m.Value, &r)
			if stored[r.ReadID] == 0 {
				unstoredAcked++
			}
		}
	}
	if unstoredAcked > 0 {
		t.Errorf("%d reads committed but not stored", unstoredAcked)
	}
	if acked == n {
		t.Errorf("every read committed: the failure stopped nothing")
	}
	t.Logf("at the failure: %d of %d reads committed, all stored (%d stored)", acked, n, len(stored))

	cfg.StoreFailCommit, cfg.HTTPListen = nil, "127.0.0.1:0"
	r := start(t, cfg)
	waitFor(t, 60*time.Second, "every read consumed after the restart", func() bool { return committedSum(t, addr, cfg.Group) == n })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if got := countPassages(t, dir, msgs); got != n {
		t.Errorf("after the restart %d reads stored, want %d", got, n)
	}
}

// committedByPartition returns group's committed offsets of the reads
// topic.
func committedByPartition(t *testing.T, addr, group string) map[int]int64 {
	t.Helper()
	tp := kclient.Config{Brokers: []string{addr}}.Transport()
	defer tp.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(addr), Transport: tp, Timeout: 10 * time.Second}
	parts := make([]int, 12)
	for i := range parts {
		parts[i] = i
	}
	resp, err := client.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topics.Reads: parts}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topics.Reads] {
		out[p.Partition] = max(p.CommittedOffset, 0)
	}
	return out
}

func committedSum(t *testing.T, addr, group string) int64 {
	var sum int64
	for _, o := range committedByPartition(t, addr, group) {
		sum += o
	}
	return sum
}
