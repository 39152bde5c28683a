//go:build !unix

package explorer

import "time"

func processCPU() time.Duration { return 0 }
