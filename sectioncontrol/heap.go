package sectioncontrol

// dueItem says: look at key's state in section sec once the newest capture
// time reaches trigger (the section's due time plus its max_lateness, so one
// heap serves every section). tk packs trigger<<16 | sec. Items go stale when
// the state changes; a stale one costs a lookup. 16 bytes.
type dueItem struct {
	tk  uint64
	key plateKey
}

func makeDue(trigger int64, sec int, key plateKey) dueItem {
	return dueItem{tk: uint64(trigger)<<16 | uint64(sec), key: key}
}

func (it dueItem) trigger() int64 { return int64(it.tk >> 16) }
func (it dueItem) sec() int       { return int(it.tk & 0xffff) }

func (a dueItem) less(b dueItem) bool { return a.tk < b.tk || a.tk == b.tk && a.key < b.key }

// dueHeap is a min-heap by (trigger, section, plate): a total order, so the
// pop order does not depend on the push history (container/heap would
// allocate per push).
type dueHeap []dueItem

func (h *dueHeap) push(it dueItem) {
	*h = append(*h, it)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q[i].less(q[p]) {
			break
		}
		q[p], q[i] = q[i], q[p]
		i = p
	}
}

func (h *dueHeap) pop() dueItem {
	q := *h
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	*h = q[:n]
	h.down(0)
	return top
}

func (h dueHeap) down(i int) {
	n := len(h)
	for {
		l, m := 2*i+1, i
		if l < n && h[l].less(h[m]) {
			m = l
		}
		if r := l + 1; r < n && h[r].less(h[m]) {
			m = r
		}
		if m == i {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

func (h dueHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}
