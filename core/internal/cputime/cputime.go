// Package cputime reads the CPU time this process has used (user +
// system), for benchmarks that must stay meaningful on a loaded machine:
// wall time counts the time other processes hold the cores, CPU time only
// what this process ran.
package cputime

import "time"

// Now returns the process's CPU time so far (0 where the platform has no
// getrusage: js/wasm, windows).
func Now() time.Duration { return now() }
