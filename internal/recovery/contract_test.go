package recovery

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redistest"
)

// TestAsynqContract fails when an asynq upgrade changes what the take
// script relies on: a running task is in asynq:{q}:active, leased in
// asynq:{q}:lease (Unix seconds, 30 s ahead), its hash asynq:{q}:t:<id>
// says state "active"; moved back by the script, the Inspector reports it
// pending, not retried, and another server runs it.
func TestAsynqContract(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	rc := rs.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opt := asynq.RedisClientOpt{Addr: rs.Addr()}

	cl := asynq.NewClient(opt)
	defer cl.Close()
	if _, err := cl.Enqueue(asynq.NewTask("contract", nil), asynq.TaskID("t1"), asynq.Queue("default")); err != nil {
		t.Fatal(err)
	}

	// The first server runs the task and hangs in it, as a stopped worker.
	started, release := make(chan struct{}), make(chan struct{})
	first := asynq.NewServer(opt, asynq.Config{Concurrency: 1, Queues: map[string]int{"default": 1},
		TaskCheckInterval: 50 * time.Millisecond, LogLevel: asynq.ErrorLevel})
	if err := first.Start(asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		close(started)
		<-release
		return &testFenced{}
	})); err != nil {
		t.Fatal(err)
	}
	defer first.Shutdown()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the task never ran")
	}

	// asynq's view of a running task, as the script reads it.
	active, err := rc.LRange(ctx, "asynq:{default}:active", 0, -1).Result()
	if err != nil || len(active) != 1 || active[0] != "t1" {
		t.Fatalf("asynq:{default}:active = %v, %v; want [t1]", active, err)
	}
	lease, err := rc.ZScore(ctx, "asynq:{default}:lease", "t1").Result()
	now := time.Now().Unix()
	if err != nil || int64(lease) < now+leaseDuration-2 || int64(lease) > now+leaseDuration+1 {
		t.Fatalf("lease of t1 = %v (now %d), %v; want about now+%d s", lease, now, err, leaseDuration)
	}
	if state, err := rc.HGet(ctx, keys.AsynqTask("default", "t1"), "state").Result(); err != nil || state != "active" {
		t.Fatalf("task hash state = %q, %v; want active", state, err)
	}
	task := Task{Queue: "default", ID: "t1"}

	// A live lease is never taken, whatever the process's last beat.
	if n, err := Take(ctx, rc, task, "dead", time.Now().UnixMilli()); err != nil || n != takeLiveLease {
		t.Fatalf("Take of a live lease = %d, %v; want %d", n, err, takeLiveLease)
	}

	// As if its worker died 14 s ago: its lease was last extended then.
	lastBeat := time.Now().Add(-14 * time.Second)
	if err := rc.ZAdd(ctx, "asynq:{default}:lease", redis.Z{Score: float64(lastBeat.Unix() + leaseDuration), Member: "t1"}).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := Take(ctx, rc, task, "dead", lastBeat.UnixMilli()); err != nil || n != takeTaken {
		t.Fatalf("Take = %d, %v; want %d", n, err, takeTaken)
	}
	if n, err := Take(ctx, rc, task, "dead", lastBeat.UnixMilli()); err != nil || n != takeNotActive {
		t.Fatalf("second Take = %d, %v; want %d", n, err, takeNotActive)
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	info, err := insp.GetTaskInfo("default", "t1")
	if err != nil || info.State != asynq.TaskStatePending || info.Retried != 0 || info.LastErr != "" {
		t.Fatalf("task after Take: %+v, %v; want pending, not retried", info, err)
	}
	// The fence names the dead process, in the round trip a handler makes.
	pipe := rc.Pipeline()
	f := QueueFence(WithProcess(ctx, "dead", time.Now()), pipe, "default", "t1")
	owner := QueueFence(WithProcess(ctx, "alive", time.Now()), pipe, "default", "t1")
	// A run another process started long before the take: a task its
	// process began after its last beat, taken in a dead process's name.
	stale := QueueFence(WithProcess(ctx, "stalled", time.Now().Add(-14*time.Second)), pipe, "default", "t1")
	_, _ = pipe.Exec(ctx)
	if err := f.Check(); !errors.Is(err, ErrFenced) {
		t.Fatalf("fence check of the dead process: %v; want ErrFenced", err)
	}
	if err := owner.Check(); err != nil {
		t.Fatalf("fence check of the new owner's run: %v", err)
	}
	if err := stale.Check(); !errors.Is(err, ErrFenced) {
		t.Fatalf("fence check of a run started before the take: %v; want ErrFenced", err)
	}

	// Another server runs it.
	ran := make(chan struct{})
	second := asynq.NewServer(opt, asynq.Config{Concurrency: 1, Queues: map[string]int{"default": 1},
		TaskCheckInterval: 50 * time.Millisecond, LogLevel: asynq.ErrorLevel})
	if err := second.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		close(ran)
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	defer second.Shutdown()
	select {
	case <-ran:
	case <-ctx.Done():
		t.Fatal("no other server ran the recovered task")
	}
	waitFor(t, ctx, "the task to be done", func() bool {
		_, err := insp.GetTaskInfo("default", "t1")
		return errors.Is(err, asynq.ErrTaskNotFound)
	})

	// The first run wakes and returns its fenced error: asynq's record of
	// it fails harmlessly, nothing comes back.
	close(release)
	first.Shutdown() // returns once the first run has ended and asynq recorded it
	for _, k := range []string{"asynq:{default}:active", "asynq:{default}:pending"} {
		if n, err := rc.LLen(ctx, k).Result(); err != nil || n != 0 {
			t.Errorf("%s holds %d, %v; want 0", k, n, err)
		}
	}
	for _, k := range []string{"asynq:{default}:retry", "asynq:{default}:lease"} {
		if n, err := rc.ZCard(ctx, k).Result(); err != nil || n != 0 {
			t.Errorf("%s holds %d, %v; want 0", k, n, err)
		}
	}
}

// testFenced is a rescheduling error, as handlers.FencedError.
type testFenced struct{}

func (*testFenced) Error() string { return "fenced" }

func waitFor(t *testing.T, ctx context.Context, what string, ok func() bool) {
	t.Helper()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
