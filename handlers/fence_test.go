package handlers_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/recovery"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/ratelimit"
	"github.com/telequeue/telequeue/tasks"
)

// TestFencedRunDoesNotSend: a run of a task that a recoverer took from its
// process (the fence's take is later than the run's start) does not send;
// the task is rescheduled without counting a failure.
func TestFencedRunDoesNotSend(t *testing.T) {
	t.Parallel()
	t.Run("without_limiter", func(t *testing.T) {
		t.Parallel()
		e := setup(t, 1, "")
		testFencedRun(t, e.client, e.inspector, e.redis.Client(t).Set, e.sandbox.Count)
	})
	t.Run("with_limiter", func(t *testing.T) {
		t.Parallel()
		// The fence rides in the limiter's round trip.
		e := setupLimits(t, 1, sandbox.Limits{}, ratelimit.Config{Global: 1000, Chat: 100})
		testFencedRun(t, e.client, e.inspector, e.redis.Client(t).Set, e.sandbox.Count)
	})
}

func testFencedRun(t *testing.T, client *asynq.Client, insp *asynq.Inspector,
	set func(ctx context.Context, key string, v any, ttl time.Duration) *redis.StatusCmd, sent func() int) {
	task, err := tasks.NewSendMessageTask(msg(91, "fenced"), asynq.TaskID("fenced-task"), asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// Taken "a minute from now": every run that starts before is stale.
	at := time.Now().Add(time.Minute).UnixMilli()
	if err := set(context.Background(), keys.Fence(tasks.QueueDefault, "fenced-task"), "gone "+strconv.FormatInt(at, 10), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enqueue(task); err != nil {
		t.Fatal(err)
	}
	var info *asynq.TaskInfo
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if info, err = insp.GetTaskInfo(tasks.QueueDefault, "fenced-task"); err == nil && info.State == asynq.TaskStateRetry {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task not rescheduled: %+v, %v", info, err)
		}
	}
	if !strings.Contains(info.LastErr, "taken over by another worker") || info.Retried != 0 {
		t.Errorf("retry with LastErr %q, retried %d; want the fence's error, not counted", info.LastErr, info.Retried)
	}
	if n := sent(); n != 0 {
		t.Errorf("sent %d times, want 0", n)
	}
}

func TestFencedErrorIsRescheduled(t *testing.T) {
	t.Parallel()
	err := error(&handlers.FencedError{})
	if handlers.IsFailure(err) || !errors.Is(err, recovery.ErrFenced) {
		t.Errorf("FencedError: IsFailure %v, Is(ErrFenced) %v; want false, true", handlers.IsFailure(err), errors.Is(err, recovery.ErrFenced))
	}
	if d := handlers.RetryDelay(0, err, nil); d < time.Minute {
		t.Errorf("RetryDelay = %v; want at least a minute", d)
	}
}
