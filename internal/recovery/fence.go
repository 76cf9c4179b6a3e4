package recovery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redisx"
)

type ctxKey struct{}

// run is what a handler's context carries for the fence check.
type run struct {
	proc  string
	start time.Time
	beats *continuity // nil: always read the fence
}

// WithProcess returns ctx carrying the id of the process that runs the
// task and the run's start, for the handlers' fence check. Its runs always
// read their fences; [Process.WithRun] lets them skip reads that cannot
// find a take.
func WithProcess(ctx context.Context, id string, start time.Time) context.Context {
	return context.WithValue(ctx, ctxKey{}, run{proc: id, start: start})
}

// WithRun returns ctx carrying p and the start of a run of a task, for the
// handlers' fence check: [QueueFence] reads the fence only if p's
// heartbeat was not continuous since start (see continuity), the only way
// a recoverer could have taken the task from this run.
func (p *Process) WithRun(ctx context.Context, start time.Time) context.Context {
	return context.WithValue(ctx, ctxKey{}, run{proc: p.cfg.ID, start: start, beats: p.beats})
}

// ProcessOf returns the id WithProcess stored, or "" (fast recovery off).
func ProcessOf(ctx context.Context) string {
	r, _ := ctx.Value(ctxKey{}).(run)
	return r.proc
}

// ErrFenced means the task was taken from this process, which was silent
// too long, and given to another: this run must not send it.
var ErrFenced = errors.New("task taken over by another worker while this one was unresponsive")

// fenceSkew is the clock skew between a worker and Redis that the fence's
// time check tolerates. A run that was taken over started at least
// DeadAfter minus a beat before the take; the new owner's run starts after
// it.
const fenceSkew = 5 * time.Second

// Fence is a check of a task's fence that rides in a round trip the handler
// makes anyway: QueueFence adds it to a pipeline, Check reads it after
// Exec.
type Fence struct {
	run run
	cmd *redis.SliceCmd // MGET of the fence, read by redisx.OneValue
}

// QueueFence adds the read of the fence of the task that ctx runs to pipe.
// It returns nil, and adds nothing, if fast recovery is off, ctx has no
// task, or the run's process has beaten without a gap since the run began
// (see [Process.WithRun]): no recoverer can have taken the task then.
func QueueFence(ctx context.Context, pipe redis.Pipeliner, queue, taskID string) *Fence {
	r, _ := ctx.Value(ctxKey{}).(run)
	if !r.needsRead() || queue == "" || taskID == "" {
		return nil
	}
	return &Fence{run: r, cmd: pipe.MGet(ctx, keys.Fence(queue, taskID))}
}

// NeedsFence reports whether a check of the fence of the task that ctx
// runs would read anything now (see [QueueFence]): false if fast recovery
// is off, or if the run's process has beaten without a gap since the run
// began.
func NeedsFence(ctx context.Context) bool {
	r, _ := ctx.Value(ctxKey{}).(run)
	return r.needsRead()
}

// needsRead reports whether r must read its fence now: fast recovery is on
// and r's process has not beaten without a gap since r began.
func (r run) needsRead() bool {
	return r.proc != "" && (r.beats == nil || !r.beats.fresh(r.start, time.Now()))
}

// Check returns ErrFenced if the task was taken from this run: the fence
// names this process and the run started before the take, or the take came
// well after the run started (a task its process started after its last
// heartbeat is taken in the name of another). A nil Fence passes.
func (f *Fence) Check() error {
	if f == nil {
		return nil
	}
	// "<process> <Redis time of the take, Unix ms>", as takeScript writes.
	v, ok, err := redisx.OneValue(f.cmd)
	if err != nil {
		return fmt.Errorf("read fence: %w", err)
	}
	if !ok {
		return nil
	}
	proc, at, _ := strings.Cut(v, " ")
	ms, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return fencedIf(proc == f.run.proc)
	}
	takenAt := time.UnixMilli(ms)
	switch {
	case proc == f.run.proc && f.run.start.Before(takenAt.Add(fenceSkew)):
		// Its process lost it; a run it starts well after the take (the
		// task's id reused) is a new one.
		return ErrFenced
	case f.run.start.Before(takenAt.Add(-fenceSkew)):
		return ErrFenced
	}
	return nil
}

// fencedIf returns ErrFenced if fenced.
func fencedIf(fenced bool) error {
	if fenced {
		return ErrFenced
	}
	return nil
}

// TakenAt returns when a recoverer last took the task back from a dead
// process (Redis time, from its fence), or the zero time if it never did
// within the fence's life (an hour). One round trip.
func TakenAt(ctx context.Context, rdb redis.Cmdable, queue, taskID string) (time.Time, error) {
	v, err := rdb.Get(ctx, keys.Fence(queue, taskID)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, fmt.Errorf("read fence: %w", err)
	}
	_, at, _ := strings.Cut(v, " ")
	ms, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("fence of task %s: bad take time %q", taskID, at)
	}
	return time.UnixMilli(ms), nil
}
