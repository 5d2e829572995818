//go:build !amd64

package matcher

import "unsafe"

// prefetch does nothing where no prefetch instruction is wired (see
// prefetch_amd64.go); touch passes still overlap the misses.
func prefetch(p unsafe.Pointer) {}
