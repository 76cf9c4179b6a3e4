package handlers

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/ratelimit"
)

// TestPrefetchRidesAsynqDequeue is the contract between Prefetch and asynq:
// the hook recognises asynq's dequeue script (a copy of it, by SHA-1), runs
// in its place one that does asynq's work, and hands each task's handler
// its sent marker and the running pauses of its bots. It fails when an
// asynq upgrade changes the dequeue script: the hook would then leave it
// alone, and nothing would be read for the handlers.
func TestPrefetchRidesAsynqDequeue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := redistest.Start(t)
	rdb := r.Client(t)
	limiter, err := ratelimit.New(rdb, ratelimit.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// A running pause of a group (it pauses only that chat), and one that
	// has ended.
	if err := limiter.Throttled(ctx, ratelimit.Key{Bot: "default", Chat: "-10042", Group: true}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := limiter.Throttled(ctx, ratelimit.Key{Bot: "default", Chat: "-10007", Group: true}, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)

	srvClient := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { _ = srvClient.Close() })
	p := NewPrefetch(true, limiter, []string{"default", "other"}, nil)
	srvClient.AddHook(p.Hook(srvClient))

	const queue = "contract"
	c := asynq.NewClientFromRedisClient(rdb)
	ids := []string{"marked", "unmarked", "third"}
	if err := rdb.Set(ctx, keys.Sent("marked"), `{"message_id":7}`, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]*prefetched{}
	srv := asynq.NewServerFromRedisClient(srvClient, asynq.Config{Concurrency: 1, Queues: map[string]int{queue: 1, "empty": 1},
		LogLevel: asynq.FatalLevel, TaskCheckInterval: 20 * time.Millisecond})
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		f := takePrefetched(p.Attach(ctx, id))
		mu.Lock()
		got[id] = f
		mu.Unlock()
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	// The server polls the empty queues meanwhile, with the hook's script;
	// Redis then forgets its scripts (as after a restart): the first
	// dequeue of a task meets NOSCRIPT and loads the script again.
	time.Sleep(100 * time.Millisecond)
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := c.Enqueue(asynq.NewTask("contract:prefetch", nil), asynq.Queue(queue), asynq.TaskID(id), asynq.Retention(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		q, err := insp.GetQueueInfo(queue)
		if err == nil && q.Completed == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks not completed: %+v, %v", q, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		f := got[id]
		if f == nil {
			t.Errorf("task %s: nothing read at dequeue", id)
			continue
		}
		if wantMarker := id == "marked"; f.hasMarker != wantMarker || (wantMarker && string(f.marker) != `{"message_id":7}`) {
			t.Errorf("task %s: marker %q (%v), want it only for the marked task", id, f.marker, f.hasMarker)
		}
		if !f.markers {
			t.Errorf("task %s: markers not read", id)
		}
		if p, _ := f.running("default"); !slices.Equal(p, []string{"chat:-10042"}) {
			t.Errorf("task %s: running pauses of default %q, want only the group's that runs", id, p)
		}
		if p, ok := f.running("other"); !ok || len(p) != 0 {
			t.Errorf("task %s: running pauses of other %q (%v), want none, read", id, p, ok)
		}
	}
	if n := p.rode.Load(); n != int64(len(ids)) {
		t.Errorf("%d dequeues read, want %d", n, len(ids))
	}
	// asynq's own work was done: the tasks ran once, are complete and
	// hold nothing in the active list or the lease set.
	for _, k := range []string{"asynq:{" + queue + "}:active", "asynq:{" + queue + "}:lease", "asynq:{" + queue + "}:pending"} {
		if n, err := rdb.Exists(ctx, k).Result(); err != nil || n != 0 {
			t.Errorf("%s exists (%d, %v) after every task completed", k, n, err)
		}
	}
}

// TestPrefetchUsedOnce: what a dequeue read stands for the first check of a
// run only, and only while young.
func TestPrefetchUsedOnce(t *testing.T) {
	p := NewPrefetch(true, nil, nil, nil)
	p.put("a", &prefetched{at: time.Now()})
	p.put("old", &prefetched{at: time.Now().Add(-time.Second)})
	ctx := p.Attach(context.Background(), "a")
	if takePrefetched(ctx) == nil {
		t.Fatal("nothing for the first check")
	}
	if takePrefetched(ctx) != nil {
		t.Error("the reads stood for a second check")
	}
	if takePrefetched(p.Attach(context.Background(), "a")) != nil {
		t.Error("Attach handed the same reads to a second run")
	}
	if takePrefetched(p.Attach(context.Background(), "old")) != nil {
		t.Error("reads a second old stood for the limiter's")
	}
}

// TestDequeueReadScriptKeepsAsynqs: the script the hook runs is asynq's
// with only its answer replaced, once.
func TestDequeueReadScriptKeepsAsynqs(t *testing.T) {
	if n := strings.Count(asynqDequeueSource, asynqDequeueAnswer); n != 1 {
		t.Fatalf("asynq's dequeue script holds its answer line %d times, want 1", n)
	}
	if !strings.HasSuffix(asynqDequeueSource, asynqDequeueNone) {
		t.Fatal("asynq's dequeue script does not end with its answer for no task")
	}
}

// TestPrefetchLane: with a lane, a poll of the lane queue right after
// another queue's dequeue found it empty is answered without Redis, and a
// task enqueued on the lane is still picked up at once.
func TestPrefetchLane(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	rdb := r.Client(t)
	srvClient := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { _ = srvClient.Close() })
	p := NewPrefetch(true, nil, nil, nil)
	p.Lane("lane")
	srvClient.AddHook(p.Hook(srvClient))
	done := make(chan string, 10)
	handler := asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		done <- id
		return nil
	})
	// Two servers on one client, as server.New runs the callback lane.
	for _, queues := range []map[string]int{{"main": 1, "other": 1}, {"lane": 1}} {
		srv := asynq.NewServerFromRedisClient(srvClient, asynq.Config{Concurrency: 2, Queues: queues,
			LogLevel: asynq.FatalLevel, TaskCheckInterval: 10 * time.Millisecond})
		if err := srv.Start(handler); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
	}
	for deadline := time.Now().Add(10 * time.Second); p.laneLocal.Load() < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d polls of the lane answered without Redis in 10 s, want 3", p.laneLocal.Load())
		}
	}
	c := asynq.NewClientFromRedisClient(rdb)
	for i, q := range []string{"lane", "main", "lane"} {
		id := q + strconv.Itoa(i)
		start := time.Now()
		if _, err := c.Enqueue(asynq.NewTask("contract:lane", nil), asynq.Queue(q), asynq.TaskID(id)); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-done:
			if got != id {
				t.Errorf("ran %s, want %s", got, id)
			}
			t.Logf("%s picked up after %v", id, time.Since(start).Round(time.Millisecond))
		case <-time.After(2 * time.Second):
			t.Fatalf("task %s on queue %s not run within 2 s", id, q)
		}
	}
}

func TestLuaQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"telequeue:sent:", `"telequeue:sent:"`},
		{`a"b\c`, `"a\034b\092c"`},
		{"tab\there", `"tab\009here"`},
		{"é", `"\195\169"`},
		{"", `""`},
	} {
		if got := luaQuote(tc.in); got != tc.want {
			t.Errorf("luaQuote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
