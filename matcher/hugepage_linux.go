package matcher

import (
	"syscall"
	"unsafe"
)

// adviseHuge asks the kernel to back the whole huge pages within s with
// transparent huge pages (MADV_HUGEPAGE; /sys/kernel/mm/
// transparent_hugepage/enabled is usually "madvise", under which anonymous
// memory gets 4 KiB pages unless advised). Only the aligned interior is
// advised: aligning the allocation itself would waste up to a huge page
// per shard. It must be called before the memory is first written, so
// that the page faults allocate huge pages. The advice is a hint and
// survives the memory's reuse by the Go heap once s is garbage; an error
// (THP "never", an old kernel) leaves 4 KiB pages and is ignored.
func adviseHuge[T any](s []T) {
	if cap(s) == 0 {
		return
	}
	s = s[:cap(s)]
	start := uintptr(unsafe.Pointer(&s[0]))
	end := start + uintptr(len(s))*unsafe.Sizeof(s[0])
	from := (start + hugePage - 1) &^ (hugePage - 1)
	to := end &^ (hugePage - 1)
	if from >= to {
		return
	}
	p := (*byte)(unsafe.Add(unsafe.Pointer(&s[0]), from-start))
	_ = syscall.Madvise(unsafe.Slice(p, to-from), syscall.MADV_HUGEPAGE)
}
