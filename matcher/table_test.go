package matcher

import "testing"

func TestTable(t *testing.T) {
	for _, n := range []int{0, 1, 3, 4, 5, 100, 10_000} {
		tb := newTable(n)
		if got, max := float64(n)/float64(len(tb.buckets)*len(bucket{})), maxLoad; got > max {
			t.Errorf("n=%d: load %.2f, want ≤ %.2f", n, got, max)
		}
		// Keys crowd into few buckets (equal low bits) to force probing
		// across buckets and wrapping around the end; 0 is a valid key.
		key := func(i int) uint64 { return uint64(i)<<40 | tb.mask }
		for i := range n {
			tb.put(key(i), span{start: uint32(i), n: uint32(i%3 + 1)})
		}
		for i := range n {
			sp, ok := tb.get(key(i))
			if want := (span{start: uint32(i), n: uint32(i%3 + 1)}); !ok || sp != want {
				t.Fatalf("n=%d: get(key %d) = %v, %v; want %v, true", n, i, sp, ok, want)
			}
		}
		for i := n; i < n+50; i++ {
			if sp, ok := tb.get(key(i)); ok {
				t.Fatalf("n=%d: get(absent key %d) = %v, true; want a miss", n, i, sp)
			}
		}
	}
	zero := newTable(1)
	if _, ok := zero.get(0); ok {
		t.Error("empty table: get(0) hit, want a miss (empty slots have hash 0)")
	}
	zero.put(0, span{start: 7, n: 1})
	if sp, ok := zero.get(0); !ok || sp.start != 7 {
		t.Errorf("get(0) = %v, %v; want start 7", sp, ok)
	}
}
