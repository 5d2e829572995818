package simulate

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun writes simulated reads to an embedded broker and reads them back
// with a consumer group.
func TestRun(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(12, "anpr.reads"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	addr := cluster.ListenAddrs()[0]
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: "anpr.reads", Balancer: kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, Transport: transport}
	defer w.Close()

	cfg := network(t)
	cfg.Rate, cfg.Flat = 5000, true
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, w, nil) }()

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: "anpr.reads", GroupID: "test",
		MaxBytes: 10 << 20, HeartbeatInterval: 500 * time.Millisecond, JoinGroupBackoff: 500 * time.Millisecond,
		RebalanceTimeout: 5 * time.Second, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	readCtx, readCancel := context.WithTimeout(ctx, 30*time.Second)
	defer readCancel()
	partitionOf := map[string]int{}
	const want = 2000
	for i := range want {
		m, err := r.FetchMessage(readCtx)
		if err != nil {
			t.Fatalf("after %d messages: %v", i, err)
		}
		var read struct {
			ReadID    string `json:"read_id"`
			TS        time.Time
			PlateNorm string `json:"plate_norm"`
		}
		if err := json.Unmarshal(m.Value, &read); err != nil {
			t.Fatalf("message %d: %v: %s", i, err, m.Value)
		}
		if string(m.Key) != read.PlateNorm || read.ReadID == "" {
			t.Fatalf("message key %q, value %s: want the key to be plate_norm", m.Key, m.Value)
		}
		if !m.Time.Equal(read.TS) {
			t.Errorf("message time %v, want the capture time %v", m.Time, read.TS)
		}
		if p, ok := partitionOf[read.PlateNorm]; ok && p != m.Partition {
			t.Errorf("plate in partitions %d and %d, want one", p, m.Partition)
		}
		partitionOf[read.PlateNorm] = m.Partition
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestRunPaces runs on a clock that moves 10 ms per tick from 08:00 Brussels
// time, so reads per simulated second are the rate times the morning peak.
func TestRunPaces(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "anpr.reads"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	addr := cluster.ListenAddrs()[0]
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: "anpr.reads", RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, Transport: transport}
	defer w.Close()

	var ticks atomic.Int64
	cfg := network(t)
	cfg.Rate = 1000
	cfg.Clock = func() time.Time { return start.Add(time.Duration(ticks.Add(1)) * 10 * time.Millisecond) }
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, w, nil) }()

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: "anpr.reads", Partition: 0,
		MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	readCtx, readCancel := context.WithTimeout(ctx, 30*time.Second)
	defer readCancel()
	// Reads are stamped a random 50..450 ms before they are sent: compare
	// the mean stamps of the first and the last k messages.
	const n, k = 3000, 300
	var first, last time.Duration
	for i := range n {
		m, err := r.ReadMessage(readCtx)
		if err != nil {
			t.Fatalf("after %d messages: %v", i, err)
		}
		if i < k {
			first += m.Time.Sub(start) / k
		}
		if i >= n-k {
			last += m.Time.Sub(start) / k
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v after cancel, want nil", err)
	}
	want := cfg.Rate * dailyFactor(start.In(brussels(t)))
	got := (n - k) / (last - first).Seconds()
	t.Logf("reads per simulated second = %.0f, want %.0f", got, want)
	if got < want*0.9 || got > want*1.1 {
		t.Errorf("reads per simulated second = %.0f, want %.0f ± 10 %%", got, want)
	}
}

func brussels(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Europe/Brussels")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestRunRejectsZeroRate(t *testing.T) {
	if err := Run(t.Context(), network(t), nil, nil); err == nil {
		t.Error("Run with rate 0 = nil, want an error")
	}
}
