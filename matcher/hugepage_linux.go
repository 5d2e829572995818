package matcher

import (
	"syscall"
	"unsafe"
)

// adviseHuge asks the kernel to back buckets with transparent huge pages
// (MADV_HUGEPAGE; /sys/kernel/mm/transparent_hugepage/enabled is usually
// "madvise", under which anonymous memory gets 4 KiB pages unless
// advised). It must be called before the memory is first written, so that
// the page faults allocate huge pages. The advice is a hint and survives
// the memory's reuse by the Go heap once the table is garbage; an error
// (THP "never", an old kernel) leaves 4 KiB pages and is ignored.
func adviseHuge(buckets []bucket) {
	if len(buckets) == 0 {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&buckets[0])), len(buckets)*int(unsafe.Sizeof(bucket{})))
	_ = syscall.Madvise(b, syscall.MADV_HUGEPAGE)
}
