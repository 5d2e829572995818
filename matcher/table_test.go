package matcher

import "testing"

func TestTable(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 100, 10_000} {
		tb := newTables([]int{n})[0]
		if got, max := float64(n)/float64(len(tb.buckets)*len(bucket{})), maxLoad; got > max {
			t.Errorf("n=%d: load %.2f, want ≤ %.2f", n, got, max)
		}
		// Keys crowd into few buckets (equal low bits) to force probing
		// across buckets and wrapping around the end; every third key
		// shares its fingerprint (high half) with the key before it, and
		// 0 is a valid key. Key i's entry is at position 2i.
		key := func(i int) uint64 { return uint64(i-i%3/2)<<40 | uint64(i)<<20 | tb.mask }
		hashes := make([]uint64, 2*n)
		for i := range n {
			hashes[2*i], hashes[2*i+1] = key(i), key(i)
			tb.put(key(i), uint32(2*i))
		}
		for i := range n {
			if pos, ok := tb.get(key(i), hashes); !ok || pos != uint32(2*i) {
				t.Fatalf("n=%d: get(key %d) = %d, %v; want %d, true", n, i, pos, ok, 2*i)
			}
		}
		for i := n; i < n+50; i++ {
			if pos, ok := tb.get(key(i), hashes); ok {
				t.Fatalf("n=%d: get(absent key %d) = %d, true; want a miss", n, i, pos)
			}
		}
	}
	zero := newTables([]int{1})[0]
	hashes := []uint64{0}
	if _, ok := zero.get(0, hashes); ok {
		t.Error("empty table: get(0) hit, want a miss (empty slots have fingerprint 0)")
	}
	zero.put(0, 0)
	if pos, ok := zero.get(0, hashes); !ok || pos != 0 {
		t.Errorf("get(0) = %d, %v; want 0, true", pos, ok)
	}
	if pos, ok := zero.get(1, hashes); ok { // same fingerprint, other hash
		t.Errorf("get(1) = %d, true; want a miss", pos)
	}
}
