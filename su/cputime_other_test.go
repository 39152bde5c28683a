//go:build !unix

package su

import "time"

func processCPU() time.Duration { return 0 }
