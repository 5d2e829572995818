//go:build amd64 || arm64

package matcher

import "unsafe"

// prefetch asks the CPU to load the cache line of p without waiting for
// it (PREFETCHT0, PRFM). Unlike a load, it retires at once, so that the
// computing after it goes on while the line is fetched.
//
//go:noescape
func prefetch(p unsafe.Pointer)
