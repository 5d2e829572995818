package main

import (
	"math/rand/v2"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
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
	pt := newProcTest(t, n)
	pt.tr.send(t, n)
	t.Logf("produced %d reads (%d valid, distinct)", n, len(pt.tr.valid))

	// The run with kills. Its processes log to a file, shown on failure.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for i := range kills {
		cmd, _ := pt.serve(t)
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
		cmd, httpAddr = pt.serve(t)
		waitReady(t, "http://"+httpAddr, 2*time.Minute)
		if waitAlone(pt.brk.addr, pt.c.Kafka.Group, 90*time.Second) || attempt == 3 {
			break
		}
		t.Logf("group still split after 90 s; restarting the last process gracefully")
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	waitConsumed(t, pt.brk.addr, pt.c.Kafka.Group, pt.c.Kafka.Topics.Reads, 5*time.Minute)
	// Let the idle flush take the last section decisions.
	time.Sleep(3 * pt.c.Sections[0].IdleFlush)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("final serve: %v", err)
	}

	pt.check(t, strconv.Itoa(kills)+" kills")
}
