//go:build unix

// Package cputime reads the CPU time of the process, for benchmarks that
// compare two workloads on a machine other processes load: unlike wall
// time, CPU time does not grow while other processes hold the CPU.
package cputime

import (
	"syscall"
	"time"
)

// Process returns the CPU time the process has used (user and system, every
// thread: the garbage collector's work included), and false where the
// platform does not report it.
func Process() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
