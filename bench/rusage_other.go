//go:build !unix

package bench

import "time"

func usage() (time.Duration, int64) { return 0, 0 }
