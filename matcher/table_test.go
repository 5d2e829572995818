package matcher

import "testing"

func TestTable(t *testing.T) {
	for _, shards := range []int{1, 3, 16} {
		for _, n := range []int{0, 1, 7, 8, 9, 100, 10_000} {
			tb := newTable(n, shards)
			if got, max := float64(n)/float64(len(tb.buckets)*len(bucket{})), maxLoad; got > max {
				t.Errorf("n=%d: load %.2f, want ≤ %.2f", n, got, max)
			}
			// Keys of shard 0 crowd into few buckets (equal high bits)
			// to force probing across buckets and wrapping around the end;
			// every third key shares its fingerprint (low half) with the
			// key before it, and 0 is a valid key. Key i's entry is at
			// position 2i. They are put in hash order, as shards do.
			key := func(i int) uint64 { return uint64(i)<<32 | uint64(i-i%3/2) }
			hashes := make([]uint64, 2*n)
			for i := range n {
				hashes[2*i], hashes[2*i+1] = key(i), key(i)
				tb.put(key(i), uint32(2*i))
			}
			for i := range n {
				if pos, ok := tb.get(key(i), hashes); !ok || pos != uint32(2*i) {
					t.Fatalf("shards=%d n=%d: get(key %d) = %d, %v; want %d, true", shards, n, i, pos, ok, 2*i)
				}
			}
			for i := n; i < n+50; i++ {
				if pos, ok := tb.get(key(i), hashes); ok {
					t.Fatalf("shards=%d n=%d: get(absent key %d) = %d, true; want a miss", shards, n, i, pos)
				}
			}
		}
	}
	zero := newTable(1, 1)
	hashes := []uint64{0}
	if _, ok := zero.get(0, hashes); ok {
		t.Error("empty table: get(0) hit, want a miss (empty slots have fingerprint 0)")
	}
	zero.put(0, 0)
	if pos, ok := zero.get(0, hashes); !ok || pos != 0 {
		t.Errorf("get(0) = %d, %v; want 0, true", pos, ok)
	}
	if pos, ok := zero.get(1<<32, hashes); ok { // same fingerprint, other hash
		t.Errorf("get(1<<32) = %d, true; want a miss", pos)
	}
}
