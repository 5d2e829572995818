package sectioncontrol

// dueItem says: look at key's state once the watermark passes due (ms).
// Items go stale when the state changes; a stale one costs a lookup.
type dueItem struct {
	due int64
	key plateKey
}

// dueHeap is a min-heap by due (container/heap would allocate per push).
type dueHeap []dueItem

func (h *dueHeap) push(it dueItem) {
	*h = append(*h, it)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if q[p].due <= q[i].due {
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
	q = q[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && q[l].due < q[m].due {
			m = l
		}
		if r := l + 1; r < n && q[r].due < q[m].due {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}
