// Package proctest runs telequeue's binaries as real processes in tests, the
// way a platform runs them: it builds them once per test binary run
// ([Build]), starts them with an explicit environment ([Start]), keeps each
// process's stdout and stderr in a log file that is printed when the test
// fails, sends signals, waits for the exit status, and reads a process's
// state and CPU time from /proc ([ReadStat], [CPUShare]).
//
// Typical use, with redistest for Redis and the in-process sandbox for the
// Bot API:
//
//	func TestMain(m *testing.M) { os.Exit(proctest.Run(m)) }
//
//	func TestCrash(t *testing.T) {
//		bin := proctest.Binary(t, "./cmd/worker")
//		w := proctest.Start(t, bin, proctest.Options{Name: "worker-1", Env: []string{"REDIS_URL=" + url}})
//		...
//		w.Kill()
//	}
//
// Processes get only PATH, HOME and TMPDIR from the test's environment plus
// [Options.Env], so that a developer's own REDIS_URL or bot token never
// leaks into a test. Everything is Linux-only (/proc, Pdeathsig).
package proctest
