//go:build unix

package mdm_test

import (
	"syscall"
	"time"
)

// processCPU returns the user and system CPU time the process has used, so
// that benchmarks can report CPU per operation on a busy machine, where wall
// time includes waiting for a core.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
