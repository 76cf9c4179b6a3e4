package faulttest

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/proctest"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/tasks"
)

// TestWorkerSIGKILL kills two of six busy workers with SIGKILL. asynq gives
// a dead worker's tasks back only when their lease (30 s, renewed every 5 s)
// has been expired for 30 s and a recoverer (every minute in each live
// worker) runs: about 60-90 s. Every message must arrive, and only a task
// the killed workers held may be sent twice, at most once more.
//
// The kill is aimed at the moment sent markers exist for: Telegram has
// confirmed a send, the worker has stored the marker and the task's result,
// but asynq has not yet recorded the task as done. Naturally that window is
// a Redis round trip wide; here the victims reach Redis through a proxy that
// stops answering them (their writes still land), so that their sends in
// flight finish and stop right there, and they are killed once such a task
// exists. Then, with markers (the default), each of those tasks completes
// without a second send; without them (SENT_MARKERS=false), each is sent
// again: the difference is what markers buy.
func TestWorkerSIGKILL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		markers, rides bool
	}{
		// The default: a delivery's records ride with asynq's completion.
		{"markers_riding", true, true},
		// Records in a round trip of their own, before asynq completes:
		// the window in which a marker exists for an active task.
		{"markers", true, false},
		{"no_markers", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testWorkerSIGKILL(t, tc.markers, tc.rides)
		})
	}
}

// skippedTask reads the task id of a worker's "already delivered" line.
var skippedTask = regexp.MustCompile(`message already delivered.*task_id=(\S+)`)

