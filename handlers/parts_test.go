package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
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

// hookSender calls before ahead of each send and after behind it.
type hookSender struct {
	handlers.Sender
	before func(p *telego.SendMessageParams)
	after  func(p *telego.SendMessageParams, err error)
}

func (h hookSender) SendMessage(ctx context.Context, p *telego.SendMessageParams) (*telego.Message, error) {
	if h.before != nil {
		h.before(p)
	}
	m, err := h.Sender.SendMessage(ctx, p)
	if h.after != nil {
		h.after(p, err)
	}
	return m, err
}

// flakyNet is a dialer whose connections fail while down is set, so that a
// go-redis client built on it sees Redis go away and come back.
type flakyNet struct{ down atomic.Bool }

func (f *flakyNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if f.down.Load() {
		return nil, errors.New("dial: connection refused (test outage)")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return flakyConn{Conn: c, f: f}, nil
}

type flakyConn struct {
	net.Conn
	f *flakyNet
}

func (c flakyConn) Write(b []byte) (int, error) {
	if c.f.down.Load() {
		_ = c.Conn.Close()
		return 0, errors.New("write: broken pipe (test outage)")
	}
	return c.Conn.Write(b)
}

// replyEnv is a redis-server, the sandbox and handler servers with the
// multi-part and ordered handlers.
type replyEnv struct {
	*env
	opt asynq.RedisClientOpt
}

type replyOptions struct {
	servers int
	hook    func(s handlers.Sender) handlers.Sender
	// handlerRedis, if set, is the Redis client of the handlers (markers,
	// progress, orders); asynq's servers always use their own.
	handlerRedis func(addr string) redis.UniversalClient
	ordered      handlers.OrderedConfig
}

func setupReplies(t *testing.T, o replyOptions) *replyEnv {
	t.Helper()
	e := &env{redis: redistest.Start(t), logs: &syncBuffer{}}
	e.rdb = e.redis.Client(t)
	sb, url := startSandbox(t, sandbox.Config{})
	e.sandbox = sb
	opt := asynq.RedisClientOpt{Addr: e.redis.Addr()}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var hr redis.UniversalClient = e.rdb
	if o.handlerRedis != nil {
		hr = o.handlerRedis(e.redis.Addr())
		t.Cleanup(func() { _ = hr.Close() })
	}
	for i := range max(o.servers, 1) {
		bots := testBots(t, url, 2*time.Second)
		if o.hook != nil {
			bots["default"] = o.hook(bots["default"])
		}
		c := &counter{}
		e.sent = append(e.sent, c)
		h, err := handlers.NewSendMessageHandler(handlers.Config{Bots: bots, Redis: hr, Observer: c, Logger: log.With("server", i)})
		if err != nil {
			t.Fatal(err)
		}
		ocfg := o.ordered
		ocfg.Redis, ocfg.Logger = hr, log.With("server", i)
		more, err := handlers.TaskHandlers(h, ocfg)
		if err != nil {
			t.Fatal(err)
		}
		startServer(t, server.Config{
			Redis: opt, Concurrency: 5, SendMessage: h, Handlers: more, Logger: log.With("server", i), LogLevel: slog.LevelDebug,
		})
	}
	e.client, e.inspector = asynqClients(t, opt)
	return &replyEnv{env: e, opt: opt}
}

// reply enqueues a reply of n parts "part 1/n" … to chat.
func (e *replyEnv) reply(t *testing.T, chat int64, n int, opts ...asynq.Option) string {
	t.Helper()
	r := &tasks.SendMessages{ChatID: telego.ChatID{ID: chat}}
	for i := range n {
		r.Parts = append(r.Parts, tasks.SendMessage{Text: fmt.Sprintf("part %d/%d", i+1, n)})
	}
	task, err := tasks.NewSendMessagesTask(r, append([]asynq.Option{asynq.Retention(time.Hour), asynq.MaxRetry(5)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	info, err := e.client.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}
	return info.ID
}

// texts returns the texts the sandbox delivered, in delivery order.
func (e *replyEnv) texts() []string {
	var out []string
	for _, m := range e.sandbox.Messages() {
		out = append(out, m.Text)
	}
	return out
}

func wantTexts(n int, repeat ...int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("part %d/%d", i, n))
		for _, r := range repeat {
			if r == i {
				out = append(out, fmt.Sprintf("part %d/%d", i, n))
			}
		}
	}
	return out
}

func (e *replyEnv) result(t *testing.T, id string) tasks.SendMessagesResult {
	t.Helper()
	info := e.waitState(t, id, asynq.TaskStateCompleted, 20*time.Second)
	var res tasks.SendMessagesResult
	if err := json.Unmarshal(info.Result, &res); err != nil {
		t.Fatalf("result %s: %v", info.Result, err)
	}
	return res
}

func TestSendMessagesDeliversPartsInOrder(t *testing.T) {
	e := setupReplies(t, replyOptions{servers: 2})
	id := e.reply(t, 42, 5)
	res := e.result(t, id)
	if got := e.texts(); strings.Join(got, "|") != strings.Join(wantTexts(5), "|") {
		t.Fatalf("delivered %q", got)
	}
	if len(res.MessageIDs) != 5 || res.MessageID != res.MessageIDs[0] || len(res.Parts) != 5 {
		t.Fatalf("result %+v", res)
	}
	for i := 1; i < 5; i++ {
		if res.MessageIDs[i] <= res.MessageIDs[i-1] {
			t.Errorf("message_ids not increasing: %v", res.MessageIDs)
		}
	}
	ctx := context.Background()
	if n := e.rdb.Exists(ctx, keys.Parts(id)).Val(); n != 0 {
		t.Error("progress not deleted after the last part")
	}
	if n := e.rdb.Exists(ctx, keys.Sent(id)).Val(); n != 1 {
		t.Error("no sent marker for the whole reply")
	}
}

// TestSendMessagesResumesAfter5xx: part 3 of 5 fails with a 500; the retry
// sends parts 3 to 5 and never parts 1 and 2 again.
func TestSendMessagesResumesAfter5xx(t *testing.T) {
	var e *replyEnv
	var once sync.Once
	e = setupReplies(t, replyOptions{hook: func(s handlers.Sender) handlers.Sender {
		return hookSender{Sender: s, before: func(p *telego.SendMessageParams) {
			if p.Text == "part 3/5" {
				once.Do(func() { e.sandbox.AddRule(sandbox.Rule{Chat: "42", Kind: sandbox.KindServerError, Times: 1}) })
			}
		}}
	}})
	id := e.reply(t, 42, 5)
	res := e.result(t, id)
	if got := e.texts(); strings.Join(got, "|") != strings.Join(wantTexts(5), "|") {
		t.Fatalf("delivered %q, want each part once in order", got)
	}
	if st := e.sandbox.Stats(); st.Requests != 6 || st.Faults[sandbox.KindServerError] != 1 {
		t.Errorf("requests %d (want 6: part 3 twice), faults %v", st.Requests, st.Faults)
	}
	info, _ := e.inspector.GetTaskInfo(tasks.QueueDefault, id)
	if info.Retried != 1 || !strings.Contains(info.LastErr, "part 3 of 5: telegram: server error 500") {
		t.Errorf("retried %d, last error %q", info.Retried, info.LastErr)
	}
	if len(res.MessageIDs) != 5 {
		t.Errorf("result %+v", res)
	}
}

// TestSendMessagesResumesAfter429: a 429 on part 2 reschedules the task
// without counting a failure; it resumes at part 2.
func TestSendMessagesResumesAfter429(t *testing.T) {
	var e *replyEnv
	var once sync.Once
	e = setupReplies(t, replyOptions{hook: func(s handlers.Sender) handlers.Sender {
		return hookSender{Sender: s, before: func(p *telego.SendMessageParams) {
			if p.Text == "part 2/3" {
				once.Do(func() {
					e.sandbox.AddRule(sandbox.Rule{Chat: "42", Kind: sandbox.KindTooManyRequests, RetryAfter: 1, Times: 1})
				})
			}
		}}
	}})
	id := e.reply(t, 42, 3)
	e.result(t, id)
	if got := e.texts(); strings.Join(got, "|") != strings.Join(wantTexts(3), "|") {
		t.Fatalf("delivered %q", got)
	}
	if info, _ := e.inspector.GetTaskInfo(tasks.QueueDefault, id); info.Retried != 0 {
		t.Errorf("a 429 counted as a failure: retried %d", info.Retried)
	}
	if st := e.sandbox.Stats(); st.EarlyRetry != 0 {
		t.Errorf("%d requests came back before retry_after ran out", st.EarlyRetry)
	}
}

// TestSendMessagesReplyLost: Telegram delivers part 3 but the reply is lost
// (drop_after_deliver). Nothing can tell that part 3 arrived, so the retry
// sends it again (at-least-once, like a single message); parts 1 and 2 are
// not sent again, and nothing is reordered: the duplicate follows the
// original directly.
func TestSendMessagesReplyLost(t *testing.T) {
	var e *replyEnv
	var once sync.Once
	e = setupReplies(t, replyOptions{hook: func(s handlers.Sender) handlers.Sender {
		return hookSender{Sender: s, before: func(p *telego.SendMessageParams) {
			if p.Text == "part 3/5" {
				once.Do(func() { e.sandbox.AddRule(sandbox.Rule{Chat: "42", Kind: sandbox.KindDropAfterDeliver, Times: 1}) })
			}
		}}
	}})
	id := e.reply(t, 42, 5)
	e.result(t, id)
	if got := e.texts(); strings.Join(got, "|") != strings.Join(wantTexts(5, 3), "|") {
		t.Fatalf("delivered %q, want parts 1-5 with part 3 twice in a row", got)
	}
}

// TestSendMessagesPartConfirmedWhileRedisIsDown: Redis becomes unreachable
// for the handlers right after Telegram confirms part 2. The handler keeps
// trying to record part 2 until Redis is back; part 3 then fails with a 500,
// and the retry resumes at part 3: part 2 is not sent again.
func TestSendMessagesPartConfirmedWhileRedisIsDown(t *testing.T) {
	var (
		e    *replyEnv
		net  flakyNet
		once sync.Once
		bad  sync.Once
	)
	e = setupReplies(t, replyOptions{
		handlerRedis: func(addr string) redis.UniversalClient {
			return redis.NewClient(&redis.Options{Addr: addr, Dialer: net.dial, MaxRetries: 1})
		},
		hook: func(s handlers.Sender) handlers.Sender {
			return hookSender{Sender: s,
				before: func(p *telego.SendMessageParams) {
					if p.Text == "part 3/4" {
						bad.Do(func() { e.sandbox.AddRule(sandbox.Rule{Chat: "42", Kind: sandbox.KindServerError, Times: 1}) })
					}
				},
				after: func(p *telego.SendMessageParams, err error) {
					if p.Text == "part 2/4" && err == nil {
						once.Do(func() {
							net.down.Store(true)
							time.AfterFunc(1500*time.Millisecond, func() { net.down.Store(false) })
						})
					}
				}}
		}})
	id := e.reply(t, 42, 4)
	e.result(t, id)
	if got := e.texts(); strings.Join(got, "|") != strings.Join(wantTexts(4), "|") {
		t.Fatalf("delivered %q, want each part once", got)
	}
	if !strings.Contains(e.logs.String(), "reply progress written after retries") {
		t.Error("the outage did not hit the progress write; the test proves nothing")
	}
}

// TestSendMessagesPermanentFailure: a 403 on part 3 archives the reply with
// the part in the reason; parts 1 and 2 stay delivered, 4 and 5 are not sent.
func TestSendMessagesPermanentFailure(t *testing.T) {
	var e *replyEnv
	e = setupReplies(t, replyOptions{hook: func(s handlers.Sender) handlers.Sender {
		return hookSender{Sender: s, before: func(p *telego.SendMessageParams) {
			if p.Text == "part 3/5" {
				e.sandbox.AddRule(sandbox.Rule{Chat: "42", Kind: sandbox.KindBlocked, Times: 1})
			}
		}}
	}})
	id := e.reply(t, 42, 5)
	info := e.waitState(t, id, asynq.TaskStateArchived, 20*time.Second)
	if want := "part 3 of 5: telegram 403: Forbidden: bot was blocked by the user"; !strings.HasPrefix(info.LastErr, want) {
		t.Errorf("last error %q, want %q…", info.LastErr, want)
	}
	if got := e.texts(); strings.Join(got, "|") != "part 1/5|part 2/5" {
		t.Errorf("delivered %q", got)
	}
}

func TestSendMessagesPayloadValidation(t *testing.T) {
	long := strings.Repeat("a", tasks.MaxTextLength+1)
	tests := []struct {
		name  string
		r     tasks.SendMessages
		field string
		err   error
	}{
		{"no parts", tasks.SendMessages{ChatID: telego.ChatID{ID: 1}}, "parts", tasks.ErrNoParts},
		{"too many", tasks.SendMessages{ChatID: telego.ChatID{ID: 1}, Parts: make([]tasks.SendMessage, tasks.MaxParts+1)}, "parts", tasks.ErrTooManyParts},
		{"part too long", tasks.SendMessages{ChatID: telego.ChatID{ID: 1}, Parts: []tasks.SendMessage{{Text: "ok"}, {Text: long}}}, "parts[1].text", tasks.ErrTextTooLong},
		{"part to another chat", tasks.SendMessages{ChatID: telego.ChatID{ID: 1}, Parts: []tasks.SendMessage{{Text: "x", ChatID: telego.ChatID{ID: 2}}}}, "parts[0].chat_id", tasks.ErrInvalidChat},
		{"part by another bot", tasks.SendMessages{ChatID: telego.ChatID{ID: 1}, Parts: []tasks.SendMessage{{Text: "x", Bot: "other"}}}, "parts[0].bot", tasks.ErrInvalidBot},
		{"no chat", tasks.SendMessages{Parts: []tasks.SendMessage{{Text: "x"}}}, "chat_id", tasks.ErrMissingChat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tasks.NewSendMessagesTask(&tt.r)
			var ve *tasks.ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field || !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want field %s wrapping %v", err, tt.field, tt.err)
			}
		})
	}
	// A payload round-trips, each part carrying the reply's bot and chat.
	task, err := tasks.NewSendMessagesTask(&tasks.SendMessages{Bot: "alerts", ChatID: telego.ChatID{Username: "@news"}, Parts: []tasks.SendMessage{{Text: "a"}, {Text: "<b>b</b>", ParseMode: "HTML"}}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := tasks.ParseSendMessages(task.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if r.Parts[1].Bot != "alerts" || r.Parts[1].ChatID.Username != "@news" || r.Parts[1].ParseMode != "HTML" {
		t.Errorf("parts %+v", r.Parts)
	}
	if _, err := tasks.ParseSendMessages([]byte(`{"chat_id":1,"parts":[{"text":"a","colour":"red"}]}`)); err == nil {
		t.Error("unknown field in a part accepted")
	}
}

// TestPayloadWithInvalidUTF8IsArchived: a payload of any send type with a
// byte that is not UTF-8 is archived at once and nothing is sent (the JSON
// decoder would otherwise send U+FFFD in its place).
func TestPayloadWithInvalidUTF8IsArchived(t *testing.T) {
	e := setupReplies(t, replyOptions{})
	tests := []struct {
		name, typ, payload string
	}{
		{"multi-part", tasks.TypeSendMessages, "{\"chat_id\":42,\"parts\":[{\"text\":\"ok\"},{\"text\":\"bad \xff\"}]}"},
		{"ordered multi-part", tasks.TypeSendMessagesOrdered, "{\"chat_id\":43,\"parts\":[{\"text\":\"bad \xff\"}]}"},
		{"message", tasks.TypeSendMessage, "{\"chat_id\":44,\"text\":\"bad \xff\"}"},
		{"ordered message", tasks.TypeSendMessageOrdered, "{\"chat_id\":45,\"text\":\"bad \xff\"}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := e.client.Enqueue(asynq.NewTask(tt.typ, []byte(tt.payload)), asynq.MaxRetry(3), asynq.Retention(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			info = e.waitState(t, info.ID, asynq.TaskStateArchived, 10*time.Second)
			if info.Retried != 0 || !strings.HasPrefix(info.LastErr, "invalid payload: ") || !strings.Contains(info.LastErr, "UTF-8") {
				t.Errorf("retried %d, last error %q", info.Retried, info.LastErr)
			}
		})
	}
	// Each task was archived before any send: nothing can arrive later.
	if got := e.texts(); len(got) != 0 {
		t.Errorf("delivered %q", got)
	}
}
