package sectioncontrol

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTable checks the table against a Go map under random churn, with
// keys that collide on purpose (few distinct homes in a small table),
// inserting by insert and by lookup and insertAt.
func TestTable(t *testing.T) {
	for seed := range uint64(5) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var tb table[ev]
		want := map[plateKey]int64{}
		for step := range 200_000 {
			k := plateKey(1 + rng.IntN(3000))
			i := tb.find(k)
			w, ok := want[k]
			if (i >= 0) != ok || ok && tb.slots[i].val.ms != w {
				t.Fatalf("seed %d step %d: key %d: got slot %d, want present %v (%d)", seed, step, k, i, ok, w)
			}
			j, found := tb.lookup(k)
			if found != ok || found && j != i || !found && len(tb.slots) > 0 && tb.slots[j].key != 0 {
				t.Fatalf("seed %d step %d: key %d: lookup = %d, %v; find = %d", seed, step, k, j, found, i)
			}
			switch {
			case !ok && rng.IntN(2) == 0:
				tb.insert(k, ev{ms: int64(step)})
				want[k] = int64(step)
			case !ok:
				tb.insertAt(j, k, ev{ms: int64(step)})
				want[k] = int64(step)
			case rng.IntN(2) == 0:
				tb.remove(i)
				delete(want, k)
			default:
				tb.slots[i].val.ms = int64(step)
				want[k] = int64(step)
			}
			if tb.len() != len(want) {
				t.Fatalf("seed %d step %d: got len %d, want %d", seed, step, tb.len(), len(want))
			}
		}
	}
}

// TestSortFrom: the decisions after n come out in the canonical order, each
// once, whatever order they were taken in.
func TestSortFrom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 8))
	for range 200 {
		tr := &Tracker{}
		n := rng.IntN(3)
		for j := range n + rng.IntN(40) {
			key := plateKey(1 + rng.IntN(3))
			d := Decision{At: timeMs(int64(rng.IntN(5))), Plate: key.String(), Outcome: Outcome(rng.IntN(3)), MeasuredKmh: float64(j)}
			tr.ord = append(tr.ord, outKey{ms: d.At.UnixMilli(), rank: rng.IntN(2), key: key, i: int32(len(tr.out))})
			tr.out = append(tr.out, d)
		}
		before := slices.Clone(tr.out)
		ranks := map[float64]int{}
		for _, o := range tr.ord {
			ranks[tr.out[o.i].MeasuredKmh] = o.rank
		}
		tr.sortFrom(n)
		for j := range tr.ord {
			if tr.ord[j].i != int32(j) {
				t.Fatalf("got ord[%d].i = %d, want %d", j, tr.ord[j].i, j)
			}
		}
		got := slices.Clone(tr.out[n:])
		want := slices.Clone(before[n:])
		cmpD := func(a, b Decision) int {
			return cmp.Or(a.At.Compare(b.At), cmp.Compare(ranks[a.MeasuredKmh], ranks[b.MeasuredKmh]), cmp.Compare(a.Plate, b.Plate),
				cmp.Compare(a.Outcome, b.Outcome), cmp.Compare(a.MeasuredKmh, b.MeasuredKmh))
		}
		slices.SortFunc(want, cmpD)
		if !slices.Equal(got, want) || !slices.Equal(tr.out[:n], before[:n]) {
			t.Fatalf("got  %v\nwant %v", got, want)
		}
	}
}

// TestMakeKey: keys round-trip and order as the plates do; anything but 1
// to 12 of A-Z and 0-9 is refused.
func TestMakeKey(t *testing.T) {
	plates := []string{"0", "1", "9", "A", "Z", "A0", "AB", "AB1", "1ABC234", "ZZZZZZZZZZZZ", "000000000000"}
	for _, p := range plates {
		k, ok := makeKey(p)
		if !ok || k.String() != p {
			t.Errorf("makeKey(%q) = %v, %v; String %q, want %q", p, k, ok, k.String(), p)
		}
		for _, q := range plates {
			kq, _ := makeKey(q)
			if got, want := k < kq, p < q; got != want {
				t.Errorf("key(%q) < key(%q) = %v, want %v", p, q, got, want)
			}
		}
	}
	for _, p := range []string{"", "a", "aB", "A-1", "AB1-", "AB-1", "ABCDEFGHIJKLM"} {
		if k, ok := makeKey(p); ok {
			t.Errorf("makeKey(%q) = %v, true; want refused", p, k)
		}
	}
}
