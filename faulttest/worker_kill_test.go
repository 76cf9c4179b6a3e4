package faulttest

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telequeue/telequeue/internal/proctest"
)

// TestWorkerSIGKILL kills two of six busy workers with SIGKILL. asynq gives
// a dead worker's tasks back only when their lease (30 s, renewed every 5 s)
// has been expired for 30 s and a recoverer (every minute in each live
// worker) runs: about 60-90 s. Every message must arrive; a message is sent
// twice at most when its send was in flight at the kill.
//
// It runs with sent markers (the default) and without (SENT_MARKERS=false)
// to measure what they prevent: without them, a task whose send Telegram had
// confirmed but whose completion asynq had not yet stored is sent again.
func TestWorkerSIGKILL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		markers bool
	}{
		{"markers", true},
		{"no_markers", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testWorkerSIGKILL(t, tc.markers)
		})
	}
}

func testWorkerSIGKILL(t *testing.T, markers bool) {
	const (
		workers     = 6
		concurrency = 10
		total       = 3000
		killAfter   = 1000 // deliveries before the kill
		victims     = 2
	)
	r := newRig(t, rigOptions{latency: 20 * time.Millisecond})
	env := []string{"SENT_MARKERS=" + strconv.FormatBool(markers)}
	procs := make([]*proctest.Process, workers)
	for i := range procs {
		procs[i] = r.startWorker("worker-"+strconv.Itoa(i+1), env...)
	}
	// Queued while the workers run, as in production.
	texts, _ := r.enqueue(messages("kill", total))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.sandbox.WaitFor(ctx, killAfter); err != nil {
		t.Fatalf("waiting for %d deliveries: %v (got %d)", killAfter, err, r.sandbox.Count())
	}
	var killedAt time.Time
	for _, p := range procs[:victims] {
		killedAt = p.Kill()
	}
	atKill := r.sandbox.Count()

	// The survivors finish the load at once; the victims' tasks stay
	// "active" until a recoverer hands them back.
	q, drainedAt := r.waitDrained(4 * time.Minute)
	tl := r.tally(texts)

	// The tasks the victims held: asynq records ErrLeaseExpired on them.
	var orphaned []string
	var lastDelivery time.Time
	for _, info := range r.completedTasks("default") {
		if strings.Contains(info.LastErr, "lease expired") {
			orphaned = append(orphaned, info.ID)
		}
	}
	for _, m := range r.sandbox.Messages() {
		if m.At.After(killedAt) && m.At.After(lastDelivery) {
			lastDelivery = m.At
		}
	}
	skipped := 0
	for _, p := range procs[victims:] {
		skipped += p.LogCount("message already delivered")
	}

	t.Logf("markers=%v: %d messages, %d workers×%d, kill -9 of %d workers after %d deliveries",
		markers, total, workers, concurrency, victims, atKill)
	t.Logf("tasks held by the killed workers (lease expired): %d; duplicates: %d %v; sends skipped by a marker: %d",
		len(orphaned), tl.dups, firstN(tl.dupTexts, 5), skipped)
	t.Logf("kill → last delivery %v; kill → queues drained %v; %v",
		lastDelivery.Sub(killedAt).Round(100*time.Millisecond), drainedAt.Sub(killedAt).Round(100*time.Millisecond), q)

	if len(tl.missing) > 0 {
		t.Errorf("%d messages lost: %v", len(tl.missing), firstN(tl.missing, 10))
	}
	if q.completed != total || q.archived != 0 {
		t.Errorf("queues: %v; want %d completed, none archived", q, total)
	}
	if len(orphaned) == 0 {
		t.Errorf("no task was held by the killed workers: the kill was not mid-load")
	}
	if len(orphaned) > victims*concurrency {
		t.Errorf("%d orphaned tasks; the killed workers could hold at most %d", len(orphaned), victims*concurrency)
	}
	if tl.dups > len(orphaned) {
		t.Errorf("%d duplicates; at most the %d sends in flight at the kill may repeat", tl.dups, len(orphaned))
	}
	if !markers && skipped > 0 {
		t.Errorf("%d sends skipped by markers with SENT_MARKERS=false", skipped)
	}
	assertAlive(t, procs[victims:]...)
	if p := panics(procs...); len(p) > 0 {
		t.Errorf("panics: %v", p)
	}
}
