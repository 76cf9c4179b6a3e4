package faulttest

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/telequeue/telequeue/internal/proctest"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/tasks"
)

// TestWorkerSIGTERM is a deploy: the platform sends SIGTERM and starts a new
// worker.
func TestWorkerSIGTERM(t *testing.T) {
	t.Parallel()
	t.Run("in_flight_sends_finish", func(t *testing.T) {
		t.Parallel()
		testSIGTERMInFlight(t)
	})
	t.Run("send_outlives_shutdown_timeout", func(t *testing.T) {
		t.Parallel()
		testSIGTERMSlowSend(t, false)
	})
	t.Run("send_outlives_shutdown_timeout_overlap", func(t *testing.T) {
		t.Parallel()
		testSIGTERMSlowSend(t, true)
	})
}

// testSIGTERMInFlight: with 300 ms per send, SIGTERM a busy worker. Its
// in-flight sends finish within SHUTDOWN_TIMEOUT, it takes no new task, exits
// 0, and nothing it had not started leaves the queue; a new worker sends the
// rest. Zero lost, zero duplicates.
func testSIGTERMInFlight(t *testing.T) {
	const (
		total           = 300
		shutdownTimeout = 10 * time.Second
	)
	r := newRig(t, rigOptions{latency: 300 * time.Millisecond})
	old := r.startWorker("worker-old", "SHUTDOWN_TIMEOUT="+shutdownTimeout.String())
	texts, _ := r.enqueue(messages("deploy", total))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.sandbox.WaitFor(ctx, 40); err != nil {
		t.Fatal(err)
	}
	before, _ := r.queues()
	sigAt := time.Now()
	if err := old.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exit, err := old.Wait(shutdownTimeout + 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	took := exit.At.Sub(sigAt)
	sent := r.sandbox.Count()
	after, err := r.queues()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGTERM with %d tasks active: exit %v after %v; %d sent; queues then: %v",
		before.active, exit, took.Round(time.Millisecond), sent, after)
	if !exit.Clean() {
		t.Errorf("old worker: %v, want exit status 0", exit)
	}
	if took >= shutdownTimeout {
		t.Errorf("shutdown took %v, SHUTDOWN_TIMEOUT is %v: in-flight sends did not finish in time", took, shutdownTimeout)
	}
	if n := old.LogCount("back to queue"); n > 0 {
		t.Errorf("%d tasks pushed back: in-flight sends should have finished", n)
	}
	if after.active != 0 || after.retry != 0 || after.completed != sent || after.pending != total-sent {
		t.Errorf("after shutdown: %v; want %d completed (sent), %d pending, nothing active", after, sent, total-sent)
	}

	fresh := r.startWorker("worker-new")
	q, _ := r.waitDrained(time.Minute)
	tl := r.tally(texts)
	t.Logf("new worker finished: %v; duplicates %d", q, tl.dups)
	if len(tl.missing) > 0 || tl.dups > 0 {
		t.Errorf("lost %d %v, duplicates %d %v", len(tl.missing), firstN(tl.missing, 5), tl.dups, firstN(tl.dupTexts, 5))
	}
	assertAlive(t, fresh)
}

// testSIGTERMSlowSend: one send takes seconds (Telegram records it at once
// and answers late), SHUTDOWN_TIMEOUT is 1 s. asynq gives up on it at 1 s and
// pushes the task back to the queue while the send is still in flight. The
// worker must still exit 0 and the message must be sent once.
//
// The old worker waits (server.Config.DrainTimeout) for the answer and
// writes the sent marker before it exits. Without overlap the next worker
// starts after that and completes the task without sending: exactly once.
// With overlap it already runs (rolling deploy), takes the pushed-back task
// at once, finds no marker yet and sends again: one duplicate per send that
// outlives SHUTDOWN_TIMEOUT. That needs SHUTDOWN_TIMEOUT < TELEGRAM_TIMEOUT +
// RATE_MAX_WAIT (the defaults, 25s >= 15s + 2s, rule it out), and the worker
// warns about it at start.
func testSIGTERMSlowSend(t *testing.T, overlap bool) {
	const slowChat = 4242
	// Telegram's answer takes 3 s, within SHUTDOWN_TIMEOUT (1 s) plus the
	// old worker's drain (4 s). With overlap, 6 s: starting the new worker
	// before the SIGTERM must not outlast the send on a loaded machine.
	slow := 3 * time.Second
	if overlap {
		slow = 6 * time.Second
	}
	r := newRig(t, rigOptions{})
	r.sandbox.AddRule(sandbox.Rule{Chat: "4242", Kind: sandbox.KindLatency, Latency: slow})
	old := r.startWorker("worker-old", "SHUTDOWN_TIMEOUT=1s")
	texts, _ := r.enqueue([]*tasks.SendMessage{{ChatID: chatID(slowChat), Text: "slow"}})
	deadline := time.Now().Add(30 * time.Second)
	for r.tally(texts).delivered == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slow message never reached the sandbox")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Telegram has the message; its answer comes later.
	var fresh *proctest.Process
	if overlap {
		fresh = r.startWorker("worker-new")
	}
	sigAt := time.Now()
	if err := old.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exit, err := old.Wait(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !overlap {
		fresh = r.startWorker("worker-new")
	}
	q, drained := r.waitDrained(time.Minute)
	tl := r.tally(texts)
	t.Logf("overlap=%v: old worker %v after %v (pushed back %d, skipped by marker in new worker: %d); drained %v after SIGTERM: %v; deliveries of the slow message: %d",
		overlap, exit, exit.At.Sub(sigAt).Round(time.Millisecond), old.LogCount("back to queue"),
		fresh.LogCount("message already delivered"), drained.Sub(sigAt).Round(time.Millisecond), q, tl.times["slow"])
	if !exit.Clean() {
		t.Errorf("old worker: %v, want exit status 0", exit)
	}
	if old.LogCount("back to queue") != 1 {
		t.Errorf("the slow task was not pushed back at SHUTDOWN_TIMEOUT")
	}
	if len(tl.missing) > 0 {
		t.Errorf("lost: %v", tl.missing)
	}
	if q.completed != 1 || q.archived != 0 {
		t.Errorf("queues: %v, want 1 completed", q)
	}
	maxDups := 0
	if overlap {
		maxDups = 1
	}
	if tl.dups > maxDups {
		t.Errorf("the slow message was sent %d times", tl.times["slow"])
	}
	if old.LogCount("SHUTDOWN_TIMEOUT is shorter than a send may take") != 1 {
		t.Errorf("the old worker did not warn about SHUTDOWN_TIMEOUT < TELEGRAM_TIMEOUT + RATE_MAX_WAIT")
	}
	assertAlive(t, fresh)
}
