package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/bench/internal/plainsend"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/internal/workertest"
)

// BenchmarkWorkerPath runs a message's whole path inside the test process,
// for telequeue and for the baseline side by side: b.N sendMessage tasks,
// queued beforehand, taken from a real redis-server by 10 senders and sent
// to the sandbox over loopback HTTP, limits off.
//
//   - telequeue: a worker wired from configuration as cmd/worker wires it
//     (internal/worker: markers, results, outcome events, the dequeue and
//     completion rides, fast recovery, the callback lane), enqueued with
//     the client;
//   - plain: an asynq server with the baseline's handler
//     (bench/internal/plainsend), enqueued with asynq's client.
//
// ns/op is wall time per message; B/op and allocs/op count the handler
// servers' allocations per message, plus the sandbox's and the polling's,
// which are the same for both. Both run under the test's GOMAXPROCS (-cpu);
// cmd/worker's own default (worker.DefaultProcs) is -cpu 1. With
// -cpuprofile, where a message's CPU goes without the noise of other
// processes (the sandbox's own functions are apart, in internal/sandbox and
// net/http's server; the profile also holds the enqueue before the timer
// starts, which pprof -ignore 'Enqueue|enqueue' leaves out):
//
//	go test -run '^$' -bench WorkerPath -benchmem -benchtime 20000x -cpu 1,2 ./bench/
func BenchmarkWorkerPath(b *testing.B) {
	r := redistest.Start(b)
	sb, err := sandbox.New(sandbox.Config{NoRecordParams: true})
	if err != nil {
		b.Fatal(err)
	}
	url, err := sb.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sb.Close() })
	rdb := r.Client(b)
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: r.Addr()})
	b.Cleanup(func() { _ = insp.Close() })
	bb := &bench{redis: r}

	for _, kind := range []struct {
		name    string
		start   func(b *testing.B) // runs until the run of b ends
		enqueue func(ctx context.Context, n int) error
	}{
		{"plain", func(b *testing.B) { startPlainServer(b, r.Addr(), url) }, bb.enqueuePlain},
		{"telequeue", func(b *testing.B) { workertest.Start(b, workerEnv(r.URL(), url)) }, func(ctx context.Context, n int) error {
			c, err := bb.newClient()
			if err != nil {
				return err
			}
			defer c.Close()
			return enqueueMany(ctx, c, messages(n, 1_000_000, "m"))
		}},
	} {
		b.Run(kind.name, func(b *testing.B) {
			ctx := b.Context()
			if err := rdb.FlushAll(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			kind.start(b)
			if err := insp.PauseQueue(queue); err != nil {
				b.Fatal(err)
			}
			if err := kind.enqueue(ctx, b.N); err != nil {
				b.Fatal(err)
			}
			sent := sb.Count()
			b.ReportAllocs()
			b.ResetTimer()
			if err := insp.UnpauseQueue(queue); err != nil {
				b.Fatal(err)
			}
			if err := waitProcessed(ctx, rdb, b.N, time.Minute+time.Duration(b.N)*time.Millisecond); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if got := sb.Count() - sent; got != b.N {
				b.Fatalf("the sandbox got %d of %d messages", got, b.N)
			}
		})
	}
}

// waitProcessed waits until n tasks of the bench queue were processed, and
// fails if one failed.
func waitProcessed(ctx context.Context, rdb *redis.Client, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		p, err := rdb.Get(ctx, "asynq:{"+queue+"}:processed").Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		if f, _ := rdb.Get(ctx, "asynq:{"+queue+"}:failed").Int64(); f > 0 {
			return errors.New("a task failed")
		}
		if p >= int64(n) {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("tasks left unprocessed")
		}
		time.Sleep(time.Millisecond)
	}
}

// workerEnv configures a telequeue worker with the bench's settings (limits
// off, 10 senders, the bench's polling).
func workerEnv(redisURL, apiURL string) map[string]string {
	return map[string]string{
		"REDIS_URL": redisURL, "TELEGRAM_BOT_TOKEN": botToken, "TELEGRAM_API_URL": apiURL,
		"WORKER_CONCURRENCY": "10", "TASK_CHECK_INTERVAL": "25ms", "DELAYED_TASK_CHECK_INTERVAL": "250ms",
		"TELEGRAM_RATE_GLOBAL": "0", "TELEGRAM_RATE_CHAT": "0", "TELEGRAM_RATE_GROUP": "0", "TELEGRAM_RATE_PAID": "0",
		"LOG_LEVEL": "warn",
	}
}

// startPlainServer runs the baseline until the run of b ends: an asynq
// server with the same concurrency, queues and polling as the worker, and
// plainsend's handler.
func startPlainServer(b *testing.B, redisAddr, apiURL string) {
	srv := asynq.NewServer(asynq.RedisClientOpt{Addr: redisAddr}, asynq.Config{
		Concurrency:              10,
		Queues:                   map[string]int{"critical": 6, "default": 3, "bulk": 1},
		TaskCheckInterval:        25 * time.Millisecond,
		DelayedTaskCheckInterval: 250 * time.Millisecond,
		ShutdownTimeout:          5 * time.Second,
		LogLevel:                 asynq.WarnLevel,
	})
	mux := asynq.NewServeMux()
	mux.Handle(plainsend.TaskType, plainsend.New(apiURL+"/bot"+botToken+"/sendMessage"))
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Shutdown)
}
