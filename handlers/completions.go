package handlers

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Completions lets the writes that record a confirmed send — its sent
// marker, its result, its outcome event — ride in the round trip in which
// asynq completes the task, instead of one of their own: a delivered message
// then costs three Redis round trips (asynq's dequeue, the limiter's call
// with the marker's read, asynq's completion) instead of four.
//
// How: a handler that returns success leaves its writes with Completions,
// keyed by task id. [Completions.Hook], added to the Redis client of the
// asynq server that runs the handler, recognises asynq's scripts that end a
// task (complete, done, retry, requeue, archive: each names the task's hash
// among its keys) and sends the waiting writes first, in the same pipeline.
// A pipeline, not a transaction: the writes are applied before asynq's
// script, each for itself.
//
// What it keeps: the marker is written before asynq ends the task, as it
// was when the handler wrote it itself; a crash between the confirmed send
// and that round trip sends the message again, as a crash before the
// handler's own write did (the sends in flight at the crash). Writes that
// no asynq script takes within [RideTimeout] (asynq skips its completion
// when the task's lease has expired) are written on their own, as are
// writes whose round trip failed, insisting while Redis is unreachable.
//
// A handler without Completions, or whose task does not come from a server
// with the hook, writes in a round trip of its own. contract_test.go in
// this package fails when an asynq upgrade changes the scripts' keys.
type Completions struct {
	log     *slog.Logger
	timeout time.Duration // RideTimeout; shorter in tests

	n       atomic.Int32 // rides waiting: the hook's fast path
	mu      sync.Mutex
	pending map[string]*ride

	rode, alone atomic.Int64
	bg          sync.WaitGroup // writes gone on their own, still running
}

// RideTimeout is how long a confirmed send's writes wait for asynq to end
// its task before they are written on their own.
const RideTimeout = 2 * time.Second

// ride is the writes of one task waiting for asynq's script.
type ride struct {
	// writes are the commands, built by the handler on its own goroutine
	// (asynq's, which sends them, starts with a small stack).
	writes []redis.Cmder
	// done is called once with the writes' error: nil if they were written
	// in asynq's round trip, else the reason they were not (the caller
	// then writes them on its own).
	done  func(error)
	timer *time.Timer
}

// NewCompletions returns Completions for the handlers of one asynq server
// (see [Config.Completions] and server.Config.Completions, which adds its
// [Completions.Hook]). log defaults to slog.Default().
func NewCompletions(log *slog.Logger) *Completions {
	if log == nil {
		log = slog.Default()
	}
	return &Completions{log: log, timeout: RideTimeout, pending: map[string]*ride{}}
}

// counts reports how many tasks' writes rode in asynq's round trip, and how
// many were written on their own (no asynq script took them in time, or the
// round trip failed).
func (c *Completions) counts() (rode, alone int64) { return c.rode.Load(), c.alone.Load() }

// add leaves a task's writes to ride with asynq's script that ends it.
// done receives their error, once, on the goroutine that sent them
// (asynq's), or that gave up on them (a timer's, or Flush's).
func (c *Completions) add(taskID string, writes []redis.Cmder, done func(error)) {
	r := &ride{writes: writes, done: done}
	c.mu.Lock()
	if old := c.pending[taskID]; old != nil {
		// The task ran here again before its earlier writes rode (asynq
		// skipped ending it: its lease had expired): those go on their own.
		old.timer.Stop()
		defer c.finish(old, errRideReplaced)
	}
	c.pending[taskID] = r
	c.n.Add(1)
	r.timer = time.AfterFunc(c.timeout, func() {
		if r := c.take(taskID, r); r != nil {
			c.finish(r, errRideTimeout)
		}
	})
	c.mu.Unlock()
}

// background runs fn, a write on its own after a ride failed, on a
// goroutine that [Completions.Flush] waits for.
func (c *Completions) background(fn func()) {
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		fn()
	}()
}

