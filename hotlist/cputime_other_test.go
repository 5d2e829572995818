//go:build !unix

package hotlist

import "time"

// processCPU is not measured here: benchmarks fall back to wall time.
func processCPU() time.Duration { return 0 }
