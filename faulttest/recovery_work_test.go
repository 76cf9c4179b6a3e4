package faulttest

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/proctest"
	"github.com/telequeue/telequeue/tasks"
)

// faultRounds is how many kill rounds a fast-recovery test runs:
// FAULT_ROUNDS, or def. CI runs the default; the README's figures come
// from FAULT_ROUNDS=5.
func faultRounds(t *testing.T, def int) int {
	t.Helper()
	v := os.Getenv("FAULT_ROUNDS")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("FAULT_ROUNDS=%q: want a positive number", v)
	}
	return n
}

// killWorkers kills the first victims of procs with SIGKILL and returns
// the moment of the last kill.
func killWorkers(procs []*proctest.Process, victims int) time.Time {
	var at time.Time
	for _, p := range procs[:victims] {
		at = p.Kill()
	}
	return at
}

// replaceVictims returns procs without its first victims and with as many
// fresh workers at the back, and appends those to all.
func (r *rig) replaceVictims(procs []*proctest.Process, victims int, name string, all *[]*proctest.Process, env ...string) []*proctest.Process {
	r.t.Helper()
	out := append([]*proctest.Process(nil), procs[victims:]...)
	for i := range victims {
		p := r.startWorker(name+"-"+strconv.Itoa(i+1), env...)
		out = append(out, p)
		*all = append(*all, p)
	}
	return out
}

