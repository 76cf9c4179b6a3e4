package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/ratelimit"
	"github.com/telequeue/telequeue/server"
	"github.com/telequeue/telequeue/tasks"
)

// existsCounter counts the EXISTS commands a client sends: with limits off,
// the limiter's round trip before a send is one EXISTS of the pause keys.
type existsCounter struct{ n atomic.Int64 }

func (c *existsCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *existsCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.count(cmd)
		return next(ctx, cmd)
	}
}
func (c *existsCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.count(cmd)
		}
		return next(ctx, cmds)
	}
}
func (c *existsCounter) count(cmd redis.Cmder) {
	if cmd.Name() == "exists" {
		c.n.Add(1)
	}
}

// TestPrefetchSkipsLimiterRoundTrip: with limits off and the dequeue's reads
// (server.Config.Prefetch), a send makes no limiter round trip, and still
// honours what that round trip was for: a message whose sent marker exists
// is not sent again, and a chat that a 429 paused gets nothing before the
// pause ends. Without Prefetch every send asks the limiter.
func TestPrefetchSkipsLimiterRoundTrip(t *testing.T) {
	t.Parallel()
	for _, prefetch := range []bool{true, false} {
		t.Run("prefetch="+strconv.FormatBool(prefetch), func(t *testing.T) {
			t.Parallel()
			const (
				n      = 20
				paused = -100555
			)
			ctx := context.Background()
			r := redistest.Start(t)
			sb, url := startSandbox(t, sandbox.Config{})
			hrdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
			t.Cleanup(func() { _ = hrdb.Close() })
			exists := &existsCounter{}
			hrdb.AddHook(exists)
			limiter, err := ratelimit.New(hrdb, ratelimit.Config{}) // every limit off
			if err != nil {
				t.Fatal(err)
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			h, err := handlers.NewSendMessageHandler(handlers.Config{Bots: testBots(t, url, 5*time.Second), Limiter: limiter, Redis: hrdb, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			cfg := server.Config{Redis: asynq.RedisClientOpt{Addr: r.Addr()}, Concurrency: 4, SendMessage: h, Logger: log,
				TaskCheckInterval: 20 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond, ShutdownTimeout: 2 * time.Second}
			if prefetch {
				cfg.Prefetch = handlers.NewPrefetch(true, limiter, []string{tasks.DefaultBot}, log)
			}
			srv, err := server.New(cfg)
			if err != nil {
				t.Fatal(err)
			}

			// A group paused by a 429 (only that chat), and a task whose
			// send an earlier run already confirmed.
			const pause = 2 * time.Second
			if err := limiter.Throttled(ctx, ratelimit.Key{Bot: tasks.DefaultBot, Chat: strconv.Itoa(paused), Group: true}, pause); err != nil {
				t.Fatal(err)
			}
			pauseEnd := time.Now().Add(pause)
			if err := hrdb.Set(ctx, keys.Sent("confirmed"), `{"message_id":5,"chat_id":7,"date":1}`, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			c, insp := asynqClients(t, cfg.Redis)
			enqueue := func(m *tasks.SendMessage, id string) {
				task, err := tasks.NewSendMessageTask(m, asynq.TaskID(id), asynq.Retention(time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.Enqueue(task); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				enqueue(msg(int64(1000+i), "m"+strconv.Itoa(i)), "m"+strconv.Itoa(i))
			}
			enqueue(msg(paused, "to the paused group"), "paused")
			enqueue(msg(7, "confirmed before"), "confirmed")
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Shutdown)
			waitDrained(t, insp, tasks.QueueDefault, 20*time.Second)

			count := map[string]int{}
			for _, m := range sb.Messages() {
				count[m.Text]++
				if m.ChatID == strconv.Itoa(paused) && m.At.Before(pauseEnd.Add(-50*time.Millisecond)) {
					t.Errorf("the paused group got its message %v before the pause ended", pauseEnd.Sub(m.At))
				}
			}
			for i := range n {
				if got := count["m"+strconv.Itoa(i)]; got != 1 {
					t.Errorf("message m%d sent %d times, want 1", i, got)
				}
			}
			if count["to the paused group"] != 1 {
				t.Errorf("the paused group's message sent %d times, want 1 (after the pause)", count["to the paused group"])
			}
			if count["confirmed before"] != 0 {
				t.Errorf("a message whose sent marker existed was sent again")
			}
			if info, err := insp.GetTaskInfo(tasks.QueueDefault, "confirmed"); err != nil || string(info.Result) != `{"message_id":5,"chat_id":7,"date":1}` {
				t.Errorf("the confirmed task: %+v, %v; want it completed with its marker as result", info, err)
			}
			got := exists.n.Load()
			t.Logf("prefetch=%v: %d limiter round trips (EXISTS) for %d sends", prefetch, got, n+1)
			switch {
			case prefetch && got > 3:
				// Only the paused group's runs ask the limiter.
				t.Errorf("%d limiter round trips, want at most the paused group's runs (3)", got)
			case !prefetch && got < n+1:
				t.Errorf("%d limiter round trips without Prefetch, want one per send (%d)", got, n+1)
			}
		})
	}
}
