package handlers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/redistest"
)

// pipelineLog records the commands of every pipeline a client sends.
type pipelineLog struct {
	mu    sync.Mutex
	pipes [][]string
}

func (l *pipelineLog) DialHook(next redis.DialHook) redis.DialHook { return next }
func (l *pipelineLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return next
}
func (l *pipelineLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		names := make([]string, len(cmds))
		for i, c := range cmds {
			names[i] = c.Name()
			if s, ok := c.Args()[len(c.Args())-1].(string); ok && c.Name() == "set" {
				names[i] += " " + s
			}
		}
		l.mu.Lock()
		l.pipes = append(l.pipes, names)
		l.mu.Unlock()
		return next(ctx, cmds)
	}
}

// rodeWith reports whether a pipeline carried the SET of value together
// with a script: the write rode in asynq's round trip.
func (l *pipelineLog) rodeWith(value string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.pipes {
		if slices.Contains(p, "set "+value) && (slices.Contains(p, "evalsha") || slices.Contains(p, "eval")) {
			return true
		}
	}
	return false
}

// TestCompletionsRideAsynqScripts is the contract between Completions and
// asynq: every way asynq ends a task a handler ran (completed with or
// without retention, retried, archived, pushed back at shutdown) is a
// script that names the task's hash, and the writes a handler left ride in
// its round trip. It fails when an asynq upgrade changes those scripts'
// keys: the writes would then go alone, after RideTimeout.
func TestCompletionsRideAsynqScripts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		retention time.Duration
		ret       error
		shutdown  bool // the handler outlives the shutdown timeout
		state     asynq.TaskState
	}{
		{name: "completed", retention: time.Hour, state: asynq.TaskStateCompleted},
		{name: "done without retention", state: 0},
		{name: "retried", ret: errors.New("transient"), state: asynq.TaskStateRetry},
		{name: "archived", ret: fmt.Errorf("permanent: %w", asynq.SkipRetry), state: asynq.TaskStateArchived},
		{name: "pushed back at shutdown", shutdown: true, state: asynq.TaskStatePending},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := redistest.Start(t)
			rdb := r.Client(t)
			srvClient := redis.NewClient(&redis.Options{Addr: r.Addr()})
			t.Cleanup(func() { _ = srvClient.Close() })
			comp := NewCompletions(nil)
			comp.timeout = time.Minute // a write that did not ride fails the test
			srvClient.AddHook(comp.Hook(srvClient))
			log := &pipelineLog{}
			srvClient.AddHook(log)

			const queue = "contract"
			c := asynq.NewClientFromRedisClient(rdb)
			opts := []asynq.Option{asynq.Queue(queue), asynq.MaxRetry(5)}
			if tc.retention > 0 {
				opts = append(opts, asynq.Retention(tc.retention))
			}
			info, err := c.Enqueue(asynq.NewTask("contract:ride", nil), opts...)
			if err != nil {
				t.Fatal(err)
			}
			shutdownTimeout := 10 * time.Second
			if tc.shutdown {
				shutdownTimeout = 200 * time.Millisecond
			}
			srv := asynq.NewServerFromRedisClient(srvClient, asynq.Config{Concurrency: 1, Queues: map[string]int{queue: 1},
				LogLevel: asynq.FatalLevel, TaskCheckInterval: 20 * time.Millisecond, ShutdownTimeout: shutdownTimeout,
				RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return time.Hour }})
			started := make(chan struct{})
			rode := make(chan error, 1)
			release := make(chan struct{})
			if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
				id, _ := asynq.GetTaskID(ctx)
				comp.add(id, []redis.Cmder{redis.NewStatusCmd(ctx, "set", "ride:"+id, "rode-"+id)},
					func(err error) { rode <- err })
				close(started)
				if tc.shutdown {
					<-release
				}
				return tc.ret
			})); err != nil {
				t.Fatal(err)
			}
			<-started
			if tc.shutdown {
				srv.Shutdown()
				close(release)
			} else {
				defer srv.Shutdown()
			}
			select {
			case err := <-rode:
				if err != nil {
					t.Fatalf("the write did not ride: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("asynq never ended the task")
			}
			if got, err := rdb.Get(context.Background(), "ride:"+info.ID).Result(); err != nil || got != "rode-"+info.ID {
				t.Errorf("GET ride:%s = %q, %v; want the ride's write", info.ID, got, err)
			}
			if !log.rodeWith("rode-" + info.ID) {
				t.Errorf("the write went without asynq's script; pipelines: %v", log.pipes)
			}
			if rode, alone := comp.counts(); rode != 1 || alone != 0 {
				t.Errorf("counts() = %d, %d; want 1, 0", rode, alone)
			}
			insp := asynq.NewInspectorFromRedisClient(rdb)
			ti, err := insp.GetTaskInfo(queue, info.ID)
			switch {
			case tc.state == 0:
				if !errors.Is(err, asynq.ErrTaskNotFound) {
					t.Errorf("task after done: %v, %v; want it gone", ti, err)
				}
			case err != nil:
				t.Errorf("task: %v", err)
			case ti.State != tc.state:
				t.Errorf("task state %v, want %v: asynq's script must still do its work", ti.State, tc.state)
			}
		})
	}
}