// waitBusy waits, up to 10 s, until every process of procs runs a task,
// as its last heartbeat listed (the recovery's own record), so that a kill
// finds work in flight on each.
func (r *rig) waitBusy(procs []*proctest.Process) {
	r.t.Helper()
	rdb := r.redis.Client(r.t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ids, err := rdb.ZRange(ctx, keys.RecoveryProcs, 0, -1).Result()
		busy := 0
		for _, p := range procs {
			for _, id := range ids {
				if !strings.Contains(id, ":"+strconv.Itoa(p.PID())+":") {
					continue
				}
				if list, _ := rdb.Get(ctx, keys.RecoveryInflight(id)).Result(); len(list) > len("[]") {
					busy++
				}
			}
		}
		if err == nil && busy == len(procs) {
			return
		}
		select {
		case <-ctx.Done():
			r.t.Logf("only %d of %d processes to kill run a task", busy, len(procs))
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// takenBack returns the task ids the recoverers of procs logged taking back
// that keep says are of this round.
func takenBack(procs []*proctest.Process, keep func(id string) bool) map[string]bool {
	out := map[string]bool{}
	for _, p := range procs {
		for _, m := range recoveredTask.FindAllStringSubmatch(p.Log(), -1) {
			if keep(m[1]) {
				out[m[1]] = true
			}
		}
	}
	return out
}

// TestFastRecoveryKillOrdered kills 2 of 6 workers with SIGKILL while they
// send ordered messages (40 chats × 12, each chat one message at a time):
// the head of a chat's order on a killed worker is sent by another within
// 15 s of the kill, and the chat goes on from it; every message arrives, in
// its chat's order; only what the victims had in flight may repeat, and
// none whose sent marker was written.
func TestFastRecoveryKillOrdered(t *testing.T) {
	t.Parallel()
	rounds := faultRounds(t, 2)
	const (
		workers   = 6
		victims   = 2
		chats     = 40
		perChat   = 12
		killAfter = 120
	)
	r := newRig(t, rigOptions{latency: 200 * time.Millisecond, jitter: 200 * time.Millisecond})
	procs := make([]*proctest.Process, workers)
	for i := range procs {
		procs[i] = r.startWorker("worker-" + strconv.Itoa(i+1))
	}
	all := append([]*proctest.Process(nil), procs...)
	var worst time.Duration
	for round := range rounds {
		prefix := "ord" + strconv.Itoa(round)
		msgs := make([]*tasks.SendMessage, chats*perChat)
		for i := range msgs {
			msgs[i] = &tasks.SendMessage{ChatID: chatID(int64(2000 + i%chats)), Text: textOf(prefix, i)}
		}
		texts, ids := r.enqueue(msgs, client.Ordered())
		textOfID := make(map[string]string, len(ids))
		indexOf := make(map[string]int, len(texts))
		for i, id := range ids {
			textOfID[id], indexOf[texts[i]] = texts[i], i
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := r.sandbox.WaitFor(ctx, r.sandbox.Count()+killAfter); err != nil {
			cancel()
			t.Fatalf("round %d: waiting for %d deliveries: %v", round+1, killAfter, err)
		}
		cancel()
		r.waitBusy(procs[:victims])
		killedAt := killWorkers(procs, victims)
		markedAtKill := r.markedTasks(ids)

		tl := r.waitDelivered(texts, 60*time.Second)
		q, drainedAt := r.waitDrained(60 * time.Second)
		tl = r.tally(texts)
		recovered := takenBack(procs[victims:], func(id string) bool { _, ok := textOfID[id]; return ok })
		deliveries := r.sandbox.Messages()
		var last time.Time
		for _, m := range deliveries {
			for id := range recovered {
				if m.Text == textOfID[id] && m.At.After(last) {
					last = m.At
				}
			}
		}
		took := last.Sub(killedAt)
		worst = max(worst, took)
		t.Logf("round %d: kill -9 of %d of %d workers×10, %d chats × %d ordered messages, after %d deliveries: %d heads taken back; "+
			"kill → last delivery of them %v; kill → drained %v; duplicates %d %v; %v",
			round+1, victims, workers, chats, perChat, killAfter, len(recovered), took.Round(10*time.Millisecond),
			drainedAt.Sub(killedAt).Round(10*time.Millisecond), tl.dups, firstN(tl.dupTexts, 3), q)

		if len(tl.missing) > 0 {
			t.Errorf("round %d: %d messages lost: %v", round+1, len(tl.missing), firstN(tl.missing, 10))
		}
		if len(recovered) == 0 {
			t.Errorf("round %d: no task taken back from the killed workers", round+1)
		}
		if took > recoveryBound {
			t.Errorf("round %d: kill → last delivery of the victims' tasks %v; want ≤ %v", round+1, took, recoveryBound)
		}
		if tl.dups > len(recovered) {
			t.Errorf("round %d: %d duplicates; at most the %d sends in flight at the kill may repeat", round+1, tl.dups, len(recovered))
		}
		for _, id := range ids {
			if n := tl.times[textOfID[id]]; n > 1 && (markedAtKill[id] || !recovered[id]) {
				t.Errorf("round %d: task %s delivered %d times (marker at the kill %v, taken back %v)", round+1, id, n, markedAtKill[id], recovered[id])
			}
		}
		// Each chat's first deliveries follow its order.
		seen := map[string]bool{}
		lastIndex := map[string]int{}
		for _, m := range deliveries {
			i, ours := indexOf[m.Text]
			if !ours || seen[m.Text] {
				continue
			}
			seen[m.Text] = true
			if prev, ok := lastIndex[m.ChatID]; ok && i < prev {
				t.Errorf("round %d: chat %s got %s after %s", round+1, m.ChatID, m.Text, texts[prev])
			}
			lastIndex[m.ChatID] = i
		}
		if q.archived != 0 {
			t.Errorf("round %d: %d tasks archived", round+1, q.archived)
		}
		if round < rounds-1 {
			procs = r.replaceVictims(procs, victims, "worker-r"+strconv.Itoa(round+2), &all)
		}
	}
	t.Logf("p100 of kill → last delivery of the killed workers' ordered heads over %d runs: %v (bound %v)",
		rounds, worst.Round(10*time.Millisecond), recoveryBound)
	assertAlive(t, procs[victims:]...)
	if p := panics(all...); len(p) > 0 {
		t.Errorf("panics: %v", p)
	}
}

// chunkTask reads the broadcast and chunk of a chunk task's id.
var chunkTask = regexp.MustCompile(`^broadcast-(.+)-(\d+)$`)

// TestFastRecoveryKillBroadcast kills 2 of 6 workers with SIGKILL while
// they run the chunks of a broadcast (12 lanes of 25 recipients): each
// chunk they ran is taken back and its recipient in flight at the kill sent
// by another worker within 15 s; every recipient gets the message, and
// only the recipients in flight at the kill (one per chunk taken back) may
// get it twice.
func TestFastRecoveryKillBroadcast(t *testing.T) {
	t.Parallel()
	rounds := faultRounds(t, 2)
	const (
		workers    = 6
		victims    = 2
		recipients = 600
		chunkSize  = 25
		lanes      = 12
		killAfter  = 120
	)
	r := newRig(t, rigOptions{latency: 200 * time.Millisecond, jitter: 200 * time.Millisecond})
	// A chunk task that finds its worker running MaxActive chunks snoozes
	// a second; it comes back at the next check of delayed tasks: every
	// DELAYED_TASK_CHECK_INTERVAL, here its default.
	env := []string{"DELAYED_TASK_CHECK_INTERVAL=250ms"}
	procs := make([]*proctest.Process, workers)
	for i := range procs {
		procs[i] = r.startWorker("worker-"+strconv.Itoa(i+1), env...)
	}
	all := append([]*proctest.Process(nil), procs...)
	var worst time.Duration
	for round := range rounds {
		ids := make([]int64, recipients)
		for i := range ids {
			ids[i] = int64(100000*(round+1) + i)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		receipt, err := r.client.Broadcast(ctx, &tasks.SendMessage{Text: "bc" + strconv.Itoa(round)}, ids,
			client.BroadcastParallelism(lanes), client.BroadcastChunkSize(chunkSize))
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		if err := r.sandbox.WaitFor(ctx, r.sandbox.Count()+killAfter); err != nil {
			cancel()
			t.Fatalf("round %d: waiting for %d deliveries: %v", round+1, killAfter, err)
		}
		r.waitBusy(procs[:victims])
		killedAt := killWorkers(procs, victims)
		var p *client.BroadcastProgress
		for {
			if p, err = r.client.BroadcastStatus(ctx, receipt.ID); err != nil {
				cancel()
				t.Fatalf("round %d: status: %v", round+1, err)
			}
			if p.Done() {
				break
			}
			select {
			case <-ctx.Done():
				cancel()
				t.Fatalf("round %d: broadcast not done: %+v", round+1, p)
			case <-time.After(200 * time.Millisecond):
			}
		}
		cancel()
		doneAt := time.Now()

		chunks := map[int]bool{} // taken back from the victims
		for id := range takenBack(procs[victims:], func(id string) bool {
			m := chunkTask.FindStringSubmatch(id)
			return m != nil && m[1] == receipt.ID
		}) {
			c, _ := strconv.Atoi(chunkTask.FindStringSubmatch(id)[2])
			chunks[c] = true
		}
		times := map[int64]int{}
		// The first delivery after the kill to each taken-back chunk's
		// recipients: its recipient in flight at the kill, sent again.
		firstAfter := map[int]time.Time{}
		for _, m := range r.sandbox.Messages() {
			chat, err := strconv.ParseInt(m.ChatID, 10, 64)
			if err != nil || chat < ids[0] || chat > ids[len(ids)-1] {
				continue
			}
			times[chat]++
			c := int(chat-ids[0]) / chunkSize
			if chunks[c] && m.At.After(killedAt) {
				if f, ok := firstAfter[c]; !ok || m.At.Before(f) {
					firstAfter[c] = m.At
				}
			}
		}
		var took time.Duration
		for c := range chunks {
			if f, ok := firstAfter[c]; ok {
				took = max(took, f.Sub(killedAt))
			}
		}
		worst = max(worst, took)
		var missing, dups int
		for _, id := range ids {
			switch n := times[id]; {
			case n == 0:
				missing++
			case n > 1:
				dups += n - 1
			}
		}
		t.Logf("round %d: kill -9 of %d of %d workers×10 running a broadcast (%d recipients, %d lanes of %d) after %d deliveries: "+
			"%d chunks taken back; kill → first delivery of each after the kill, worst %v; kill → broadcast done %v; duplicates %d; sent %d of %d",
			round+1, victims, workers, recipients, lanes, chunkSize, killAfter, len(chunks), took.Round(10*time.Millisecond),
			doneAt.Sub(killedAt).Round(10*time.Millisecond), dups, p.Sent, p.Total)
		if missing > 0 || p.Sent != recipients {
			t.Errorf("round %d: %d recipients never got the message; status says %d of %d sent", round+1, missing, p.Sent, recipients)
		}
		if len(chunks) == 0 {
			t.Errorf("round %d: no chunk taken back from the killed workers", round+1)
		}
		for c := range chunks {
			if _, ok := firstAfter[c]; !ok {
				t.Errorf("round %d: chunk %d was taken back but none of its recipients got the message after the kill", round+1, c)
			}
		}
		if took > recoveryBound {
			t.Errorf("round %d: kill → first delivery of a taken-back chunk %v; want ≤ %v", round+1, took, recoveryBound)
		}
		if dups > len(chunks) {
			t.Errorf("round %d: %d duplicates; at most one per chunk taken back (%d)", round+1, dups, len(chunks))
		}
		if round < rounds-1 {
			procs = r.replaceVictims(procs, victims, "worker-r"+strconv.Itoa(round+2), &all, env...)
		}
	}
	t.Logf("chunk tasks by the error of their last failed run: %v", r.lastErrors())
	t.Logf("p100 of kill → first delivery of the killed workers' broadcast chunks over %d runs: %v (bound %v)",
		rounds, worst.Round(10*time.Millisecond), recoveryBound)
	for e, n := range r.lastErrors() {
		if strings.Contains(e, "lease expired") {
			t.Errorf("%d tasks waited for asynq's own recovery (%q)", n, e)
		}
	}
	assertAlive(t, procs[victims:]...)
	if p := panics(all...); len(p) > 0 {
		t.Errorf("panics: %v", p)
	}
}

// TestFastRecoverySIGSTOPBroadcast stops the worker running a broadcast's
// chunk with SIGSTOP, then continues it. Stopped 12 s, below the default
// RECOVERY_DEAD_AFTER (13 s), it is no dead worker: nothing is taken from it
// and no recipient gets the message twice. Stopped 16 s with
// RECOVERY_DEAD_AFTER 10 s, the chunk is taken from it while it is stopped,
// and the fence stops it when it wakes: only the recipient it had in flight
// may get the message twice, where a run that woke unfenced would go on
// beside the new owner.
func TestFastRecoverySIGSTOPBroadcast(t *testing.T) {
	t.Parallel()
	const (
		recipients = 150
		stopAfter  = 20
	)
	tests := []struct {
		name      string
		stop      time.Duration
		deadAfter string
		taken     bool
	}{
		{name: "stall_below_dead_after", stop: 12 * time.Second, deadAfter: "13s"},
		{name: "taken_while_stopped", stop: 16 * time.Second, deadAfter: "10s", taken: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// 100 ms per recipient: the chunk runs 15 s without a stall,
			// and is still running when the stopped worker wakes (taken
			// about 12 s after the stop, 13 s of recipients left).
			r := newRig(t, rigOptions{latency: 100 * time.Millisecond})
			// A chunk's run gives its worker back after a time slice of
			// half the SHUTDOWN_TIMEOUT: 30 s here, so that the woken run
			// is stopped by the fence, not by the end of its slice.
			env := []string{"RECOVERY_DEAD_AFTER=" + tt.deadAfter, "TELEGRAM_TIMEOUT=60s", "SHUTDOWN_TIMEOUT=60s"}
			victim := r.startWorker("worker-stopped", env...)
			ids := make([]int64, recipients)
			for i := range ids {
				ids[i] = int64(7000 + i)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			receipt, err := r.client.Broadcast(ctx, &tasks.SendMessage{Text: "stall"}, ids,
				client.BroadcastParallelism(1), client.BroadcastChunkSize(recipients))
			if err != nil {
				t.Fatal(err)
			}
			if err := r.sandbox.WaitFor(ctx, stopAfter); err != nil {
				t.Fatalf("the chunk never started: %v", err)
			}
			if err := victim.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			stoppedAt := time.Now()
			survivor := r.startWorker("worker-live", env...)
			time.Sleep(time.Until(stoppedAt.Add(tt.stop))) // the stall under test, not a wait for work
			if err := victim.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			var p *client.BroadcastProgress
			for {
				if p, err = r.client.BroadcastStatus(ctx, receipt.ID); err != nil {
					t.Fatal(err)
				}
				if p.Done() {
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("broadcast not done: %+v", p)
				case <-time.After(200 * time.Millisecond):
				}
			}
			// A woken run that went on unfenced would send beside the
			// new owner until the end of the chunk; look a little beyond.
			time.Sleep(time.Second)
			times := map[string]int{}
			for _, m := range r.sandbox.Messages() {
				times[m.ChatID]++
			}
			var missing, dups int
			for _, id := range ids {
				switch n := times[strconv.FormatInt(id, 10)]; {
				case n == 0:
					missing++
				case n > 1:
					dups += n - 1
				}
			}
			taken := survivor.LogCount("took a task back from a dead worker")
			fenced := victim.LogCount("taken over by another worker")
			t.Logf("SIGSTOP %v of the worker running a chunk (RECOVERY_DEAD_AFTER %s): duplicates %d, chunks taken back %d, fenced runs %d, sent %d of %d",
				tt.stop, tt.deadAfter, dups, taken, fenced, p.Sent, p.Total)
			if missing > 0 || p.Sent != recipients {
				t.Errorf("%d recipients never got the message; status says %d of %d sent", missing, p.Sent, recipients)
			}
			switch {
			case !tt.taken && (dups != 0 || taken != 0 || fenced != 0):
				t.Errorf("a worker stopped for %v was taken for dead: %d duplicates, %d tasks taken back, %d fenced runs; want none", tt.stop, dups, taken, fenced)
			case tt.taken && (taken != 1 || fenced == 0):
				t.Errorf("%d chunks taken back, %d fenced runs; want the chunk taken and the woken run fenced", taken, fenced)
			case tt.taken && dups > 1:
				t.Errorf("%d duplicates; at most the recipient in flight at the stop may repeat", dups)
			}
			assertAlive(t, victim, survivor)
		})
	}
}
