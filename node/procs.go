package node

import (
	"os"
	"runtime"
)

// SetProcs gives the Go runtime two Ps per CPU it would use by default, unless the
// GOMAXPROCS environment variable says otherwise, and returns the setting in force.
//
// Why: Badger writes through mmap and makes each group commit durable with msync, and a
// goroutine inside msync (a few hundred µs per group on the VMs we measure on) keeps its P
// for the whole call. With one P per core that idles a core at every sync, exactly when the
// scheduler has its next round to sign. With two per core the other goroutines run on while
// a sync waits; the kernel still shares the same cores. BenchmarkSchedule with -cpu 2,4 on a
// 2-core VM: 64 clients, 17,800 -> 19,900 durable assignments/s (su/README.md).
func SetProcs() int {
	if os.Getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0)
	}
	n := 2 * runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(n)
	return n
}
