//go:build !amd64 && !arm64

package matcher

import "unsafe"

// prefetch does nothing where no prefetch instruction is wired (see
// prefetch_asm.go): there a fuzzy read's filter words and buckets are
// fetched when first read, with fewer misses in flight.
func prefetch(p unsafe.Pointer) {}
