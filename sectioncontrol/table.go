package sectioncontrol

import "math/bits"

// table maps plate keys to V (a pending read, a shield): open addressing with
// linear probing over slots holding the key and its value together (a 24-byte
// V makes a 32-byte slot: a lookup costs one cache miss, not one for the key
// and one for the value), deletion by backward shift (no tombstones, so
// insert-delete churn does not lengthen probes, unlike a Go map), at most
// 80 % full, growing by half (a power of two would leave it half empty after
// each doubling). Slots are found by multiplying the hashed key by the
// capacity (no modulo). Key 0 marks an empty slot: makeKey never returns it.
type table[V any] struct {
	slots []slot[V]
	n     int
}

type slot[V any] struct {
	key plateKey
	val V
}

const minTable = 64

func (t *table[V]) len() int { return t.n }

// home is the first slot probed for k.
func (t *table[V]) home(k plateKey) int {
	hi, _ := bits.Mul64(uint64(k)*0x9E3779B97F4A7C15, uint64(len(t.slots)))
	return int(hi)
}

// find returns k's slot, or -1.
func (t *table[V]) find(k plateKey) int {
	if i, ok := t.lookup(k); ok {
		return i
	}
	return -1
}

// lookup returns k's slot and true, or the empty slot ending k's probe
// (where insertAt puts it) and false; -1 when the table has no slots.
func (t *table[V]) lookup(k plateKey) (int, bool) {
	if len(t.slots) == 0 {
		return -1, false
	}
	for i := t.home(k); ; {
		switch t.slots[i].key {
		case k:
			return i, true
		case 0:
			return i, false
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
}

// insertAt adds k (absent) with value v at i, the slot lookup returned
// (no insert or remove since), and returns its slot: no second probe,
// unless the table grows.
func (t *table[V]) insertAt(i int, k plateKey, v V) int {
	if i < 0 || 5*(t.n+1) > 4*len(t.slots) {
		return t.insert(k, v)
	}
	t.slots[i] = slot[V]{k, v}
	t.n++
	return i
}

// insert adds k (absent) with value v and returns its slot.
func (t *table[V]) insert(k plateKey, v V) int {
	if 5*(t.n+1) > 4*len(t.slots) {
		t.resize(max(minTable, len(t.slots)+len(t.slots)/2))
	}
	i := t.home(k)
	for t.slots[i].key != 0 {
		if i++; i == len(t.slots) {
			i = 0
		}
	}
	t.slots[i] = slot[V]{k, v}
	t.n++
	return i
}

// remove empties slot i, moving back the keys after it that may move.
func (t *table[V]) remove(i int) {
	n := len(t.slots)
	for j := i; ; {
		if j++; j == n {
			j = 0
		}
		k := t.slots[j].key
		if k == 0 {
			break
		}
		// k may move to i unless its home lies cyclically in (i, j].
		if h := t.home(k); i <= j && (h <= i || h > j) || i > j && h <= i && h > j {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = slot[V]{}
	t.n--
}

func (t *table[V]) resize(size int) {
	old := t.slots
	*t = table[V]{slots: make([]slot[V], size)}
	for _, s := range old {
		if s.key != 0 {
			t.insert(s.key, s.val)
		}
	}
}
