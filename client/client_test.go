package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/tasks"
)

// bundle is what a test needs: a client on its own redis-server.
type bundle struct {
	c     *client.Client
	srv   *redistest.Server
	rdb   *redis.Client
	inspa *asynq.Inspector
	opt   asynq.RedisClientOpt
}

func setup(t *testing.T, cfg client.Config) *bundle {
	t.Helper()
	s := redistest.Start(t)
	opt := asynq.RedisClientOpt{Addr: s.Addr()}
	if cfg.Redis == nil {
		cfg.Redis = opt
	}
	if cfg.Bots == nil {
		// No worker registers bots here (see TestBotRegistry).
		cfg.Bots = []string{tasks.DefaultBot, "alerts"}
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = insp.Close() })
	return &bundle{c: c, srv: s, rdb: s.Client(t), inspa: insp, opt: opt}
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func msg(chat int64, text string) *tasks.SendMessage {
	return &tasks.SendMessage{ChatID: telego.ChatID{ID: chat}, Text: text}
}

// taskKeys returns asynq's task hashes and telequeue's idempotency keys.
func (b *bundle) taskKeys(t *testing.T) (taskHashes, idemKeys []string) {
	t.Helper()
	ctx := testCtx(t)
	th, err := b.rdb.Keys(ctx, "asynq:{*}:t:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	ik, err := b.rdb.Keys(ctx, keys.Idempotency("*")).Result()
	if err != nil {
		t.Fatal(err)
	}
	return th, ik
}

func TestNewConfig(t *testing.T) {
	t.Parallel()
	opt := asynq.RedisClientOpt{Addr: "127.0.0.1:1"}
	tests := []struct {
		name    string
		cfg     client.Config
		wantErr string
	}{
		{"defaults", client.Config{Redis: opt}, ""},
		{"no redis", client.Config{}, "missing Config.Redis"},
		{"negative max retry", client.Config{Redis: opt, MaxRetry: -1}, "Config.MaxRetry -1"},
		{"negative retention", client.Config{Redis: opt, Retention: -time.Hour}, "Retention"},
		{"sub-second retention", client.Config{Redis: opt, Retention: time.Millisecond}, "Retention"},
		{"negative upload limit", client.Config{Redis: opt, UploadMaxBytes: -1}, "Config.UploadMaxBytes -1"},
		{"upload limit over Telegram's", client.Config{Redis: opt, UploadMaxBytes: tasks.MaxFileBytes + 1}, "Config.UploadMaxBytes"},
		{"upload limit", client.Config{Redis: opt, UploadMaxBytes: 1 << 20}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := client.New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				_ = c.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSendMessageRefusesInvalid(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{Bots: []string{"default", "alerts"}})
	tests := []struct {
		name    string
		m       *tasks.SendMessage
		opts    []client.Option
		wantIs  error // errors.Is target
		wantVal bool  // also a *tasks.ValidationError
	}{
		{"empty text", msg(1, "  "), nil, tasks.ErrEmptyText, true},
		{"text too long", msg(1, strings.Repeat("x", 4097)), nil, tasks.ErrTextTooLong, true},
		{"no chat", &tasks.SendMessage{Text: "hi"}, nil, tasks.ErrMissingChat, true},
		{"bad username", &tasks.SendMessage{ChatID: telego.ChatID{Username: "nope"}, Text: "hi"}, nil, tasks.ErrInvalidChat, true},
		{"bad parse mode", &tasks.SendMessage{ChatID: telego.ChatID{ID: 1}, Text: "hi", ParseMode: "BBCode"}, nil, tasks.ErrUnknownParseMode, true},
		{"unknown bot", &tasks.SendMessage{Bot: "marketing", ChatID: telego.ChatID{ID: 1}, Text: "hi"}, nil, tasks.ErrUnknownBot, true},
		{"unknown bot with key", &tasks.SendMessage{Bot: "marketing", ChatID: telego.ChatID{ID: 1}, Text: "hi"}, []client.Option{client.IdempotencyKey("k1")}, tasks.ErrUnknownBot, true},
		{"unknown priority", msg(1, "hi"), []client.Option{client.Priority("urgent")}, client.ErrInvalidOption, false},
		{"empty key", msg(1, "hi"), []client.Option{client.IdempotencyKey("")}, client.ErrInvalidOption, false},
		{"long key", msg(1, "hi"), []client.Option{client.IdempotencyKey(strings.Repeat("k", 201))}, client.ErrInvalidOption, false},
		{"control char in key", msg(1, "hi"), []client.Option{client.IdempotencyKey("a\nb")}, client.ErrInvalidOption, false},
		{"max retry 0", msg(1, "hi"), []client.Option{client.MaxRetry(0)}, client.ErrInvalidOption, false},
		{"deadline passed", msg(1, "hi"), []client.Option{client.Deadline(time.Now().Add(-time.Minute))}, client.ErrInvalidOption, false},
		{"deadline before send time", msg(1, "hi"), []client.Option{client.SendIn(time.Hour), client.Deadline(time.Now().Add(time.Minute))}, client.ErrInvalidOption, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := b.c.SendMessage(testCtx(t), tt.m, tt.opts...)
			if err == nil {
				t.Fatalf("SendMessage queued %s, want an error", r.ID)
			}
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q: errors.Is(%v) = false", err, tt.wantIs)
			}
			var verr *tasks.ValidationError
			if got := errors.As(err, &verr); got != tt.wantVal {
				t.Errorf("error %q: errors.As(*tasks.ValidationError) = %v, want %v", err, got, tt.wantVal)
			}
			if th, ik := b.taskKeys(t); len(th)+len(ik) != 0 {
				t.Errorf("refused message left keys in Redis: %v %v", th, ik)
			}
		})
	}
}

func TestSendMessagePriority(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{MaxRetry: 3, Retention: time.Hour})
	tests := []struct {
		name      string
		opts      []client.Option
		wantQueue string
	}{
		{"no option", nil, tasks.QueueDefault},
		{"critical", []client.Option{client.Critical()}, tasks.QueueCritical},
		{"bulk", []client.Option{client.Bulk()}, tasks.QueueBulk},
		{"priority default", []client.Option{client.Priority("default")}, tasks.QueueDefault},
		{"last one wins", []client.Option{client.Bulk(), client.Priority("critical")}, tasks.QueueCritical},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := b.c.SendMessage(testCtx(t), msg(7, tt.name), tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if r.Queue != tt.wantQueue || !r.ScheduledAt.IsZero() {
				t.Errorf("receipt %+v, want queue %s, not scheduled", r, tt.wantQueue)
			}
			info, err := b.inspa.GetTaskInfo(tt.wantQueue, r.ID)
			if err != nil {
				t.Fatalf("task not in %s: %v", tt.wantQueue, err)
			}
			if info.State != asynq.TaskStatePending || info.MaxRetry != 3 || info.Retention != time.Hour || info.Type != tasks.TypeSendMessage {
				t.Errorf("task %+v: want pending, MaxRetry 3, Retention 1h, type %s", info, tasks.TypeSendMessage)
			}
		})
	}
}