func testWorkerSIGKILL(t *testing.T, markers, rides bool) {
	const (
		workers     = 6
		concurrency = 10
		total       = 3000
		killAfter   = 1000 // deliveries before the kill
		victims     = 2
	)
	r := newRig(t, rigOptions{latency: 20 * time.Millisecond})
	// asynq's own recovery, which this test measures: the fast one off.
	env := []string{"SENT_MARKERS=" + strconv.FormatBool(markers), "COMPLETION_RIDES=" + strconv.FormatBool(rides), "RECOVERY_DEAD_AFTER=0"}
	procs := make([]*proctest.Process, workers)
	links := make([]*redistest.Proxy, victims)
	for i := range procs {
		extra := env
		if i < victims {
			p, err := redistest.NewProxy(r.redis.Addr())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Close)
			links[i] = p
			extra = append(extra, "REDIS_URL=redis://"+p.Addr()+"/0")
		}
		procs[i] = r.startWorker("worker-"+strconv.Itoa(i+1), extra...)
	}
	// Queued while the workers run, as in production.
	texts, ids := r.enqueue(messages("kill", total))
	textOfID := make(map[string]string, total)
	for i, id := range ids {
		textOfID[id] = texts[i]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.sandbox.WaitFor(ctx, killAfter); err != nil {
		t.Fatalf("waiting for %d deliveries: %v (got %d)", killAfter, err, r.sandbox.Count())
	}

	// Redis stops answering the victims; once a task of theirs is confirmed
	// by Telegram and its result stored but not done, they die. With rides
	// that state does not occur (the records and asynq's completion are one
	// pipeline, and the proxy lets writes through): the victims' sends in
	// flight finish within the hold and their records land with the
	// completion, or they were waiting on the limiter and never send.
	for _, l := range links {
		l.HoldReplies()
	}
	if rides {
		time.Sleep(time.Second) // the fault's duration, not a wait for a condition
	} else if err := r.waitStuckSent(ctx); err != nil {
		t.Fatal(err)
	}
	var killedAt time.Time
	for _, p := range procs[:victims] {
		killedAt = p.Kill()
	}
	for _, l := range links {
		l.Close() // nothing the victims wrote arrives later
	}
	atKill := r.sandbox.Count()
	// Results first: a write still on its way lands marker first, so a
	// result seen here has its marker in the second look.
	resultAtKill := r.activeWithResult()
	markedAtKill := r.markedTasks(ids)

	// The survivors finish the load at once; the victims' tasks stay
	// "active" until a recoverer hands them back.
	q, drainedAt := r.waitDrained(4 * time.Minute)
	tl := r.tally(texts)

	// The tasks the victims held: asynq records ErrLeaseExpired on them.
	orphaned := map[string]bool{}
	for _, info := range r.completedTasks(tasks.QueueDefault) {
		if strings.Contains(info.LastErr, "lease expired") {
			orphaned[info.ID] = true
		}
	}
	var lastDelivery time.Time
	for _, m := range r.sandbox.Messages() {
		if m.At.After(killedAt) && m.At.After(lastDelivery) {
			lastDelivery = m.At
		}
	}
	// The reruns that found a marker and did not send.
	skipped := map[string]bool{}
	for _, p := range procs[victims:] {
		for _, m := range skippedTask.FindAllStringSubmatch(p.Log(), -1) {
			skipped[m[1]] = true
		}
	}
	// Orphans whose send Telegram had confirmed and whose result (and,
	// with markers, marker) was stored at the kill.
	var confirmed []string
	for id := range resultAtKill {
		if orphaned[id] {
			confirmed = append(confirmed, id)
		}
	}

	t.Logf("markers=%v rides=%v: %d messages, %d workers×%d, kill -9 of %d workers after %d deliveries",
		markers, rides, total, workers, concurrency, victims, atKill)
	t.Logf("tasks held by the killed workers (lease expired): %d, of which confirmed and stored but not done at the kill: %d; "+
		"duplicates: %d %v; reruns that found a marker and did not send: %d",
		len(orphaned), len(confirmed), tl.dups, firstN(tl.dupTexts, 5), len(skipped))
	t.Logf("kill → last delivery %v; kill → queues drained %v; %v",
		lastDelivery.Sub(killedAt).Round(100*time.Millisecond), drainedAt.Sub(killedAt).Round(100*time.Millisecond), q)

	if len(tl.missing) > 0 {
		t.Errorf("%d messages lost: %v", len(tl.missing), firstN(tl.missing, 10))
	}
	if q.completed != total || q.archived != 0 {
		t.Errorf("queues: %v; want %d completed, none archived", q, total)
	}
	if len(orphaned) > victims*concurrency {
		t.Errorf("%d orphaned tasks; the killed workers could hold at most %d", len(orphaned), victims*concurrency)
	}
	if len(confirmed) == 0 && !rides {
		t.Fatalf("no task the killed workers held had a confirmed send (active with a result: %d): the kill missed the window markers are for", len(resultAtKill))
	}
	// Only what the victims held may repeat, and only once.
	for _, id := range ids {
		n := tl.times[textOfID[id]]
		switch {
		case n > 2:
			t.Errorf("task %s delivered %d times", id, n)
		case n == 2 && !orphaned[id]:
			t.Errorf("task %s delivered twice; no killed worker held it", id)
		}
	}
	if rides {
		// A marker lands with asynq's completion: a task with a marker at
		// the kill was done, never taken back, delivered once.
		for id := range markedAtKill {
			if orphaned[id] {
				t.Errorf("task %s had its marker at the kill, yet asynq took it back as held by a killed worker", id)
			}
			if n := tl.times[textOfID[id]]; n != 1 {
				t.Errorf("task %s had its marker at the kill, yet was delivered %d times", id, n)
			}
		}
		if len(confirmed) > 0 {
			t.Errorf("tasks %v were active with a result at the kill: their records rode without asynq's completion", confirmed)
		}
		if tl.dups > len(orphaned) {
			t.Errorf("%d duplicates; at most the %d sends in flight at the kill may repeat", tl.dups, len(orphaned))
		}
	} else if markers {
		// What markers buy: a confirmed send whose marker was stored is
		// never sent again.
		for id := range markedAtKill {
			if orphaned[id] && !skipped[id] {
				t.Errorf("task %s had its marker at the kill, yet its rerun did not find it", id)
			}
		}
		for _, id := range confirmed {
			if !markedAtKill[id] {
				t.Errorf("task %s had its result stored at the kill but no marker (they are written together)", id)
			}
		}
		for id := range skipped {
			if n := tl.times[textOfID[id]]; n != 1 || !orphaned[id] {
				t.Errorf("task %s: rerun skipped by its marker, orphaned %v, delivered %d times; want an orphan delivered once", id, orphaned[id], n)
			}
		}
		// Duplicates only among the sends that had no marker at the kill.
		if limit := len(orphaned) - len(skipped); tl.dups > limit {
			t.Errorf("%d duplicates; at most the %d sends in flight without a marker at the kill may repeat", tl.dups, limit)
		}
	} else {
		if len(markedAtKill) > 0 || len(skipped) > 0 {
			t.Errorf("SENT_MARKERS=false: %d markers written, %d sends skipped by one", len(markedAtKill), len(skipped))
		}
		// Without markers, nothing stops a confirmed send from repeating.
		for _, id := range confirmed {
			if n := tl.times[textOfID[id]]; n != 2 {
				t.Errorf("task %s, confirmed before the kill, delivered %d times; without markers its rerun sends again (want 2)", id, n)
			}
		}
	}
	assertAlive(t, procs[victims:]...)
	if p := panics(procs...); len(p) > 0 {
		t.Errorf("panics: %v", p)
	}
}

// waitStuckSent waits until an active task has a result and still has it a
// poll later: a task whose send Telegram confirmed, whose worker stored the
// result (with the marker, if on), and that asynq does not record as done
// because its worker gets no answer from Redis. The second look rules out a
// live worker's task caught between its result and its completion.
func (r *rig) waitStuckSent(ctx context.Context) error {
	var seen map[string]bool
	for {
		now := r.activeWithResult()
		for id := range now {
			if seen[id] {
				return nil
			}
		}
		seen = now
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// activeWithResult lists the active tasks of the default queue that have
// a result.
func (r *rig) activeWithResult() map[string]bool {
	r.t.Helper()
	out := map[string]bool{}
	infos, err := r.insp.ListActiveTasks(tasks.QueueDefault, asynq.PageSize(1000))
	if err != nil {
		r.t.Fatalf("list active: %v", err)
	}
	for _, info := range infos {
		if len(info.Result) > 0 {
			out[info.ID] = true
		}
	}
	return out
}

// markedTasks returns the ids that have a sent marker.
func (r *rig) markedTasks(ids []string) map[string]bool {
	r.t.Helper()
	rc := r.redis.Client(r.t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pipe := rc.Pipeline()
	cmds := make([]interface{ Val() int64 }, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.Exists(ctx, keys.Sent(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		r.t.Fatalf("read markers: %v", err)
	}
	out := map[string]bool{}
	for i, id := range ids {
		if cmds[i].Val() > 0 {
			out[id] = true
		}
	}
	return out
}
