package worker

import (
	"runtime"
	"strings"
)

// DefaultProcs is the GOMAXPROCS of a worker process whose environment
// leaves GOMAXPROCS unset.
//
// A worker is I/O bound: its senders wait on Redis and the Bot API, and one
// core carries several thousand messages a second (BENCHMARKS.md), far above
// what Telegram lets a bot send. Go's default, a scheduler per core, costs a
// worker more than it gives: every hand-over between goroutines (asynq's
// dequeue, the handler, the completion) wakes an idle scheduler that spins
// looking for work and sleeps again, and with several workers on one
// machine, each with a scheduler per core, those wake-ups are a fifth of
// their CPU. Measured with six workers on two cores: 18% less worker CPU per
// message and 15% more messages a second than with Go's default.
const DefaultProcs = 1

// Procs returns the GOMAXPROCS a worker process sets, given its environment
// (lookup): DefaultProcs if GOMAXPROCS is unset or empty, else 0, leaving
// the value Go's runtime took from the environment (any value Go accepts,
// or Go's default if it rejects it).
func Procs(lookup func(string) (string, bool)) int {
	if v, ok := lookup("GOMAXPROCS"); ok && strings.TrimSpace(v) != "" {
		return 0
	}
	return DefaultProcs
}

// SetProcs applies [Procs] to the running process and returns the
// GOMAXPROCS in effect and whether the environment chose it. For mains:
// GOMAXPROCS is the process's.
func SetProcs(lookup func(string) (string, bool)) (procs int, fromEnv bool) {
	if n := Procs(lookup); n > 0 {
		runtime.GOMAXPROCS(n)
		return n, false
	}
	return runtime.GOMAXPROCS(0), true
}
