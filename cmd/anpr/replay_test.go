package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anpr/anpr/internal/broker"
	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/plate"
)

// TestReplayCmd replays a stored window onto a topic of the embedded broker
// over TCP and reads it back: every selected passage once, each partition
// in capture-time order; then asks what a hotlist would have hit.
func TestReplayCmd(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(store.Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Add(-10 * time.Hour).Truncate(time.Hour)
	var reads []plate.Read
	for i := range 600 {
		norm := fmt.Sprintf("1RPL%03d", i%37)
		reads = append(reads, plate.Read{ReadID: fmt.Sprintf("r%d", i), CameraID: fmt.Sprintf("CAM-%d", i%3), PlateNorm: norm, Plate: norm,
			TS: base.Add(time.Duration(i*37%600) * 10 * time.Second), Confidence: -1, Lane: -1, VehicleClass: plate.ClassCar})
	}
	if _, err := st.Write(&store.Batch{Reads: reads}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	b, err := broker.Start(broker.Options{Topics: []string{"replayed"}, Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	from, to := base.Add(10*time.Minute), base.Add(80*time.Minute)
	args := []string{"replay", "--data-dir", dir, "--case", "PV/3", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339)}
	out, err := stdout(t, func() error {
		return Run(context.Background(), append(args, "--brokers", b.Addr(), "--to-topic", "replayed"))
	})
	var want []string
	for _, r := range reads {
		if !r.TS.Before(from) && r.TS.Before(to) {
			want = append(want, r.ReadID)
		}
	}
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("%d passages replayed", len(want))) {
		t.Fatalf("replay: %v, %s; want %d passages", err, out, len(want))
	}
	kc := kclient.Config{Brokers: []string{b.Addr()}}
	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for p := range 4 {
		r := kc.PartitionReader("replayed", p)
		lag, err := r.ReadLag(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var last time.Time
		for range lag {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var rd plate.Read
			if err := plate.Decode(m.Value, &rd); err != nil || string(m.Key) != rd.PlateNorm || rd.TS.Before(last) {
				t.Fatalf("partition %d: %s (key %s) after %s: %v", p, m.Value, m.Key, last, err)
			}
			last = rd.TS
			got = append(got, rd.ReadID)
		}
		r.Close()
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("read back %d passages, want the %d replayed", len(got), len(want))
	}

	csv := filepath.Join(t.TempDir(), "list.csv")
	if err := os.WriteFile(csv, []byte("list,plate\nwhat-if,1-RPL-005\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = stdout(t, func() error { return Run(context.Background(), append(args, "--hotlist", csv)) })
	n := 0
	for _, r := range reads {
		if r.PlateNorm == "1RPL005" && !r.TS.Before(from) && r.TS.Before(to) {
			n++
		}
	}
	if err != nil || strings.Count(string(out), `"hit_id"`) != n || n == 0 {
		t.Errorf("replay --hotlist: %v, %d hits, want %d:\n%s", err, strings.Count(string(out), `"hit_id"`), n, out)
	}
	if err := Run(context.Background(), []string{"replay", "--data-dir", dir, "--from", "2h", "--to", "1h", "--hotlist", csv}); err == nil || !strings.Contains(err.Error(), "--case") {
		t.Errorf("replay without --case: %v", err)
	}
}
