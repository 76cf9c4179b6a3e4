package handlers_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/recovery"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/ratelimit"
	"github.com/telequeue/telequeue/server"
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
	t.Run("limits_off_with_prefetch", func(t *testing.T) {
		t.Parallel()
		// The dequeue read the marker and the pauses, but the run's fence
		// must still be read: the limiter's round trip carries it.
		r := redistest.Start(t)
		sb, url := startSandbox(t, sandbox.Config{})
		rdb := r.Client(t)
		limiter, err := ratelimit.New(rdb, ratelimit.Config{})
		if err != nil {
			t.Fatal(err)
		}
		h, err := handlers.NewSendMessageHandler(handlers.Config{Bots: testBots(t, url, 5*time.Second), Limiter: limiter, Redis: rdb})
		if err != nil {
			t.Fatal(err)
		}
		opt := asynq.RedisClientOpt{Addr: r.Addr()}
		startServer(t, server.Config{Redis: opt, Concurrency: 2, SendMessage: h,
			Prefetch: handlers.NewPrefetch(true, limiter, []string{tasks.DefaultBot}, nil)})
		c, insp := asynqClients(t, opt)
		testFencedRun(t, c, insp, rdb.Set, sb.Count)
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

// takeOver writes the fence a recoverer writes when it takes task id of
// queue from its process, as if taken a minute from now: every run that
// started before is stale.
func takeOver(t *testing.T, rdb redis.UniversalClient, queue, id string) {
	t.Helper()
	at := time.Now().Add(time.Minute).UnixMilli()
	if err := rdb.Set(context.Background(), keys.Fence(queue, id), "gone "+strconv.FormatInt(at, 10), time.Hour).Err(); err != nil {
		t.Error(err)
	}
}

// waitFenced waits until task id of queue is rescheduled by a fenced run:
// in the retry set with the fence's error, no attempt counted.
func waitFenced(t *testing.T, insp *asynq.Inspector, queue, id string) {
	t.Helper()
	var info *asynq.TaskInfo
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if info, err = insp.GetTaskInfo(queue, id); err == nil && info.State == asynq.TaskStateRetry {
			break
		}
		if time.Now().After(deadline) {
			if info != nil {
				t.Fatalf("task %s not rescheduled: state %v, last error %q", id, info.State, info.LastErr)
			}
			t.Fatalf("task %s not rescheduled: %v", id, err)
		}
	}
	if !strings.Contains(info.LastErr, "taken over by another worker") || info.Retried != 0 {
		t.Errorf("retry with LastErr %q, retried %d; want the fence's error, not counted", info.LastErr, info.Retried)
	}
}

// TestFenceStopsReplyBetweenParts: without a limiter, a multi-part reply
// whose task is taken over while it sends stops before its next part (the
// fence rides in the part's progress write), keeping the parts it sent.
func TestFenceStopsReplyBetweenParts(t *testing.T) {
	t.Parallel()
	const id = "fenced-reply"
	var rdb atomic.Pointer[redis.Client]
	var sent atomic.Int32
	e := setupReplies(t, replyOptions{hook: func(s handlers.Sender) handlers.Sender {
		return hookSender{Sender: s, after: func(*telego.SendMessageParams, error) {
			if sent.Add(1) == 2 {
				takeOver(t, rdb.Load(), tasks.QueueDefault, id)
			}
		}}
	}})
	rdb.Store(e.rdb)
	e.reply(t, 77, 4, asynq.TaskID(id))
	waitFenced(t, e.inspector, tasks.QueueDefault, id)
	if got, want := e.texts(), wantTexts(4)[:2]; !slices.Equal(got, want) {
		t.Errorf("delivered %q; want %q: no part after the take-over", got, want)
	}
	progress, err := e.rdb.HLen(context.Background(), keys.Parts(id)).Result()
	if err != nil || progress != 2 {
		t.Errorf("progress holds %d parts, %v; want the 2 sent", progress, err)
	}
}

// TestFenceStopsBroadcastChunk: a chunk task taken over while it sends
// stops before its next recipient, with a limiter (the fence rides in its
// calls) and without one (in the round trip that settles the recipient
// before); the recipients it settled stay settled.
func TestFenceStopsBroadcastChunk(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		limits *ratelimit.Config
	}{
		{name: "without_limiter"},
		{name: "with_limiter", limits: &ratelimit.Config{Global: 1000, Chat: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const before = 3 // recipients sent before the take-over
			var rdb atomic.Pointer[redis.Client]
			var sent atomic.Int32
			var chunk atomic.Value // the chunk task's id
			e := setupBroadcast(t, bcSetup{limits: tt.limits, hook: func(s handlers.Sender) handlers.Sender {
				return hookSender{Sender: s, after: func(*telego.SendMessageParams, error) {
					if sent.Add(1) == before {
						takeOver(t, rdb.Load(), tasks.QueueBulk, chunk.Load().(string))
					}
				}}
			}})
			rdb.Store(e.rdb)
			ids := chats(5000, 10)
			// The chunk's task id is known once the broadcast is created;
			// its sends start only after the receipt: it is set in time.
			r, err := e.client.Broadcast(context.Background(), &tasks.SendMessage{Text: "fenced"}, ids,
				client.BroadcastChunkSize(len(ids)), client.BroadcastParallelism(1), client.SendIn(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			chunk.Store(tasks.BroadcastChunkTaskID(r.ID, 0))
			_, insp := asynqClients(t, asynq.RedisClientOpt{Addr: e.redis.Addr()})
			waitFenced(t, insp, tasks.QueueBulk, chunk.Load().(string))
			got := e.deliveries()
			if len(got) != before {
				t.Errorf("%d recipients got the message; want the %d sent before the take-over", len(got), before)
			}
			for _, c := range ids[:before] {
				if n := got[strconv.FormatInt(c, 10)]; n != 1 {
					t.Errorf("chat %d got %d messages, want 1", c, n)
				}
			}
			p, err := e.client.BroadcastStatus(context.Background(), r.ID)
			if err != nil || p.Sent != before {
				t.Errorf("status %+v, %v; want %d sent", p, err, before)
			}
		})
	}
}
