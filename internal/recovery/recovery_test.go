package recovery

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redistest"
)

// running puts a task into asynq's active list as a worker whose lease was
// last extended at leasedAt would have.
func running(t *testing.T, rc *redis.Client, queue, id string, leasedAt time.Time) {
	t.Helper()
	ctx := context.Background()
	p := "asynq:{" + queue + "}:"
	pipe := rc.TxPipeline()
	pipe.LPush(ctx, p+"active", id)
	pipe.ZAdd(ctx, p+"lease", redis.Z{Score: float64(leasedAt.Unix() + leaseDuration), Member: id})
	pipe.HSet(ctx, keys.AsynqTask(queue, id), "msg", "x", "state", "active")
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRecoverDeadProcess: a process that stops beating loses its running
// tasks to a live one after DeadAfter, except a task whose lease a live
// worker extends; its records are dropped; a live process loses nothing.
func TestRecoverDeadProcess(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	rc := rs.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	newProc := func(id string) *Process {
		p, err := New(Config{Redis: rc, Queues: []string{"default"}, ID: id, Beat: 20 * time.Millisecond, DeadAfter: 400 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	dead, live := newProc("dead"), newProc("live")
	for _, id := range []string{"a", "b", "c"} {
		dead.Begin("default", id)
	}
	done := live.Begin("default", "d")
	defer done()
	// The dead process beats once and dies; a, b ran under it; c was
	// taken over by a live worker, which extends its lease.
	if _, err := dead.beat(ctx, false); err != nil {
		t.Fatal(err)
	}
	// Leases as they stand 14 s after the death (asynq's heartbeater
	// extends a live worker's every 5 s), with DeadAfter shortened for the
	// test.
	died := time.Now().Add(-14 * time.Second)
	running(t, rc, "default", "a", died)
	running(t, rc, "critical", "b", died) // not listed under this queue: not taken
	running(t, rc, "default", "c", time.Now().Add(-3*time.Second))
	running(t, rc, "default", "d", time.Now())
	// Started by the dead process after its last beat: unlisted.
	running(t, rc, "default", "e", died)

	start := time.Now()
	live.Start(ctx)
	defer live.Stop(ctx)
	waitFor(t, ctx, "the dead process's records to be dropped", func() bool {
		n, _ := rc.Exists(ctx, keys.RecoveryInflight("dead")).Result()
		return n == 0
	})
	if since := time.Since(start); since < 300*time.Millisecond {
		t.Errorf("recovered %v after the start; want DeadAfter (400ms) after the last beat", since)
	}
	if got := live.Recovered(); got != 2 {
		t.Errorf("Recovered() = %d; want 2 (tasks a, e)", got)
	}
	pending, _ := rc.LRange(ctx, "asynq:{default}:pending", 0, -1).Result()
	if slices.Sort(pending); !slices.Equal(pending, []string{"a", "e"}) {
		t.Errorf("pending = %v; want [a e]", pending)
	}
	if f, _ := rc.Get(ctx, keys.Fence("default", "a")).Result(); !strings.HasPrefix(f, "dead ") {
		t.Errorf("fence of a = %q; want \"dead <time>\"", f)
	}
	if at, err := TakenAt(ctx, rc, "default", "a"); err != nil || at.Before(start.Add(-time.Second)) || time.Since(at) > 5*time.Second {
		t.Errorf("TakenAt(a) = %v, %v; want the take, after the start (%v)", at, err, start)
	}
	for _, id := range []string{"c", "d"} {
		if n, _ := rc.Exists(ctx, keys.Fence("default", id)).Result(); n != 0 {
			t.Errorf("task %s fenced", id)
		}
		if at, err := TakenAt(ctx, rc, "default", id); err != nil || !at.IsZero() {
			t.Errorf("TakenAt(%s) = %v, %v; want the zero time", id, at, err)
		}
	}
	if s, err := rc.ZScore(ctx, keys.RecoveryProcs, "live").Result(); err != nil || s == 0 {
		t.Errorf("live process's beat: %v, %v", s, err)
	}
	if n, _ := rc.ZCard(ctx, keys.RecoveryProcs).Result(); n != 1 {
		t.Errorf("%d processes recorded; want 1 (live)", n)
	}
	live.Stop(ctx)
	if n, _ := rc.Exists(ctx, keys.RecoveryProcs, keys.RecoveryInflight("live")).Result(); n != 0 {
		t.Errorf("a stopped process left %d records", n)
	}
}

// TestOneRecovererAtATime: with many live processes, each dead process's
// task is taken once.
func TestOneRecovererAtATime(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	rc := rs.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const tasks = 50
	dead, err := New(Config{Redis: rc, Queues: []string{"default"}, ID: "dead", Beat: 20 * time.Millisecond, DeadAfter: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range tasks {
		id := "t" + strconv.Itoa(i)
		dead.Begin("default", id)
		running(t, rc, "default", id, time.Now().Add(-14*time.Second))
	}
	if _, err := dead.beat(ctx, false); err != nil {
		t.Fatal(err)
	}
	var procs []*Process
	for i := range 4 {
		p, err := New(Config{Redis: rc, Queues: []string{"default"}, ID: "live" + strconv.Itoa(i), Beat: 20 * time.Millisecond, DeadAfter: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		p.Start(ctx)
		defer p.Stop(ctx)
		procs = append(procs, p)
	}
	waitFor(t, ctx, "every task to be taken", func() bool {
		n, _ := rc.LLen(ctx, "asynq:{default}:pending").Result()
		return n >= tasks
	})
	waitFor(t, ctx, "the records to be dropped", func() bool {
		n, _ := rc.Exists(ctx, keys.RecoveryInflight("dead")).Result()
		return n == 0
	})
	var sum int64
	for _, p := range procs {
		sum += p.Recovered()
	}
	if n, _ := rc.LLen(ctx, "asynq:{default}:pending").Result(); n != tasks || sum != tasks {
		t.Errorf("pending %d, recovered %d; want %d each", n, sum, tasks)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rc.Close()
	for _, tt := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Redis: rc, Queues: []string{"default"}}, true},
		{"no redis", Config{}, false},
		{"dead after under 10 beats", Config{Redis: rc, Queues: []string{"default"}, Beat: time.Second, DeadAfter: 5 * time.Second}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New: %v; want ok %v", err, tt.ok)
			}
			if tt.ok && (p.cfg.Beat != DefaultBeat || p.cfg.DeadAfter != DefaultDeadAfter || p.ID() == "") {
				t.Errorf("defaults not applied: %+v", p.cfg)
			}
		})
	}
}
