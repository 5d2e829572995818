//go:build !linux

package matcher

// adviseHuge does nothing: transparent huge pages are advised on Linux only.
func adviseHuge[T any]([]T) {}
