package main

import (
	"context"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/bench/internal/plainsend"
	"github.com/telequeue/telequeue/internal/config"
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
// which are the same for both; goroutines/op the goroutines started per
// message (asynq starts two for each task, and net/http's server, the
// sandbox's, one per request for its background read). Both run under the test's GOMAXPROCS (-cpu);
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
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: r.Addr()})
	b.Cleanup(func() { _ = insp.Close() })
	// The bench's environment, for its helpers: the workers' configuration,
	// the enqueues, the drain.
	bb := &bench{redis: r, rdb: r.Client(b), insp: insp, sbURL: url}
	defaults, err := config.Load(func(string) (string, bool) { return "", false }, false)
	if err != nil {
		b.Fatal(err)
	}

	for _, kind := range []struct {
		name    string
		start   func(b *testing.B) // runs until the run of b ends
		enqueue func(ctx context.Context, n int) error
	}{
		{"plain", func(b *testing.B) {
			srv := plainsend.NewServer(asynq.RedisClientOpt{Addr: r.Addr()}, 10, defaults.TaskCheckInterval, defaults.DelayedTaskCheckInterval, nil)
			mux := asynq.NewServeMux()
			mux.Handle(plainsend.TaskType, plainsend.New(url+"/bot"+botToken+"/sendMessage"))
			if err := srv.Start(mux); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(srv.Shutdown)
		}, bb.enqueuePlain},
		{"telequeue", func(b *testing.B) {
			// As the cluster bench's workers: its environment, the
			// configuration's defaults for the rest.
			env := map[string]string{}
			for _, kv := range bb.workerEnv(limitsOff, 0) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			workertest.Run(b, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		}, func(ctx context.Context, n int) error {
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
			if err := bb.rdb.FlushAll(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			kind.start(b)
			if err := insp.PauseQueue(queue); err != nil {
				b.Fatal(err)
			}
			if err := kind.enqueue(ctx, b.N); err != nil {
				b.Fatal(err)
			}
			sent, started := sb.Count(), goroutinesCreated()
			b.ReportAllocs()
			b.ResetTimer()
			if _, err := bb.drainQueues(ctx, nil, b.N, nil, queue); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(goroutinesCreated()-started)/float64(b.N), "goroutines/op")
			if got := sb.Count() - sent; got != b.N {
				b.Fatalf("the sandbox got %d of %d messages", got, b.N)
			}
		})
	}
}

// goroutinesCreated is how many goroutines the process has started.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
