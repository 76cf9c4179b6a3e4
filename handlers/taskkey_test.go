package handlers

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redistest"
)

// TestResultKeyMatchesAsynq guards recordSent's shortcut: the result it
// writes must land where asynq's ResultWriter writes it and where the
// Inspector (client.Status, the dashboard) reads it. It fails if an asynq
// upgrade moves the task hash.
func TestResultKeyMatchesAsynq(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	rdb := r.Client(t)
	opt := asynq.RedisClientOpt{Addr: r.Addr()}
	c := asynq.NewClient(opt)
	defer c.Close()
	insp := asynq.NewInspector(opt)
	defer insp.Close()

	const queue = "contract"
	info, err := c.Enqueue(asynq.NewTask("contract:test", nil), asynq.Queue(queue), asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// What asynq's own writer stores, we read at our key ...
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 1, Queues: map[string]int{queue: 1}, LogLevel: asynq.FatalLevel,
		TaskCheckInterval: 20 * time.Millisecond})
	done := make(chan string, 1)
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		q, _ := asynq.GetQueueName(ctx)
		id, _ := asynq.GetTaskID(ctx)
		if _, err := task.ResultWriter().Write([]byte("from asynq")); err != nil {
			return err
		}
		got, err := rdb.HGet(ctx, keys.AsynqTask(q, id), "result").Result()
		if err != nil {
			got = "error: " + err.Error()
		}
		done <- got
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	select {
	case got := <-done:
		if got != "from asynq" {
			t.Fatalf("HGET %s result = %q, want what ResultWriter wrote", keys.AsynqTask(queue, info.ID), got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("task not processed")
	}
	// ... and what we store at our key, the Inspector reads as the result.
	if err := rdb.HSet(context.Background(), keys.AsynqTask(queue, info.ID), "result", "from telequeue").Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ti, err := insp.GetTaskInfo(queue, info.ID)
		if err == nil && string(ti.Result) == "from telequeue" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Inspector result %v, %v; want what we wrote at %s", ti, err, keys.AsynqTask(queue, info.ID))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
