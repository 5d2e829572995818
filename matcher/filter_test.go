package matcher

import "testing"

// TestVariantFilter checks that a variantFilter has every key added and
// passes few others: at most 2.5 % (1.8 % expected at 10 bits per key).
func TestVariantFilter(t *testing.T) {
	for _, n := range []int{0, 1, 1000, 100_000} {
		f := newVariantFilter(n)
		for i := range n {
			f.add(mix(uint64(i)))
		}
		for i := range n {
			if !f.has(mix(uint64(i))) {
				t.Fatalf("n=%d: has(key %d) = false after add", n, i)
			}
		}
		const probes = 100_000
		passed := 0
		for i := range probes {
			if f.has(mix(uint64(n + i))) {
				passed++
			}
		}
		if got := float64(passed) / probes; got > 0.025 || n == 0 && passed > 0 {
			t.Errorf("n=%d: %.2f %% of absent keys pass, want at most 2.5 %% (none when empty)", n, 100*got)
		}
	}
}
