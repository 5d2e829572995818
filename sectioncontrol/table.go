package sectioncontrol

import "math/bits"

// table maps plate keys to V (a pending read, a shield): open addressing with linear
// probing over a key array (eight keys a cache line) and a parallel value
// array, deletion by backward shift (no tombstones, so insert-delete churn
// does not lengthen probes, unlike a Go map), at most 80 % full, growing by
// half (a power of two would leave it half empty after each doubling).
// Slots are found by multiplying the hashed key by the capacity (no modulo).
// Key 0 marks an empty slot: makeKey never returns it.
type table[V any] struct {
	keys []plateKey
	vals []V
	n    int
}

const minTable = 64

func (t *table[V]) len() int { return t.n }

// home is the first slot probed for k.
func (t *table[V]) home(k plateKey) int {
	hi, _ := bits.Mul64(uint64(k)*0x9E3779B97F4A7C15, uint64(len(t.keys)))
	return int(hi)
}

// find returns k's slot, or -1.
func (t *table[V]) find(k plateKey) int {
	if len(t.keys) == 0 {
		return -1
	}
	for i := t.home(k); ; {
		switch t.keys[i] {
		case k:
			return i
		case 0:
			return -1
		}
		if i++; i == len(t.keys) {
			i = 0
		}
	}
}

// insert adds k (absent) with value v and returns its slot.
func (t *table[V]) insert(k plateKey, v V) int {
	if 5*(t.n+1) > 4*len(t.keys) {
		t.resize(max(minTable, len(t.keys)+len(t.keys)/2))
	}
	i := t.home(k)
	for t.keys[i] != 0 {
		if i++; i == len(t.keys) {
			i = 0
		}
	}
	t.keys[i], t.vals[i] = k, v
	t.n++
	return i
}

// remove empties slot i, moving back the keys after it that may move.
func (t *table[V]) remove(i int) {
	n := len(t.keys)
	for j := i; ; {
		if j++; j == n {
			j = 0
		}
		k := t.keys[j]
		if k == 0 {
			break
		}
		// k may move to i unless its home lies cyclically in (i, j].
		if h := t.home(k); i <= j && (h <= i || h > j) || i > j && h <= i && h > j {
			t.keys[i], t.vals[i] = k, t.vals[j]
			i = j
		}
	}
	var zero V
	t.keys[i], t.vals[i] = 0, zero
	t.n--
}

func (t *table[V]) resize(size int) {
	old := *t
	*t = table[V]{keys: make([]plateKey, size), vals: make([]V, size)}
	for i, k := range old.keys {
		if k != 0 {
			t.insert(k, old.vals[i])
		}
	}
}
