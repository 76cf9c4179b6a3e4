package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/recovery"
	"github.com/telequeue/telequeue/internal/redisx"
)

// fenceRide reads the fence of the task a handler runs (see
// internal/recovery) in round trips the handler makes anyway: a limiter
// call, the pause check after a sleep, a progress write. queue adds the read
// to a pipeline; check, after the round trip, returns a *FencedError if the
// task was taken from this process. A nil *fenceRide (fast recovery off, or
// no task) reads nothing and passes.
type fenceRide struct {
	queue, taskID string
	log           *slog.Logger
	fence         *recovery.Fence // queued, not checked yet
}

// newFenceRide returns the ride of the task ctx runs, or nil if fast
// recovery is off.
func newFenceRide(ctx context.Context, log *slog.Logger) *fenceRide {
	if recovery.ProcessOf(ctx) == "" {
		return nil
	}
	queue, _ := asynq.GetQueueName(ctx)
	taskID, _ := asynq.GetTaskID(ctx)
	if queue == "" || taskID == "" {
		return nil
	}
	return &fenceRide{queue: queue, taskID: taskID, log: log}
}

// pre returns a function that queues the fence's read on a pipeline, for
// the limiter's pre argument; nil if f is nil.
func (f *fenceRide) pre(ctx context.Context) func(redis.Pipeliner) {
	if f == nil {
		return nil
	}
	return func(p redis.Pipeliner) { f.add(ctx, p) }
}

// add queues the fence's read on p.
func (f *fenceRide) add(ctx context.Context, p redis.Pipeliner) {
	if f != nil {
		f.fence = recovery.QueueFence(ctx, p, f.queue, f.taskID)
	}
}

// check reads the answer of the last queued read: a *FencedError if the
// task was taken from this process, the read's error if it failed, nil if
// the run may send. A read already checked, or none, passes.
func (f *fenceRide) check(ctx context.Context) error {
	if f == nil || f.fence == nil {
		return nil
	}
	fence := f.fence
	f.fence = nil
	if err := fence.Check(); err != nil {
		return fenceError(ctx, f.log, err, f.taskID)
	}
	return nil
}

// both returns a function that queues a's commands, then b's; either may
// be nil.
func both(a, b func(redis.Pipeliner)) func(redis.Pipeliner) {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(p redis.Pipeliner) { a(p); b(p) }
}

// readFence reads the task's fence on its own (one round trip), for a run
// that slept where no other read could carry it: a *FencedError if the task
// was taken from this process meanwhile.
func readFence(ctx context.Context, rdb redis.UniversalClient, log *slog.Logger) error {
	ride := newFenceRide(ctx, log)
	if ride == nil || rdb == nil {
		return nil
	}
	err := redisx.UntilAnswers(ctx, func() error {
		pipe := rdb.Pipeline()
		ride.add(ctx, pipe)
		_, err := pipe.Exec(ctx)
		return err
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("read the task's fence: %w", err)
	}
	return ride.check(ctx)
}
