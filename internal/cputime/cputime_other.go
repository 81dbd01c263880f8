//go:build !unix

// Package cputime reads the CPU time of the process, for benchmarks that
// compare two workloads on a machine other processes load: unlike wall
// time, CPU time does not grow while other processes hold the CPU.
package cputime

import "time"

// Process returns false: the platform's CPU time is not read here.
func Process() (time.Duration, bool) { return 0, false }
