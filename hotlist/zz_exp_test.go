package hotlist

import (
	"fmt"
	"testing"
	"time"

	"github.com/anpr/anpr/matcher"
)

func TestExpApply(t *testing.T) {
	for _, n := range []int{1e6, 4e6} {
		m := newMatcher(t)
		entries := make([]matcher.Entry, n)
		for i := range entries {
			entries[i] = matcher.Entry{List: "uninsured", Plate: fmt.Sprintf("PL%07d", i), Country: "BE",
				Category: "uninsured", Action: "stop", Reference: fmt.Sprintf("REF-%d", i)}
		}
		t0 := time.Now()
		if err := m.Load(entries); err != nil {
			t.Fatal(err)
		}
		t.Logf("load %d: %v", n, time.Since(t0))
		entries = nil
		for _, b := range []int{1 << 17, 1 << 19} {
			ch := make([]matcher.Change, b)
			for i := range ch {
				ch[i] = matcher.Change{Entry: matcher.Entry{List: "uninsured", Plate: fmt.Sprintf("NE%d", i*7+b), Country: "BE",
					Category: "uninsured", Action: "stop", Reference: fmt.Sprintf("REF-%d", i)}}
			}
			t0 := time.Now()
			if err := m.Apply(ch); err != nil {
				t.Fatal(err)
			}
			t.Logf("apply %d onto %d: %v", b, n, time.Since(t0))
		}
	}
}
