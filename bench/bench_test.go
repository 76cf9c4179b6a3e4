package main

import (
	"bytes"
	"testing"
)

// TestQuick runs the whole suite in its short form and checks behaviour
// only: that every section completes and that the cluster of worker
// processes stays within the limits. Throughput and latency figures depend
// on the machine and are printed, not asserted.
//
// The compliance run uses limits with long windows (5/s global and paid,
// 1/s per chat, 20/min per group) and workers with a 20% limiter margin: on
// a shared 2-core machine a request reaches the sandbox up to ~100 ms after
// the instant the limiter granted, and the margin (200 ms on a one-second
// window) is what absorbs that. BENCHMARKS.md reports the 300/s run with the
// default margin.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes for about a minute")
	}
	var out, progress bytes.Buffer
	rep, err := run(t.Context(), []string{"-quick", "-rates", "5,1,20,5", "-margin", "0.2"}, &out, &progress)
	t.Log("\n" + progress.String() + out.String())
	if err != nil {
		t.Fatal(err)
	}
	c := rep.compliance
	if c == nil {
		t.Fatal("no compliance result")
	}
	if c.TimedOut || c.Delivered != c.Total {
		t.Errorf("compliance: %d of %d messages delivered", c.Delivered, c.Total)
	}
	if c.Stats.Violations != 0 || c.Stats.EarlyRetry != 0 {
		t.Errorf("compliance: %d sends over a limit %v, %d before retry_after ran out; want 0",
			c.Stats.Violations, c.Stats.Rejected429, c.Stats.EarlyRetry)
	}
	if c.Archived != 0 {
		t.Errorf("compliance: %d tasks archived", c.Archived)
	}
}
