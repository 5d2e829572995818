package main

import (
	"context"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/plate"
)

// shutdownLimit is how long `anpr serve` may take to stop on SIGTERM
// (issue 8): an orchestrator kills it after its grace period.
const shutdownLimit = 10 * time.Second

// TestGracefulShutdown sends SIGTERM to `anpr serve` while reads keep
// arriving. It must exit 0 within shutdownLimit having stored exactly the
// reads below the offsets it committed (nothing committed unstored, nothing
// stored that a restart would process again); a restart then stores the
// rest, and the whole run matches a run without a stop.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs anpr processes")
	}
	n := envInt("ANPR_SHUTDOWN_READS", 16000)
	pt := newProcTest(t, n)
	brk, c, tr := pt.brk, pt.c, pt.tr
	tr.send(t, n/4)
	cmd, httpAddr := pt.serve(t)
	srv := watch(t, cmd)
	waitReady(t, "http://"+httpAddr, 2*time.Minute)
	waitCommitted(t, brk.addr, c.Kafka.Group, c.Kafka.Topics.Reads, 1, time.Minute)
	// The rest arrives in parts of 500 while serve works and stops.
	var parts atomic.Int32
	produced := make(chan error, 1)
	go func() {
		for left := n - n/4; left > 0; left -= 500 {
			if err := tr.sendErr(min(left, 500)); err != nil {
				produced <- err
				return
			}
			parts.Add(1)
		}
		produced <- nil
	}()
	for parts.Load() < 10 {
		time.Sleep(10 * time.Millisecond)
	}

	_ = cmd.Process.Signal(syscall.SIGTERM)
	sent := time.Now()
	select {
	case <-srv.done:
	case <-time.After(shutdownLimit):
		t.Fatalf("serve still running %v after SIGTERM", shutdownLimit)
	}
	if srv.err != nil {
		t.Fatalf("serve exited with %v after SIGTERM", srv.err)
	}
	t.Logf("serve exited 0 %v after SIGTERM", time.Since(sent).Round(time.Millisecond))
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	first := firstOffsets(t, brk.addr, c.Kafka.Topics.Reads, n)

	committed, err := committedOffsets(brk.addr, c.Kafka.Group, c.Kafka.Topics.Reads)
	if err != nil {
		t.Fatal(err)
	}
	stored := contents(t, pt.data, tr.valid).passages
	var below, extra, missing int
	for id, at := range first {
		off, ok := committed[at.partition]
		if ok && at.offset < off {
			below++
			if stored[id] == 0 {
				missing++
			}
		} else if stored[id] > 0 {
			extra++
		}
	}
	if missing > 0 || extra > 0 {
		t.Errorf("after SIGTERM: %d reads committed but not stored, %d stored but not committed", missing, extra)
	}
	if below == len(first) {
		t.Logf("the backlog was done before SIGTERM: nothing left to check the drain with")
	}
	t.Logf("after SIGTERM: %d of %d reads committed, each stored; nothing stored beyond", below, len(first))

	cmd, httpAddr = pt.serve(t)
	srv = watch(t, cmd)
	waitReady(t, "http://"+httpAddr, 2*time.Minute)
	waitConsumed(t, brk.addr, c.Kafka.Group, c.Kafka.Topics.Reads, 5*time.Minute)
	time.Sleep(3 * c.Sections[0].IdleFlush) // the idle flush takes the last section decisions
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if <-srv.done; srv.err != nil {
		t.Fatalf("restarted serve: %v", srv.err)
	}
	pt.check(t, "a SIGTERM")
}

// position is where a record is on a topic.
type position struct {
	partition int
	offset    int64
}

// firstOffsets reads the n valid reads (and whatever else) of topic and
// returns where each read identity first appears.
func firstOffsets(t *testing.T, addr, topic string, n int) map[string]position {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, GroupID: "shutdown-check",
		StartOffset: kafka.FirstOffset, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	out := map[string]position{}
	var rd plate.Read
	for valid := 0; valid < n; {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("read %s: %d of %d valid reads: %v", topic, valid, n, err)
		}
		if plate.Decode(m.Value, &rd) != nil {
			continue
		}
		valid++
		id := readKey(&rd)
		if p, ok := out[id]; !ok || m.Offset < p.offset {
			out[id] = position{m.Partition, m.Offset}
		}
	}
	return out
}
