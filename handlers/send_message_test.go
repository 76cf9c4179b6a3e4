package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/server"
	"github.com/telequeue/telequeue/tasks"
)

const testToken = "123456789:TESTTOKENtesttokenTESTTOKENtesttoke"

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	redis     *redistest.Server
	rdb       *redis.Client
	sandbox   *sandbox.Sandbox
	client    *asynq.Client
	inspector *asynq.Inspector
	logs      *syncBuffer
	sent      []*counter
}

// counter counts a server's successful sends.
type counter struct{ n atomic.Int64 }

func (c *counter) Sent(_ string, o handlers.Outcome, _ time.Duration) {
	if o == handlers.OutcomeSent {
		c.n.Add(1)
	}
}
func (c *counter) RateLimitWait(string, time.Duration, bool) {}
func (c *counter) Retry(string)                              {}

// setup starts a real redis-server, the Bot API sandbox and n handler
// servers sharing one queue.
func setup(t *testing.T, servers int, apiURL string) *env {
	t.Helper()
	e := &env{redis: redistest.Start(t), logs: &syncBuffer{}}
	e.rdb = e.redis.Client(t)
	sb, url := startSandbox(t, sandbox.Config{})
	e.sandbox = sb
	if apiURL == "" {
		apiURL = url
	}
	opt := asynq.RedisClientOpt{Addr: e.redis.Addr()}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for i := 0; i < servers; i++ {
		bots := testBots(t, apiURL, 2*time.Second)
		c := &counter{}
		e.sent = append(e.sent, c)
		h, err := handlers.NewSendMessageHandler(handlers.Config{Bots: bots, Redis: e.rdb, Observer: c, Logger: log.With("server", i)})
		if err != nil {
			t.Fatal(err)
		}
		startServer(t, server.Config{
			Redis: opt, Concurrency: 5, SendMessage: h, Logger: log.With("server", i), LogLevel: slog.LevelDebug,
		})
	}
	e.client, e.inspector = asynqClients(t, opt)
	return e
}

func (e *env) enqueue(t *testing.T, m *tasks.SendMessage) string {
	t.Helper()
	task, err := tasks.NewSendMessageTask(m, asynq.Retention(time.Hour), asynq.MaxRetry(3))
	if err != nil {
		t.Fatal(err)
	}
	info, err := e.client.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}
	return info.ID
}

