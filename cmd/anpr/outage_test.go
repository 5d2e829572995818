package main

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestBrokerOutage stops `anpr broker` while `anpr serve` is working
// through a backlog, keeps it down for ANPR_OUTAGE (default 8s; `make
// outage` runs 30s), and starts it again on the same address and data
// directory with more reads sent. The engine must stay up, /readyz must
// go false during the outage and true after it, and at the end the store
// must hold every valid read exactly once and the hits and violations of a
// run without an outage.
func TestBrokerOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("stops a broker for seconds")
	}
	outage := 8 * time.Second
	if v, err := time.ParseDuration(os.Getenv("ANPR_OUTAGE")); err == nil {
		outage = v
	}
	n := envInt("ANPR_OUTAGE_READS", 16000)
	pt := newProcTest(t, n)
	brk, c, tr := pt.brk, pt.c, pt.tr
	tr.send(t, n/2)
	cmd, httpAddr := pt.serve(t)
	srv := watch(t, cmd)
	base := "http://" + httpAddr
	waitReady(t, base, 2*time.Minute)
	// Mid-stream: the first offsets are committed, the backlog is not done.
	waitCommitted(t, brk.addr, c.Kafka.Group, c.Kafka.Topics.Reads, 1, time.Minute)

	offs, _ := committedOffsets(brk.addr, c.Kafka.Group, c.Kafka.Topics.Reads)
	var committed int64
	for _, o := range offs {
		committed += o
	}
	brk.stop(t)
	stopped := time.Now()
	t.Logf("broker stopped with %d of %d records committed", committed, n/2)
	waitFor(t, base, 30*time.Second, "/readyz false during the outage", func(code int) bool { return code == http.StatusServiceUnavailable })
	t.Logf("/readyz false %v after the broker stopped", time.Since(stopped).Round(time.Millisecond))
	select {
	case <-srv.done:
		t.Fatalf("serve exited during the outage: %v", srv.err)
	case <-time.After(time.Until(stopped.Add(outage))):
	}
	brk.start(t)
	t.Logf("broker down for %v", time.Since(stopped).Round(time.Millisecond))
	tr.send(t, n-n/2)
	waitReady(t, base, 2*time.Minute)
	waitConsumed(t, brk.addr, c.Kafka.Group, c.Kafka.Topics.Reads, 5*time.Minute)
	time.Sleep(3 * c.Sections[0].IdleFlush) // the idle flush takes the last section decisions
	select {
	case <-srv.done:
		t.Fatalf("serve exited after the outage: %v", srv.err)
	default:
	}
	_ = cmd.Process.Signal(os.Interrupt)
	if <-srv.done; srv.err != nil {
		t.Fatalf("serve after the outage: %v", srv.err)
	}
	t.Logf("%d reads (%d valid) through a %v outage", n, len(tr.valid), outage)
	pt.check(t, "an outage")
}

// waitFor polls base/readyz until ok accepts its status code.
func waitFor(t *testing.T, base string, limit time.Duration, what string, ok func(code int) bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		code := 0
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			code = resp.StatusCode
		}
		if ok(code) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last status %d)", what, limit, code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// committedOffsets returns group's committed offset of each partition of
// topic (absent: none).
func committedOffsets(addr, group, topic string) (map[int]int64, error) {
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	var parts []int
	for _, p := range meta.Topics[0].Partitions {
		parts = append(parts, p.ID)
	}
	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return nil, err
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.CommittedOffset >= 0 {
			out[p.Partition] = p.CommittedOffset
		}
	}
	return out, nil
}

// waitCommitted waits until group has committed at least min records of
// topic in all.
func waitCommitted(t *testing.T, addr, group, topic string, min int64, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		offs, err := committedOffsets(addr, group, topic)
		var sum int64
		for _, o := range offs {
			sum += o
		}
		if err == nil && sum >= min {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s committed %d records of %s within %v, want %d (%v)", group, sum, topic, limit, min, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