// TestCompletionsWriteAloneAfterTimeout: writes that no asynq script takes
// are handed back to be written on their own.
func TestCompletionsWriteAloneAfterTimeout(t *testing.T) {
	t.Parallel()
	comp := NewCompletions(nil)
	comp.timeout = 50 * time.Millisecond
	got := make(chan error, 1)
	comp.add("t1", []redis.Cmder{redis.NewStatusCmd(context.Background(), "set", "x", "y")}, func(err error) { got <- err })
	select {
	case err := <-got:
		if !errors.Is(err, errRideTimeout) {
			t.Fatalf("done(%v), want errRideTimeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the ride never timed out")
	}
	if rode, alone := comp.counts(); rode != 0 || alone != 1 {
		t.Errorf("counts() = %d, %d; want 0, 1", rode, alone)
	}
}

func TestScriptTask(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		cmd  redis.Cmder
		want string
	}{
		{"evalsha naming a task hash", redis.NewCmd(ctx, "evalsha", "abc", 3, "asynq:{default}:active", "asynq:{default}:t:id-1", "asynq:{default}:lease", "id-1"), "id-1"},
		{"eval naming a task hash", redis.NewCmd(ctx, "eval", "return 1", "1", "asynq:{q:x}:t:42"), "42"},
		{"task hash beyond the keys: an argument", redis.NewCmd(ctx, "evalsha", "abc", 1, "asynq:{default}:active", "asynq:{default}:t:id-1"), ""},
		{"not a script", redis.NewCmd(ctx, "hset", "asynq:{default}:t:id-1", "result", "x"), ""},
		{"another prefix", redis.NewCmd(ctx, "evalsha", "abc", 1, "telequeue:{default}:t:id-1"), ""},
		{"a key below a task", redis.NewCmd(ctx, "evalsha", "abc", 1, "asynq:{default}:t:id-1:extra"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := scriptTask(tc.cmd); got != tc.want {
				t.Errorf("scriptTask(%v) = %q, want %q", tc.cmd.Args(), got, tc.want)
			}
		})
	}
}

// TestCompletionsFlush: at shutdown, writes still waiting for asynq go on
// their own, and Flush waits for them.
func TestCompletionsFlush(t *testing.T) {
	t.Parallel()
	comp := NewCompletions(nil)
	comp.timeout = time.Minute
	var written sync.WaitGroup
	written.Add(1)
	wrote := false
	comp.add("t1", []redis.Cmder{redis.NewStatusCmd(context.Background(), "set", "x", "y")}, func(err error) {
		if !errors.Is(err, errRideShutdown) {
			t.Errorf("done(%v), want errRideShutdown", err)
		}
		comp.background(func() {
			time.Sleep(50 * time.Millisecond)
			wrote = true
			written.Done()
		})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	comp.Flush(ctx)
	if !wrote {
		t.Fatal("Flush returned before the write on its own finished")
	}
	if rode, alone := comp.counts(); rode != 0 || alone != 1 {
		t.Errorf("counts() = %d, %d; want 0, 1", rode, alone)
	}
}