// Flush writes on their own the writes still waiting for asynq, and waits,
// until ctx is done, for every write gone on its own to finish. A server
// calls it on shutdown after its handlers returned: a handler that outlived
// the shutdown timeout finds its task already pushed back to the queue by
// asynq, so no script of asynq takes its writes, and the sent marker must
// be stored before the process exits, or the task's next run sends again.
func (c *Completions) Flush(ctx context.Context) {
	c.mu.Lock()
	rides := c.pending
	c.pending = map[string]*ride{}
	c.n.Store(0)
	c.mu.Unlock()
	for _, r := range rides {
		r.timer.Stop()
		c.finish(r, errRideShutdown)
	}
	done := make(chan struct{})
	go func() {
		c.bg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		c.log.Error("exiting before a delivery's record was written; its message may be sent again", "error", ctx.Err())
	}
}

var (
	errRideShutdown = errors.New("the server is shutting down")
	errRideTimeout  = errors.New("no asynq script ended the task in time")
	errRideReplaced = errors.New("replaced by a later run of the task")
)

// take removes and returns the writes waiting for taskID; if want is not
// nil, only if they are want.
func (c *Completions) take(taskID string, want *ride) *ride {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.pending[taskID]
	if r == nil || (want != nil && r != want) {
		return nil
	}
	delete(c.pending, taskID)
	c.n.Add(-1)
	return r
}

func (c *Completions) finish(r *ride, err error) {
	if err == nil {
		c.rode.Add(1)
	} else {
		c.alone.Add(1)
	}
	r.done(err)
}

// Hook returns the go-redis hook that sends waiting writes with asynq's
// scripts on rdb, the Redis client of the asynq server that runs the
// handlers: rdb.AddHook(c.Hook(rdb)) before the server starts.
func (c *Completions) Hook(rdb redis.UniversalClient) redis.Hook {
	return completionHook{c: c, rdb: rdb}
}

type completionHook struct {
	commandHook
	c   *Completions
	rdb redis.UniversalClient
}

// commandHook is the part of a go-redis hook that acts on single commands
// only: dials and pipelines pass.
type commandHook struct{}

func (commandHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (commandHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h completionHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	c, rdb := h.c, h.rdb
	return func(ctx context.Context, cmd redis.Cmder) error {
		if c.n.Load() == 0 {
			return next(ctx, cmd)
		}
		id := scriptTask(cmd)
		if id == "" {
			return next(ctx, cmd)
		}
		r := c.take(id, nil)
		if r == nil {
			return next(ctx, cmd)
		}
		r.timer.Stop()
		pipe := rdb.Pipeline()
		_ = pipe.BatchProcess(ctx, r.writes...)
		_ = pipe.Process(ctx, cmd)
		_, _ = pipe.Exec(ctx)
		var werr error
		for _, w := range r.writes {
			if err := w.Err(); err != nil && !errors.Is(err, redis.Nil) {
				werr = err
				break
			}
		}
		c.finish(r, werr)
		return cmd.Err()
	}
}

// scriptTask returns the id of the task whose hash an EVAL or EVALSHA
// names among its keys ("asynq:{<queue>}:t:<id>", see keys.AsynqTask), or
// "" for any other command.
func scriptTask(cmd redis.Cmder) string {
	name := cmd.Name()
	if name != "evalsha" && name != "eval" {
		return ""
	}
	args := cmd.Args()
	if len(args) < 3 {
		return ""
	}
	var nkeys int
	switch n := args[2].(type) {
	case int:
		nkeys = n
	case int64:
		nkeys = int(n)
	case string:
		v, err := strconv.Atoi(n)
		if err != nil {
			return ""
		}
		nkeys = v
	default:
		return ""
	}
	for i := 3; i < 3+nkeys && i < len(args); i++ {
		k, ok := args[i].(string)
		if !ok || !strings.HasPrefix(k, "asynq:{") {
			continue
		}
		if _, id, ok := strings.Cut(k, "}:t:"); ok && id != "" && !strings.Contains(id, ":") {
			return id
		}
	}
	return ""
}