// waitState polls the task until it reaches state or the test times out.
func (e *env) waitState(t *testing.T, id string, state asynq.TaskState, within time.Duration) *asynq.TaskInfo {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		info, err := e.inspector.GetTaskInfo(tasks.QueueDefault, id)
		if err == nil && info.State == state {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: state %v (err %v), want %v within %s", id, stateOf(info), err, state, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func stateOf(info *asynq.TaskInfo) string {
	if info == nil {
		return "unknown"
	}
	return fmt.Sprintf("%v (last error %q)", info.State, info.LastErr)
}

func msg(chat int64, text string) *tasks.SendMessage {
	return &tasks.SendMessage{ChatID: telego.ChatID{ID: chat}, Text: text}
}

func TestSendDeliversAllFields(t *testing.T) {
	t.Parallel()
	e := setup(t, 1, "")
	m := &tasks.SendMessage{
		ChatID:              telego.ChatID{ID: -1001234567890},
		MessageThreadID:     7,
		Text:                "<b>Order</b> shipped",
		ParseMode:           "HTML",
		DisableNotification: true,
		ProtectContent:      true,
		LinkPreviewOptions:  &telego.LinkPreviewOptions{IsDisabled: true},
		ReplyParameters:     &telego.ReplyParameters{MessageID: 5},
		ReplyMarkup:         json.RawMessage(`{"inline_keyboard":[[{"text":"Track","url":"https://example.com/t/1"}]]}`),
	}
	id := e.enqueue(t, m)
	info := e.waitState(t, id, asynq.TaskStateCompleted, 10*time.Second)

	var res tasks.SendResult
	if err := json.Unmarshal(info.Result, &res); err != nil || res.MessageID == 0 {
		t.Fatalf("result %s: %v", info.Result, err)
	}
	got := e.sandbox.Messages()
	if len(got) != 1 {
		t.Fatalf("sandbox received %d messages, want 1", len(got))
	}
	r := got[0]
	if r.ChatID != "-1001234567890" || r.Text != m.Text || r.ParseMode != "HTML" || r.MessageID != res.MessageID {
		t.Fatalf("received %+v, result %+v", r, res)
	}
	for _, field := range []string{"message_thread_id", "disable_notification", "protect_content", "link_preview_options", "reply_parameters", "reply_markup"} {
		if _, ok := r.Params[field]; !ok {
			t.Errorf("field %s not sent; got %v", field, r.Params)
		}
	}
	if !strings.Contains(fmt.Sprint(r.Params["reply_markup"]), "Track") {
		t.Errorf("reply_markup = %v", r.Params["reply_markup"])
	}
}

func TestErrorClasses(t *testing.T) {
	t.Parallel()
	e := setup(t, 1, "")
	type want struct {
		state     asynq.TaskState
		errSubstr string
		retried   int
		delivered int // messages the sandbox delivered for the chat
		attempts  int // requests the sandbox saw for the chat (faults included), 0 = don't check
	}
	tests := []struct {
		name string
		chat int64
		rule *sandbox.Rule
		want want
	}{
		{"blocked", 1001, &sandbox.Rule{Kind: sandbox.KindBlocked}, want{asynq.TaskStateArchived, "telegram 403: Forbidden: bot was blocked by the user", 0, 0, 1}},
		{"deactivated", 1002, &sandbox.Rule{Kind: sandbox.KindDeactivated}, want{asynq.TaskStateArchived, "Forbidden: user is deactivated", 0, 0, 1}},
		{"chat not found", 1003, &sandbox.Rule{Kind: sandbox.KindChatNotFound}, want{asynq.TaskStateArchived, "telegram 400: Bad Request: chat not found", 0, 0, 1}},
		{"unauthorized", 1004, &sandbox.Rule{Kind: sandbox.KindUnauthorized}, want{asynq.TaskStateArchived, "telegram 401", 0, 0, 1}},
		{"server error then ok", 1005, &sandbox.Rule{Kind: sandbox.KindServerError, Times: 1}, want{asynq.TaskStateCompleted, "", 1, 1, 0}},
		{"bad gateway then ok", 1006, &sandbox.Rule{Kind: sandbox.KindBadGateway, Times: 1}, want{asynq.TaskStateCompleted, "", 1, 1, 0}},
		{"429 twice then ok", 1007, &sandbox.Rule{Kind: sandbox.KindTooManyRequests, RetryAfter: 1, Times: 2}, want{asynq.TaskStateCompleted, "", 0, 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.rule != nil {
				r := *tt.rule
				r.Chat = fmt.Sprint(tt.chat)
				e.sandbox.AddRule(r)
			}
			start := time.Now()
			id := e.enqueue(t, msg(tt.chat, tt.name))
			info := e.waitState(t, id, tt.want.state, 30*time.Second)
			if info.Retried != tt.want.retried {
				t.Errorf("retried = %d, want %d", info.Retried, tt.want.retried)
			}
			if tt.want.errSubstr != "" && !strings.Contains(info.LastErr, tt.want.errSubstr) {
				t.Errorf("last error %q, want it to contain %q", info.LastErr, tt.want.errSubstr)
			}
			delivered := 0
			for _, r := range e.sandbox.Messages() {
				if r.ChatID == fmt.Sprint(tt.chat) {
					delivered++
					if tt.rule != nil && tt.rule.Kind == sandbox.KindTooManyRequests && r.At.Sub(start) < 2*time.Second {
						t.Errorf("delivered %s after two 429s with retry_after 1s: too early", r.At.Sub(start))
					}
				}
			}
			if delivered != tt.want.delivered {
				t.Errorf("delivered %d, want %d", delivered, tt.want.delivered)
			}
		})
	}
	t.Run("no early retry after 429", func(t *testing.T) {
		if st := e.sandbox.Stats(); st.EarlyRetry != 0 {
			t.Fatalf("early retries: %d", st.EarlyRetry)
		}
	})
}

func TestPermanentErrorsAreAttemptedOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, 1, "")
	for _, kind := range []sandbox.FaultKind{sandbox.KindBlocked, sandbox.KindChatNotFound} {
		chat := int64(2000 + len(kind))
		e.sandbox.AddRule(sandbox.Rule{Chat: fmt.Sprint(chat), Kind: kind})
		id := e.enqueue(t, msg(chat, "x"))
		info := e.waitState(t, id, asynq.TaskStateArchived, 10*time.Second)
		// Archived is final, and with the queue drained no other run of
		// the task can be under way.
		waitDrained(t, e.inspector, tasks.QueueDefault, 10*time.Second)
		st := e.sandbox.Stats()
		if n := st.Faults[kind]; n != 1 || info.Retried != 0 {
			t.Fatalf("%s: answered %d times, retried %d; want exactly 1 attempt", kind, n, info.Retried)
		}
	}
}

