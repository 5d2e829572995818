package hotlist

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/matcher"
)

// addedLog records the calls of Config.Added.
type addedLog struct {
	mu    sync.Mutex
	calls [][]string // "list/plate" of each call's puts, sorted
	next  map[int]int64
}

func (a *addedLog) add(puts []matcher.Entry, next map[int]int64) {
	var ks []string
	for _, e := range puts {
		ks = append(ks, e.List+"/"+e.Plate)
	}
	slices.Sort(ks)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, ks)
	a.next = next
}

func (a *addedLog) snapshot() ([][]string, map[int]int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls), maps.Clone(a.next)
}

// runAdded runs a Follower reporting to a new addedLog, waits until it is
// ready and returns the log and a function that stops it.
func runAdded(t *testing.T, kc kclient.Config, since map[int]int64) (*addedLog, func()) {
	t.Helper()
	a := &addedLog{}
	f, err := NewFollower(Config{Kafka: kc, Added: a.add, AddedSince: since}, newMatcher(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			stop()
		}
	})
	waitReady(t, f)
	return a, stop
}

// TestAddedSince: once ready, Added gets each Apply's puts and where the
// Follower is; a Follower started with that position gets, once, the
// entries put since (the last change of a key winning), and one started
// with an empty position every entry.
func TestAddedSince(t *testing.T) {
	kc := startBroker(t)
	p := newPublisher(t, kc, nil)
	ctx := context.Background()
	put := func(plates ...string) {
		t.Helper()
		var es []matcher.Entry
		for _, pl := range plates {
			es = append(es, matcher.Entry{List: "stolen", Plate: pl})
		}
		if err := p.Put(ctx, es); err != nil {
			t.Fatal(err)
		}
	}
	put("1AAA001", "1BBB002")

	a, stop := runAdded(t, kc, nil)
	waitFor(t, 5*time.Second, "the call at ready", func() bool { c, _ := a.snapshot(); return len(c) == 1 })
	if c, _ := a.snapshot(); len(c[0]) != 0 {
		t.Errorf("at ready without AddedSince: %v, want no entries", c[0])
	}
	put("1CCC003")
	waitFor(t, 5*time.Second, "the live put", func() bool {
		c, _ := a.snapshot()
		return slices.ContainsFunc(c, func(ks []string) bool { return slices.Contains(ks, "stolen/1CCC003") })
	})
	stop()
	_, next := a.snapshot()
	var total int64
	for _, o := range next {
		total += o
	}
	if total != 3 {
		t.Fatalf("next %v: offsets sum to %d, want the 3 records", next, total)
	}

	// Written while no Follower runs.
	put("1DDD004", "1EEE005")
	if err := p.Delete(ctx, "stolen", "1EEE005"); err != nil {
		t.Fatal(err)
	}
	put("1AAA001") // put again: a new record of an old entry

	b, _ := runAdded(t, kc, next)
	waitFor(t, 5*time.Second, "the call at ready", func() bool { c, _ := b.snapshot(); return len(c) >= 1 })
	if c, _ := b.snapshot(); !slices.Equal(c[0], []string{"stolen/1AAA001", "stolen/1DDD004"}) {
		t.Errorf("at ready since %v: %v, want the entries put since", next, c[0])
	}
	all, _ := runAdded(t, kc, map[int]int64{})
	waitFor(t, 5*time.Second, "the call at ready", func() bool { c, _ := all.snapshot(); return len(c) >= 1 })
	if c, _ := all.snapshot(); !slices.Equal(c[0], []string{"stolen/1AAA001", "stolen/1BBB002", "stolen/1CCC003", "stolen/1DDD004"}) {
		t.Errorf("at ready since the start: %v, want every entry", c[0])
	}
}
