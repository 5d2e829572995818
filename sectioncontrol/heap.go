package sectioncontrol

import "slices"

// dueItem says: look at key's state in section sec once the newest capture
// time reaches trigger (the section's due time plus its max_lateness, so one
// queue serves every section). tk packs trigger<<16 | sec. Items go stale when
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

func (a dueItem) less(b dueItem) bool {
	return a.tk < b.tk || a.tk == b.tk && a.key.rank() < b.key.rank()
}

// redundantKey marks a due item as a marker (dueQueue.skip): plate keys are
// below 37^12 < 2^63, so the top bit is free.
const redundantKey plateKey = 1 << 63

// rank orders keys with a marker just before the item it marks.
func (k plateKey) rank() uint64 { return uint64(k)<<1 | (uint64(k)>>63 ^ 1) }

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

// dueQueue holds the due items of a Tracker's sections, popped in the
// dueHeap order. A read's item is due dedupe plus max_lateness after its
// capture, so items arrive almost in trigger order: they go to a ring of
// buckets of 1<<dueShift ms, each sorted when it becomes the head (cheap,
// and in cache), where a heap of hundreds of thousands of items costs a
// cache miss per level. Items beyond the ring's span (entry expiries,
// shields) go to a heap.
type dueQueue struct {
	ring   [][]dueItem // ring[b&mask] holds the items of bucket b, for b in [cur, cur+len(ring))
	cur    int64       // the head bucket; earlier items are clamped into it
	head   int         // items of the head bucket popped
	sorted bool        // the head bucket is sorted
	inRing int         // items in the ring, not popped
	far    dueHeap
	pool   [][]dueItem // empty buckets' slices, for reuse
	tmp    []dueItem   // sortBucket's
}

const dueShift = 6

// newDueQueue returns a queue whose ring spans at least span ms (capped).
func newDueQueue(span int64) dueQueue {
	n := 64
	for n < 1<<16 && int64(n-2)<<dueShift < span {
		n *= 2
	}
	return dueQueue{ring: make([][]dueItem, n)}
}

func (q *dueQueue) bucket(b int64) *[]dueItem { return &q.ring[b&int64(len(q.ring)-1)] }

func (q *dueQueue) push(it dueItem) {
	b := it.trigger() >> dueShift
	if q.inRing == 0 { // reposition the empty ring
		q.recycle()
		q.cur = b
	}
	switch {
	case b <= q.cur:
		bk := q.bucket(q.cur)
		if q.sorted {
			j, _ := slices.BinarySearchFunc((*bk)[q.head:], it, cmpDue)
			*bk = slices.Insert(*bk, q.head+j, it)
		} else {
			*bk = append(*bk, it)
		}
	case b-q.cur < int64(len(q.ring)):
		bk := q.bucket(b)
		if *bk == nil {
			if n := len(q.pool); n > 0 {
				*bk, q.pool = q.pool[n-1], q.pool[:n-1]
			}
		}
		*bk = append(*bk, it)
	default:
		q.far.push(it)
		return
	}
	q.inRing++
}

// recycle empties the head bucket.
func (q *dueQueue) recycle() {
	bk := q.bucket(q.cur)
	if *bk != nil && len(q.pool) < 8 && cap(*bk) <= 4096 {
		q.pool = append(q.pool, (*bk)[:0])
	}
	*bk, q.head, q.sorted = nil, 0, false
}

// min returns the earliest item, left in the queue.
func (q *dueQueue) min() (dueItem, bool) {
	if q.inRing == 0 {
		if len(q.far) == 0 {
			return dueItem{}, false
		}
		return q.far[0], true
	}
	for q.head == len(*q.bucket(q.cur)) {
		q.recycle()
		q.cur++
	}
	bk := *q.bucket(q.cur)
	if !q.sorted {
		q.sortBucket(bk[q.head:], q.cur<<dueShift)
		q.sorted = true
	}
	if it := bk[q.head]; len(q.far) == 0 || it.less(q.far[0]) {
		return it, true
	}
	return q.far[0], true
}

// pop removes and returns the earliest item if its trigger is at or before
// limit; redundant reports that skip marked it.
func (q *dueQueue) pop(limit int64) (it dueItem, redundant, ok bool) {
	var marker dueItem
	for {
		it, ok := q.min()
		if !ok || it.trigger() > limit {
			return dueItem{}, false, false // a marker's item sorts next, with its trigger: it is gone
		}
		if q.inRing > 0 && (*q.bucket(q.cur))[q.head] == it {
			q.head++
			q.inRing--
		} else {
			q.far.pop()
		}
		if it.key&redundantKey != 0 {
			marker = it
			continue
		}
		return it, marker.tk == it.tk && marker.key == it.key|redundantKey, true
	}
}

// skip marks the item it, in the queue, redundant: a marker, popped just
// before it, says so (see Tracker.insert for when an item is). An item in
// the head bucket or the heap is left unmarked: marking is only a saving.
func (q *dueQueue) skip(it dueItem) {
	if b := it.trigger() >> dueShift; q.inRing > 0 && b > q.cur && b-q.cur < int64(len(q.ring)) {
		it.key |= redundantKey
		q.push(it)
	}
}

// filter keeps the items for which keep is true, in order: only those of
// the heap unless all.
func (q *dueQueue) filter(all bool, keep func(dueItem) bool) {
	if all && q.inRing > 0 {
		q.inRing = 0
		for i := range q.ring {
			bk := q.ring[i]
			if i == int(q.cur&int64(len(q.ring)-1)) {
				bk, q.head = bk[q.head:], 0 // the popped prefix goes
			}
			kept := bk[:0]
			for _, it := range bk {
				if it.key&redundantKey == 0 && keep(it) { // markers go: what they mark may change
					kept = append(kept, it)
				}
			}
			clear(bk[len(kept):])
			q.ring[i] = kept
			q.inRing += len(kept)
		}
	}
	kept := q.far[:0]
	for _, it := range q.far {
		if keep(it) {
			kept = append(kept, it)
		}
	}
	clear(q.far[len(kept):])
	q.far = kept
	q.far.init()
}

// sortBucket sorts the items of the bucket starting at ms base (items
// clamped into it are earlier) in the dueHeap order: a counting sort by
// trigger, then an insertion sort for the items of one trigger (few), where
// a comparison sort costs a call per comparison.
func (q *dueQueue) sortBucket(bk []dueItem, base int64) {
	if len(bk) > 16 {
		var count [1<<dueShift + 1]int32
		slot := func(it dueItem) int { return int(min(max(it.trigger()-base, 0), 1<<dueShift-1)) }
		for _, it := range bk {
			count[slot(it)+1]++
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		tmp := slices.Grow(q.tmp[:0], len(bk))[:len(bk)]
		for _, it := range bk {
			c := &count[slot(it)]
			tmp[*c] = it
			*c++
		}
		copy(bk, tmp)
		q.tmp = tmp[:0]
	}
	for i := 1; i < len(bk); i++ {
		it := bk[i]
		j := i
		for ; j > 0 && it.less(bk[j-1]); j-- {
			bk[j] = bk[j-1]
		}
		bk[j] = it
	}
}

func cmpDue(a, b dueItem) int {
	switch {
	case a.less(b):
		return -1
	case b.less(a):
		return 1
	}
	return 0
}