func TestSendMessageOptionsReachTask(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	ctx := testCtx(t)
	deadline := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	r, err := b.c.SendMessage(ctx, msg(7, "x"), client.MaxRetry(2), client.Deadline(deadline))
	if err != nil {
		t.Fatal(err)
	}
	info, err := b.inspa.GetTaskInfo(r.Queue, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The deadline travels in a header, which the worker applies (asynq's
	// own Deadline would retry a stale task until its retries ran out).
	if want := strconv.FormatInt(deadline.UnixMilli(), 10); info.MaxRetry != 2 || info.Headers[tasks.HeaderDeadline] != want || !info.Deadline.IsZero() {
		t.Errorf("MaxRetry %d, deadline header %q, asynq Deadline %v; want 2, %s and none", info.MaxRetry, info.Headers[tasks.HeaderDeadline], info.Deadline, want)
	}
	if r2, err := b.c.SendMessage(ctx, msg(7, "y")); err != nil {
		t.Fatal(err)
	} else if info, _ := b.inspa.GetTaskInfo(r2.Queue, r2.ID); info.MaxRetry != tasks.DefaultMaxRetry {
		t.Errorf("default MaxRetry %d, want %d", info.MaxRetry, tasks.DefaultMaxRetry)
	}
}

func TestSendMessageScheduled(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	tests := []struct {
		name      string
		opt       client.Option
		wantState client.State
		wantAt    time.Time
	}{
		{"send in", client.SendIn(time.Hour), client.StateScheduled, time.Now().Add(time.Hour)},
		{"send at", client.SendAt(time.Now().Add(30 * time.Minute)), client.StateScheduled, time.Now().Add(30 * time.Minute)},
		{"send at past", client.SendAt(time.Now().Add(-time.Minute)), client.StatePending, time.Time{}},
		{"send in zero", client.SendIn(0), client.StatePending, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			r, err := b.c.SendMessage(ctx, msg(7, tt.name), tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if !near(r.ScheduledAt, tt.wantAt) {
				t.Errorf("ScheduledAt %v, want about %v", r.ScheduledAt, tt.wantAt)
			}
			st, err := b.c.Status(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != tt.wantState {
				t.Errorf("state %s, want %s", st.State, tt.wantState)
			}
			if tt.wantState == client.StateScheduled && !near(st.NextProcessAt, tt.wantAt) {
				t.Errorf("NextProcessAt %v, want about %v", st.NextProcessAt, tt.wantAt)
			}
		})
	}
}

// near reports whether a and b are both zero or within 2s of each other.
func near(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() == b.IsZero()
	}
	d := a.Sub(b)
	return d > -2*time.Second && d < 2*time.Second
}

// worker runs an asynq server over the three queues whose handler acts on
// the message text: "ok" writes a result and succeeds, "fail" fails (retried
// in an hour), "skip" fails permanently, "hang" blocks until the test ends.
type worker struct {
	srv     *asynq.Server
	release chan struct{}
}

func startWorker(t *testing.T, opt asynq.RedisClientOpt) *worker {
	t.Helper()
	w := &worker{release: make(chan struct{})}
	w.srv = asynq.NewServer(opt, asynq.Config{
		Concurrency:              4,
		Queues:                   map[string]int{tasks.QueueCritical: 6, tasks.QueueDefault: 3, tasks.QueueBulk: 1},
		TaskCheckInterval:        20 * time.Millisecond,
		DelayedTaskCheckInterval: 100 * time.Millisecond,
		RetryDelayFunc:           func(int, error, *asynq.Task) time.Duration { return time.Hour },
		ShutdownTimeout:          2 * time.Second,
		LogLevel:                 asynq.FatalLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(tasks.TypeSendMessage, func(ctx context.Context, task *asynq.Task) error {
		m, err := tasks.ParseSendMessage(task.Payload())
		if err != nil {
			return fmt.Errorf("%v: %w", err, asynq.SkipRetry)
		}
		switch m.Text {
		case "fail":
			return errors.New("telegram: 502 bad gateway")
		case "skip":
			return fmt.Errorf("telegram: 403 bot was blocked by the user: %w", asynq.SkipRetry)
		case "hang":
			select {
			case <-w.release:
			case <-ctx.Done():
			}
			return errors.New("released")
		}
		res, _ := json.Marshal(tasks.SendResult{MessageID: 42, ChatID: m.ChatID.ID})
		if _, err := task.ResultWriter().Write(res); err != nil {
			return err
		}
		return nil
	})
	if err := w.srv.Start(mux); err != nil {
		t.Fatalf("start asynq server: %v", err)
	}
	t.Cleanup(func() {
		close(w.release)
		w.srv.Shutdown()
	})
	return w
}

// waitState polls Status until the task reaches state, for at most 10s.
func waitState(t *testing.T, c *client.Client, id string, state client.State) *client.Status {
	t.Helper()
	ctx := testCtx(t)
	deadline := time.Now().Add(10 * time.Second)
	var last client.State
	for time.Now().Before(deadline) {
		st, err := c.Status(ctx, id)
		if err != nil {
			t.Fatalf("Status(%s): %v", id, err)
		}
		if st.State == state {
			return st
		}
		last = st.State
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("task %s stayed %s, want %s", id, last, state)
	return nil
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	ctx := testCtx(t)
	first, err := b.c.SendMessage(ctx, msg(7, "ok"), client.IdempotencyKey("order-1"))
	if err != nil {
		t.Fatal(err)
	}
	assertDuplicate := func(t *testing.T, opts ...client.Option) {
		t.Helper()
		r, err := b.c.SendMessage(ctx, msg(7, "ok"), append(opts, client.IdempotencyKey("order-1"))...)
		var dup *client.DuplicateError
		if !errors.As(err, &dup) || !errors.Is(err, client.ErrDuplicate) {
			t.Fatalf("second SendMessage: %v, %v; want a DuplicateError", r, err)
		}
		if *dup != (client.DuplicateError{Key: "order-1", ID: first.ID, Queue: tasks.QueueDefault}) {
			t.Errorf("DuplicateError %+v, want the first task %s", dup, first.ID)
		}
		if th, _ := b.taskKeys(t); len(th) != 1 {
			t.Errorf("%d tasks in Redis, want 1: %v", len(th), th)
		}
	}

	t.Run("while pending", func(t *testing.T) { assertDuplicate(t) })
	t.Run("from another queue", func(t *testing.T) { assertDuplicate(t, client.Bulk()) })
	t.Run("scheduled", func(t *testing.T) { assertDuplicate(t, client.SendIn(time.Hour)) })
	t.Run("other key is not a duplicate", func(t *testing.T) {
		r, err := b.c.SendMessage(ctx, msg(7, "other"), client.IdempotencyKey("order-2"))
		if err != nil {
			t.Fatal(err)
		}
		if r.ID == first.ID {
			t.Fatal("same id for another key")
		}
		// Remove it again: the other subtests count tasks.
		if err := b.inspa.DeleteTask(r.Queue, r.ID); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("after completion and expiry", func(t *testing.T) {
		startWorker(t, b.opt)
		st := waitState(t, b.c, first.ID, client.StateCompleted)
		if st.Result == nil || st.Result.MessageID != 42 {
			t.Fatalf("completed status %+v, want message_id 42", st)
		}
		assertDuplicate(t)
		// Once asynq forgot the task (retention over), asynq's TaskID would
		// accept it again; the key still refuses it.
		if err := b.inspa.DeleteTask(tasks.QueueDefault, first.ID); err != nil {
			t.Fatal(err)
		}
		_, err = b.c.SendMessage(ctx, msg(7, "ok"), client.IdempotencyKey("order-1"))
		var dup *client.DuplicateError
		if !errors.As(err, &dup) || dup.ID != first.ID {
			t.Fatalf("after the task expired: %v; want a DuplicateError naming %s", err, first.ID)
		}
		if th, _ := b.taskKeys(t); len(th) != 0 {
			t.Errorf("tasks in Redis: %v, want none", th)
		}
	})
}

func TestIdempotencyKeyTTL(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{Retention: time.Hour})
	ctx := testCtx(t)
	if _, err := b.c.SendMessage(ctx, msg(1, "now"), client.IdempotencyKey("now")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.c.SendMessage(ctx, msg(1, "later"), client.IdempotencyKey("later"), client.SendIn(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key  string
		want time.Duration
	}{
		{"now", time.Hour},
		{"later", 25 * time.Hour},
	}
	for _, tt := range tests {
		ttl, err := b.rdb.PTTL(ctx, keys.Idempotency(tt.key)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl > tt.want || ttl < tt.want-time.Minute {
			t.Errorf("key %s: TTL %v, want about %v", tt.key, ttl, tt.want)
		}
	}
}

func TestIdempotencyKeyConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	ctx := testCtx(t)
	const n = 50
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ok   []string
		dups = map[string]int{}
	)
	for range n {
		wg.Go(func() {
			r, err := b.c.SendMessage(ctx, msg(1, "once"), client.IdempotencyKey("race"))
			mu.Lock()
			defer mu.Unlock()
			var dup *client.DuplicateError
			switch {
			case err == nil:
				ok = append(ok, r.ID)
			case errors.As(err, &dup):
				dups[dup.ID]++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(ok) != 1 || len(dups) != 1 || dups[ok[0]] != n-1 {
		t.Fatalf("accepted %v, duplicates %v; want one accepted and %d duplicates naming it", ok, dups, n-1)
	}
	if th, _ := b.taskKeys(t); len(th) != 1 {
		t.Errorf("%d tasks in Redis, want 1", len(th))
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{MaxRetry: 5})
	ctx := testCtx(t)
	send := func(text string, opts ...client.Option) string {
		t.Helper()
		r, err := b.c.SendMessage(ctx, msg(99, text), opts...)
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	// Without a worker, a task stays pending; the worker below would send it.
	pending := send("pending")
	pendingStatus, err := b.c.Status(ctx, pending)
	if err != nil {
		t.Fatal(err)
	}
	scheduled := send("scheduled", client.SendIn(time.Hour))
	// Tasks a worker moves.
	startWorker(t, b.opt)
	completed := send("ok", client.Critical())
	retry := send("fail")
	archived := send("skip", client.Bulk())
	active := send("hang")
	// Sent by a worker that crashed before completing: only the marker.
	activeSent := send("hang")
	if err := b.rdb.Set(ctx, keys.Sent(activeSent), `{"message_id":7,"chat_id":99}`, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	markerOnly := "01markeronly"
	if err := b.rdb.Set(ctx, keys.Sent(markerOnly), `{"message_id":8,"chat_id":99}`, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name         string
		id           string
		want         client.Status // fields compared: Queue, State, Attempts, MaxRetry
		wantLastErr  string
		wantResult   int64 // message id, 0 for none
		wantMessage  bool
		wantComplete bool // CompletedAt set
	}{
		{"pending", pending, client.Status{Queue: "default", State: "pending", MaxRetry: 5}, "", 0, true, false},
		{"pending, now completed", pending, client.Status{Queue: "default", State: "completed", MaxRetry: 5}, "", 42, true, true},
		{"scheduled", scheduled, client.Status{Queue: "default", State: "scheduled", MaxRetry: 5}, "", 0, true, false},
		{"completed", completed, client.Status{Queue: "critical", State: "completed", MaxRetry: 5}, "", 42, true, true},
		{"retry", retry, client.Status{Queue: "default", State: "retry", Attempts: 1, MaxRetry: 5}, "502 bad gateway", 0, true, false},
		{"archived", archived, client.Status{Queue: "bulk", State: "archived", MaxRetry: 5}, "bot was blocked", 0, true, false},
		{"active", active, client.Status{Queue: "default", State: "active", MaxRetry: 5}, "", 0, true, false},
		{"active but sent", activeSent, client.Status{Queue: "default", State: "active", MaxRetry: 5}, "", 7, true, false},
		{"gone, sent marker", markerOnly, client.Status{State: "completed"}, "", 8, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := pendingStatus
			if tt.name != "pending" {
				st = waitState(t, b.c, tt.id, tt.want.State)
			}
			if st.ID != tt.id || st.Queue != tt.want.Queue || st.Attempts != tt.want.Attempts || st.MaxRetry != tt.want.MaxRetry || st.Type != tasks.TypeSendMessage {
				t.Errorf("status %+v, want id %s, queue %q, attempts %d, max retry %d", st, tt.id, tt.want.Queue, tt.want.Attempts, tt.want.MaxRetry)
			}
			if !strings.Contains(st.LastError, tt.wantLastErr) || (tt.wantLastErr == "") != (st.LastError == "") {
				t.Errorf("LastError %q, want %q", st.LastError, tt.wantLastErr)
			}
			if tt.wantLastErr != "" && st.LastFailedAt.IsZero() {
				t.Errorf("LastFailedAt is zero")
			}
			switch {
			case tt.wantResult == 0 && st.Result != nil:
				t.Errorf("Result %+v, want none", st.Result)
			case tt.wantResult != 0 && (st.Result == nil || st.Result.MessageID != tt.wantResult):
				t.Errorf("Result %+v, want message_id %d", st.Result, tt.wantResult)
			}
			if (st.Message != nil) != tt.wantMessage || (st.Message != nil && st.Message.ChatID.ID != 99) {
				t.Errorf("Message %+v, want present: %v", st.Message, tt.wantMessage)
			}
			if st.CompletedAt.IsZero() == tt.wantComplete {
				t.Errorf("CompletedAt %v", st.CompletedAt)
			}
		})
	}

	t.Run("not found", func(t *testing.T) {
		for _, id := range []string{"", "nosuchtask"} {
			if st, err := b.c.Status(ctx, id); !errors.Is(err, client.ErrNotFound) {
				t.Errorf("Status(%q) = %+v, %v; want ErrNotFound", id, st, err)
			}
		}
	})
}

func TestStatusNoQueuesYet(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	if _, err := b.c.Status(testCtx(t), "abc"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Status on an empty Redis: %v, want ErrNotFound", err)
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	ctx := testCtx(t)
	r, err := b.c.SendMessage(ctx, msg(1, "before"))
	if err != nil {
		t.Fatal(err)
	}
	b.srv.Kill()

	calls := []struct {
		name string
		call func() error
	}{
		{"SendMessage", func() error { _, err := b.c.SendMessage(ctx, msg(1, "x")); return err }},
		{"SendMessage with key", func() error {
			_, err := b.c.SendMessage(ctx, msg(1, "x"), client.IdempotencyKey("k"))
			return err
		}},
		{"Status", func() error { _, err := b.c.Status(ctx, r.ID); return err }},
		{"Ping", func() error { return b.c.Ping(ctx) }},
		{"Call", func() error {
			_, err := b.c.Call(ctx, &telego.DeleteMessageParams{ChatID: telego.ChatID{ID: 1}, MessageID: 2})
			return err
		}},
		{"Call with upload", func() error {
			_, err := b.c.Call(ctx, &telego.SendDocumentParams{ChatID: telego.ChatID{ID: 1},
				Document: telego.InputFile{File: namedReader{strings.NewReader("doc"), "a.txt"}}})
			return err
		}},
		{"Call with key", func() error {
			_, err := b.c.Call(ctx, &telego.DeleteMessageParams{ChatID: telego.ChatID{ID: 1}, MessageID: 2}, client.IdempotencyKey("k2"))
			return err
		}},
		{"SendBatch", func() error {
			_, errs := b.c.SendBatch(ctx, []*tasks.SendMessage{msg(1, "a"), msg(1, "b"), msg(1, "c")})
			return errors.Join(errs...)
		}},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := tt.call()
			if !errors.Is(err, client.ErrUnavailable) {
				t.Errorf("got %v, want ErrUnavailable", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}

	t.Run("back after restart", func(t *testing.T) {
		if err := b.srv.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		// go-redis retries a failed pool's dial about once a second.
		deadline := time.Now().Add(10 * time.Second)
		for err := b.c.Ping(ctx); err != nil; err = b.c.Ping(ctx) {
			if time.Now().After(deadline) {
				t.Fatalf("Ping after restart: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("closed client", func(t *testing.T) {
		if err := b.c.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := b.c.SendMessage(ctx, msg(1, "x")); !errors.Is(err, client.ErrUnavailable) {
			t.Errorf("SendMessage after Close: %v, want ErrUnavailable", err)
		}
	})
}

type namedReader struct {
	*strings.Reader
	name string
}

func (r namedReader) Name() string { return r.name }

func TestSendBatch(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	ctx := testCtx(t)
	const n = 300
	invalid := map[int]error{3: tasks.ErrEmptyText, 150: tasks.ErrTextTooLong, 299: tasks.ErrMissingChat}
	msgs := make([]*tasks.SendMessage, n)
	for i := range msgs {
		msgs[i] = msg(int64(i+1), fmt.Sprintf("message %d", i))
	}
	msgs[3].Text = ""
	msgs[150].Text = strings.Repeat("x", 5000)
	msgs[299].ChatID = telego.ChatID{}

	receipts, errs := b.c.SendBatch(ctx, msgs, client.Bulk())
	if len(receipts) != n || len(errs) != n {
		t.Fatalf("got %d receipts, %d errors; want %d each", len(receipts), len(errs), n)
	}
	ids := map[string]bool{}
	for i := range n {
		if want, bad := invalid[i]; bad {
			if !errors.Is(errs[i], want) || receipts[i] != nil {
				t.Errorf("item %d: %v, %v; want %v", i, receipts[i], errs[i], want)
			}
			continue
		}
		if errs[i] != nil || receipts[i] == nil || receipts[i].Queue != tasks.QueueBulk {
			t.Fatalf("item %d: %+v, %v", i, receipts[i], errs[i])
		}
		ids[receipts[i].ID] = true
	}
	if len(ids) != n-len(invalid) {
		t.Errorf("%d distinct ids, want %d", len(ids), n-len(invalid))
	}
	if size, err := b.rdb.LLen(ctx, "asynq:{bulk}:pending").Result(); err != nil || size != int64(n-len(invalid)) {
		t.Errorf("bulk queue holds %d, %v; want %d", size, err, n-len(invalid))
	}
	// Order: the payload of receipt i is message i.
	for _, i := range []int{0, 4, 298} {
		st, err := b.c.Status(ctx, receipts[i].ID)
		if err != nil || st.Message.Text != msgs[i].Text {
			t.Errorf("receipt %d: %+v, %v; want message %q", i, st, err, msgs[i].Text)
		}
	}

	t.Run("shared key refused", func(t *testing.T) {
		_, errs := b.c.SendBatch(ctx, msgs[:2], client.IdempotencyKey("k"))
		for i, err := range errs {
			if !errors.Is(err, client.ErrInvalidOption) {
				t.Errorf("item %d: %v, want ErrInvalidOption", i, err)
			}
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, errs := b.c.SendBatch(cctx, msgs[5:10])
		for i, err := range errs {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("item %d: %v, want context.Canceled", i, err)
			}
		}
	})
	t.Run("empty", func(t *testing.T) {
		r, errs := b.c.SendBatch(ctx, nil)
		if len(r) != 0 || len(errs) != 0 {
			t.Errorf("got %v, %v", r, errs)
		}
	})
}

func TestConfigRedisConn(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	rc, err := config.NewRedisConn(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Redis: rc, Bots: []string{tasks.DefaultBot}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	r, err := c.SendMessage(ctx, msg(1, "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Status(ctx, r.ID); err != nil || st.State != client.StatePending {
		t.Fatalf("Status: %+v, %v", st, err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
