package hotlist

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/matcher"
)

func TestExpFetch(t *testing.T) {
	kc := startBroker(t)
	p := newPublisher(t, kc, nil)
	n := 100000
	entries := make([]matcher.Entry, n)
	for i := range entries {
		entries[i] = matcher.Entry{List: "uninsured", Plate: fmt.Sprintf("PL%07d", i),
			Category: "uninsured", Action: "stop", Reference: fmt.Sprintf("REF-%d", i)}
	}
	if err := p.Put(context.Background(), entries); err != nil {
		t.Fatal(err)
	}
	c := &kafka.Client{Addr: kafka.TCP(kc.Brokers...), Transport: kc.Transport()}
	hwm, err := listWatermarks(context.Background(), c, DefaultTopic)
	if err != nil {
		t.Fatal(err)
	}
	for run := 0; run < 2; run++ {
		start := time.Now()
		var wg sync.WaitGroup
		for part, w := range hwm {
			wg.Go(func() {
				r := kc.PartitionReader(DefaultTopic, part)
				defer r.Close()
				r.SetOffset(kafka.FirstOffset)
				first := true
				for {
					m, err := r.FetchMessage(context.Background())
					if first {
						t.Logf("partition %d first message after %v", part, time.Since(start))
						first = false
					}
					if err != nil {
						t.Error(err)
						return
					}
					if m.Offset+1 >= w {
						t.Logf("partition %d done after %v", part, time.Since(start))
						return
					}
				}
			})
		}
		wg.Wait()
		t.Logf("fetch only: %v (%.0f/s)", time.Since(start), float64(n)/time.Since(start).Seconds())
	}
}
