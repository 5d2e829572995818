package matcher

import (
	"math/rand/v2"
	"testing"
)

// TestKeyBijective checks that distinct keys never share a hash, which is
// what lets a lookup trust a matching hash without comparing plates: codes
// decode back to their key, and mix is undone by unmix.
func TestKeyBijective(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"", "0", "Z", "00", "0Z", "Z0", "ZZZZZZZZZZZZ", "000000000000", "1ABC234"}
	for range 10000 {
		b := make([]byte, rng.IntN(13))
		for i := range b {
			b[i] = keyChars[rng.IntN(len(keyChars))]
		}
		keys = append(keys, string(b))
	}
	seen := make(map[uint64]string)
	for _, k := range keys {
		c, ok := keyCode(k)
		if !ok {
			t.Fatalf("keyCode(%q) not ok", k)
		}
		h := mix(c)
		if prev, dup := seen[h]; dup && prev != k {
			t.Fatalf("keys %q and %q share hash %#x", prev, k, h)
		}
		seen[h] = k
		if got := string(appendKey(nil, unmix(h))); got != k {
			t.Errorf("appendKey(unmix(mix(keyCode(%q)))) = %q", k, got)
		}
	}
	for _, bad := range []string{"abc", "A-B", "ABCDEFGHIJKLM", "Ä"} {
		if _, ok := keyCode(bad); ok {
			t.Errorf("keyCode(%q) ok, want not a key", bad)
		}
	}
	for range 1000 {
		x := rng.Uint64()
		if got := unmix(mix(x)); got != x {
			t.Fatalf("unmix(mix(%#x)) = %#x", x, got)
		}
	}
}
