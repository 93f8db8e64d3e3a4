//go:build unix

package policies

import (
	"syscall"
	"time"
)

// processCPU is the CPU time this process has used (user and system, all
// threads, GC included). Benchmarks report it per op because on a shared
// machine wall time mostly measures the neighbours.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