func TestMigratedGroupGetsMessageAtNewID(t *testing.T) {
	t.Parallel()
	e := setup(t, 1, "")
	e.sandbox.AddRule(sandbox.Rule{Chat: "-4242", Kind: sandbox.KindMigrate, MigrateTo: -1009999000001})
	id := e.enqueue(t, msg(-4242, "after upgrade"))
	info := e.waitState(t, id, asynq.TaskStateCompleted, 10*time.Second)
	var res tasks.SendResult
	if err := json.Unmarshal(info.Result, &res); err != nil {
		t.Fatal(err)
	}
	if res.ChatID != -1009999000001 || res.MigratedFrom != -4242 {
		t.Fatalf("result %+v", res)
	}
	got := e.sandbox.Messages()
	if len(got) != 1 || got[0].ChatID != "-1009999000001" {
		t.Fatalf("received %+v", got)
	}
}

func TestUnknownBotAndBadPayloadAreArchived(t *testing.T) {
	t.Parallel()
	e := setup(t, 1, "")
	id := e.enqueue(t, &tasks.SendMessage{Bot: "promo", ChatID: telego.ChatID{ID: 1}, Text: "x"})
	info := e.waitState(t, id, asynq.TaskStateArchived, 10*time.Second)
	if !strings.Contains(info.LastErr, `unknown bot "promo"`) {
		t.Fatalf("last error %q", info.LastErr)
	}
	for i, payload := range []string{`not json`, `{"chat_id":1,"text":""}`, `{"chat_id":1,"text":"x","extra":1}`, "{\"chat_id\":1,\"text\":\"\xff\"}"} {
		ti, err := e.client.Enqueue(asynq.NewTask(tasks.TypeSendMessage, []byte(payload)), asynq.MaxRetry(3), asynq.Retention(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		info := e.waitState(t, ti.ID, asynq.TaskStateArchived, 10*time.Second)
		if !strings.Contains(info.LastErr, "invalid payload") {
			t.Fatalf("payload %d: last error %q", i, info.LastErr)
		}
	}
	// A payload from a newer version is retried, for an upgraded worker.
	ti, err := e.client.Enqueue(asynq.NewTask(tasks.TypeSendMessage, []byte(`{"v":9,"chat_id":1,"text":"x","new_field":1}`)),
		asynq.MaxRetry(3), asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	info = e.waitState(t, ti.ID, asynq.TaskStateRetry, 10*time.Second)
	if !strings.Contains(info.LastErr, "newer version: version 9") {
		t.Fatalf("newer payload: last error %q", info.LastErr)
	}
	if n := e.sandbox.Count(); n != 0 {
		t.Fatalf("sandbox received %d messages", n)
	}
}

func TestNetworkErrorsDoNotLeakToken(t *testing.T) {
	t.Parallel()
	// Nothing listens on this port: every call fails at dial.
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	e := setup(t, 1, fmt.Sprintf("http://127.0.0.1:%d", port))
	id := e.enqueue(t, msg(77, "x"))
	deadline := time.Now().Add(10 * time.Second)
	var info *asynq.TaskInfo
	for {
		info, err = e.inspector.GetTaskInfo(tasks.QueueDefault, id)
		if err == nil && info.LastErr != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failure recorded: %v %v", stateOf(info), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if info.State != asynq.TaskStateRetry || !strings.Contains(info.LastErr, "telegram: network error") {
		t.Fatalf("state %v, last error %q", info.State, info.LastErr)
	}
	assertNoToken(t, e)
}

func TestSentMarkerPreventsSecondSend(t *testing.T) {
	t.Parallel()
	e := setup(t, 1, "")
	task, err := tasks.NewSendMessageTask(msg(88, "once"), asynq.TaskID("marked-task"), asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// As if an earlier run delivered it and died before asynq recorded it.
	if err := e.rdb.Set(context.Background(), keys.Sent("marked-task"), `{"message_id":7,"chat_id":88}`, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Enqueue(task); err != nil {
		t.Fatal(err)
	}
	info := e.waitState(t, "marked-task", asynq.TaskStateCompleted, 10*time.Second)
	if string(info.Result) != `{"message_id":7,"chat_id":88}` {
		t.Fatalf("result %s", info.Result)
	}
	if n := e.sandbox.Count(); n != 0 {
		t.Fatalf("sent %d times, want 0", n)
	}
	// A normal send writes the marker.
	id := e.enqueue(t, msg(89, "marker"))
	e.waitState(t, id, asynq.TaskStateCompleted, 10*time.Second)
	if v, err := e.rdb.Get(context.Background(), keys.Sent(id)).Result(); err != nil || !strings.Contains(v, `"message_id"`) {
		t.Fatalf("marker %q, %v", v, err)
	}
}

func TestTwoServersShareOneQueue(t *testing.T) {
	t.Parallel()
	e := setup(t, 2, "")
	const n = 300
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.enqueue(t, msg(int64(10000+i), fmt.Sprintf("m%d", i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.sandbox.WaitFor(ctx, n); err != nil {
		t.Fatalf("delivered %d of %d: %v", e.sandbox.Count(), n, err)
	}
	seen := map[string]int{}
	for _, r := range e.sandbox.Messages() {
		seen[r.Text]++
	}
	for i := 0; i < n; i++ {
		if c := seen[fmt.Sprintf("m%d", i)]; c != 1 {
			t.Fatalf("m%d delivered %d times", i, c)
		}
	}
	for i, c := range e.sent {
		if c.n.Load() == 0 {
			t.Fatalf("server %d sent nothing; counts %d and %d", i, e.sent[0].n.Load(), e.sent[1].n.Load())
		}
	}
	assertNoToken(t, e)
}

// assertNoToken scans every Redis key and value and the logs for the token.
func assertNoToken(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	secret := strings.SplitN(testToken, ":", 2)[1]
	keys, err := e.rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, secret) {
			t.Fatalf("token in key %q", k)
		}
		if v := valueOf(ctx, t, e.rdb, k); strings.Contains(v, secret) {
			t.Fatalf("token in the value of %q", k)
		}
	}
	if strings.Contains(e.logs.String(), secret) {
		t.Fatal("token in the logs")
	}
}

// valueOf renders a key's value as text, whatever its type.
func valueOf(ctx context.Context, t *testing.T, rdb *redis.Client, key string) string {
	t.Helper()
	typ, err := rdb.Type(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	var v any
	switch typ {
	case "string":
		v, err = rdb.Get(ctx, key).Result()
	case "hash":
		v, err = rdb.HGetAll(ctx, key).Result()
	case "list":
		v, err = rdb.LRange(ctx, key, 0, -1).Result()
	case "set":
		v, err = rdb.SMembers(ctx, key).Result()
	case "zset":
		v, err = rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
	case "none":
		return ""
	default:
		t.Fatalf("key %s has type %s", key, typ)
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	return fmt.Sprint(v)
}
