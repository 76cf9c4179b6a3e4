package handlers_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/internal/coalesce"
	"github.com/telequeue/telequeue/internal/ordering"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/ratelimit"
	"github.com/telequeue/telequeue/server"
	"github.com/telequeue/telequeue/tasks"
)

// edit is how a test queues a coalescing call.
type edit struct {
	noCoalesce bool // with tasks.HeaderNoCoalesce
	ordered    bool // as tasks.OrderedType, registered in its chat's order
}

// enqueueEdit queues a call as a producer does: the task, then (for a
// coalescing call) coalesce.Register with its id; an ordered call is first
// registered in its chat's order, as the client registers ordered
// messages. It returns the task's id.
func (e *callEnv) enqueueEdit(t *testing.T, method, params string, how edit) string {
	t.Helper()
	ctx := context.Background()
	c := &tasks.Call{Method: method, Params: json.RawMessage(params)}
	opts := []asynq.Option{asynq.Retention(time.Hour), asynq.MaxRetry(3)}
	task, err := tasks.NewCallTask(c, opts...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, params, err)
	}
	typ, headers := task.Type(), maps.Clone(task.Headers())
	if headers == nil {
		headers = map[string]string{}
	}
	if how.noCoalesce {
		headers[tasks.HeaderNoCoalesce] = "1"
	}
	if how.ordered {
		typ = tasks.OrderedType(typ)
	}
	id := "edit-" + strings.ToLower(rand.Text())
	opts = append(tasks.DefaultOptions(task.Type(), 0), append(opts, asynq.TaskID(id))...)
	var seq *ordering.Sequencer
	var order ordering.Order
	if how.ordered {
		key, err := tasks.ReadOrderKey(task.Payload())
		if err != nil {
			t.Fatal(err)
		}
		seq, order = ordering.New(e.rdb, e.inspector, ordering.Config{}), ordering.OrderOf(key)
		pos, err := seq.Register(ctx, order, id, tasks.QueueDefault)
		if err != nil {
			t.Fatal(err)
		}
		if pos > 0 {
			opts = append(opts, asynq.ProcessIn(seq.ParkDelay(pos)))
		}
	}
	if _, err := e.client.Enqueue(asynq.NewTaskWithHeaders(typ, task.Payload(), headers, opts...)); err != nil {
		t.Fatal(err)
	}
	if how.ordered {
		if err := seq.WakeIfHead(ctx, order, id, tasks.QueueDefault); err != nil {
			t.Fatal(err)
		}
	}
	if !how.noCoalesce {
		if err := coalesce.Register(ctx, e.rdb, c, id); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// paused runs queue's enqueues with the queue paused: every task of fn
// is queued before any runs.
func (e *callEnv) paused(t *testing.T, fn func()) {
	t.Helper()
	if err := e.inspector.PauseQueue(tasks.QueueDefault); err != nil {
		t.Fatal(err)
	}
	fn()
	if err := e.inspector.UnpauseQueue(tasks.QueueDefault); err != nil {
		t.Fatal(err)
	}
}

// sentMessage sends a text to chat and returns its message_id.
func (e *callEnv) sentMessage(t *testing.T, chat int64, text string) int64 {
	t.Helper()
	info := e.call(t, "sendMessage", fmt.Sprintf(`{"chat_id":%d,"text":%q}`, chat, text), nil)
	var r tasks.SendResult
	if err := json.Unmarshal(info.Result, &r); err != nil || info.State != asynq.TaskStateCompleted {
		t.Fatalf("sendMessage: %v, result %q", stateOf(info), info.Result)
	}
	return r.MessageID
}

// records returns the sandbox's records of method to chat.
func records(sb *sandbox.Sandbox, method, chat string) []sandbox.Received {
	var out []sandbox.Received
	for _, r := range sb.Messages() {
		if r.Method == method && r.ChatID == chat {
			out = append(out, r)
		}
	}
	return out
}

// streamText is the i-th text of a stream: each a little longer.
func streamText(i int) string { return "The answer" + strings.Repeat(".", i) + fmt.Sprint(i) }

// checkCoalesced asserts that of the edits ids (oldest first), only the
// newest reached Telegram: it completed as sent, every other one completed
// as superseded, none archived.
func (e *callEnv) checkCoalesced(t *testing.T, ids []string) {
	t.Helper()
	for i, id := range ids {
		info := e.final(t, tasks.QueueDefault, id)
		r := result(t, info)
		if newest := i == len(ids)-1; r.Superseded == newest {
			t.Errorf("edit %d of %d: result %+v; want superseded=%v", i+1, len(ids), r, !newest)
		}
	}
}

// TestEditsCoalesce: pending edits of one message collapse to the newest;
// Telegram gets that one only, the rest complete as superseded.
func TestEditsCoalesce(t *testing.T) {
	t.Parallel()
	e := setupCallsWith(t, sandbox.Config{}, 8)
	for i, n := range []int{2, 10, 300} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			chat := int64(6001 + i)
			mid := e.sentMessage(t, chat, "Thinking…")
			ids := make([]string, n)
			e.paused(t, func() {
				for k := range n {
					ids[k] = e.enqueueEdit(t, "editMessageText", fmt.Sprintf(`{"chat_id":%d,"message_id":%d,"text":%q}`, chat, mid, streamText(k)), edit{})
				}
			})
			e.checkCoalesced(t, ids)
			if got := records(e.sandbox, "editMessageText", fmt.Sprint(chat)); len(got) != 1 || got[0].Text != streamText(n-1) {
				t.Errorf("Telegram got %d edits (%+v); want 1, the newest", len(got), got)
			}
			if st, _ := e.sandbox.Message(testBotID, fmt.Sprint(chat), mid); st.Text != streamText(n-1) || st.Edits != 1 {
				t.Errorf("message after %d edits: %q, %d edits; want the newest, edited once", n, st.Text, st.Edits)
			}
		})
	}
}

// TestEditsCoalescePerTarget: edits of two messages, their text and their
// caption, interleaved, each keep their own newest; an edit that names
// its message by the task that sends it coalesces with the others of that
// task's message.
func TestEditsCoalescePerTarget(t *testing.T) {
	t.Parallel()
	e := setupCalls(t)
	const chat = 6101
	a, b := e.sentMessage(t, chat, "a"), e.sentMessage(t, chat, "b")
	photo := result(t, e.call(t, "sendPhoto", fmt.Sprintf(`{"chat_id":%d,"photo":"https://example.com/p.png","caption":"c"}`, chat), nil)).MessageIDs[0]
	var idsA, idsB, idsCap, idsRef []string
	var ref string
	e.paused(t, func() {
		ref = e.enqueueCall(t, "sendMessage", fmt.Sprintf(`{"chat_id":%d,"text":"Thinking…"}`, chat))
		for k := range 20 {
			idsA = append(idsA, e.enqueueEdit(t, "editMessageText", fmt.Sprintf(`{"chat_id":%d,"message_id":%d,"text":"a %d"}`, chat, a, k), edit{}))
			idsB = append(idsB, e.enqueueEdit(t, "editMessageText", fmt.Sprintf(`{"chat_id":%d,"message_id":%d,"text":"b %d"}`, chat, b, k), edit{}))
			idsCap = append(idsCap, e.enqueueEdit(t, "editMessageCaption", fmt.Sprintf(`{"chat_id":%d,"message_id":%d,"caption":"c %d"}`, chat, photo, k), edit{}))
			idsRef = append(idsRef, e.enqueueEdit(t, "editMessageText", fmt.Sprintf(`{"message_task_id":%q,"text":"ref %d"}`, ref, k), edit{}))
		}
	})
	for _, ids := range [][]string{idsA, idsB, idsCap, idsRef} {
		e.checkCoalesced(t, ids)
	}
	var sent tasks.SendResult
	_ = json.Unmarshal(e.final(t, tasks.QueueDefault, ref).Result, &sent)
	for _, tc := range []struct {
		id            int64
		text, caption string
	}{{a, "a 19", ""}, {b, "b 19", ""}, {photo, "", "c 19"}, {sent.MessageID, "ref 19", ""}} {
		st, _ := e.sandbox.Message(testBotID, fmt.Sprint(chat), tc.id)
		if st.Text != tc.text || st.Caption != tc.caption || st.Edits != 1 {
			t.Errorf("message %d: text %q caption %q, %d edits; want %q %q, edited once", tc.id, st.Text, st.Caption, st.Edits, tc.text, tc.caption)
		}
	}
}

// TestEditsOptOut: edits with tasks.HeaderNoCoalesce are each delivered;
// as ordered calls, in the order they were queued.
func TestEditsOptOut(t *testing.T) {
	t.Parallel()
	e := setupCalls(t)
	for i, ordered := range []bool{false, true} {
		t.Run(fmt.Sprintf("ordered=%v", ordered), func(t *testing.T) {
			chat := int64(6201 + i)
			mid := e.sentMessage(t, chat, "Thinking…")
			const n = 10
			ids := make([]string, n)
			e.paused(t, func() {
				for k := range n {
					ids[k] = e.enqueueEdit(t, "editMessageText", fmt.Sprintf(`{"chat_id":%d,"message_id":%d,"text":%q}`, chat, mid, streamText(k)), edit{noCoalesce: true, ordered: ordered})
				}
			})
			for k, id := range ids {
				if r := result(t, e.final(t, tasks.QueueDefault, id)); r.Superseded || r.NotModified {
					t.Errorf("edit %d: %+v; want delivered", k, r)
				}
			}
			got := records(e.sandbox, "editMessageText", fmt.Sprint(chat))
			if len(got) != n {
				t.Fatalf("Telegram got %d edits; want every one of %d", len(got), n)
			}
			if !ordered {
				return
			}
			for k, r := range got {
				if r.Text != streamText(k) {
					t.Errorf("edit %d reached Telegram as %q; want %q (queue order)", k, r.Text, streamText(k))
				}
			}
			if st, _ := e.sandbox.Message(testBotID, fmt.Sprint(chat), mid); st.Text != streamText(n-1) {
				t.Errorf("ordered edits end with %q; want the last queued", st.Text)
			}
		})
	}
}

// TestDraftsCoalescePerDraftID: pending drafts collapse to the newest per
// draft_id.
func TestDraftsCoalescePerDraftID(t *testing.T) {
	t.Parallel()
	e := setupCalls(t)
	const chat = 6301
	ids := map[int][]string{}
	e.paused(t, func() {
		for k := range 15 {
			for _, draft := range []int{1, 2} {
				ids[draft] = append(ids[draft], e.enqueueEdit(t, "sendMessageDraft", fmt.Sprintf(`{"chat_id":%d,"draft_id":%d,"text":"draft %d: %s"}`, chat, draft, draft, streamText(k)), edit{}))
			}
		}
	})
	for _, draft := range []int{1, 2} {
		e.checkCoalesced(t, ids[draft])
	}
	got := map[string]bool{}
	for _, r := range e.sandbox.Messages() {
		if r.Method == "sendMessageDraft" {
			got[fmt.Sprint(r.Params["text"])] = true
		}
	}
	want := map[string]bool{"draft 1: " + streamText(14): true, "draft 2: " + streamText(14): true}
	if !maps.Equal(got, want) {
		t.Errorf("Telegram got drafts %v; want only the newest of each draft_id %v", got, want)
	}
}

// TestStreamingEditsWhileChatBusy is the streaming reply in process: edits
// arrive at 30/s for 3 s while the chat allows 1 call a second. Waiting
// edits give way to newer ones, so Telegram sees about one edit a second,
// no 429, and the last edit's text; the last edit is not held back by the
// stale ones: it reaches Telegram within 1.5 s of the chat's first free
// slot after it was queued.
func TestStreamingEditsWhileChatBusy(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3 s stream; skipped with -short")
	}
	t.Parallel()
	e := setupCallsLimited(t, sandbox.Limits{Chat: 1}, ratelimit.Config{Chat: 1, Margin: 0.1})
	const chat = 6401
	mid := e.sentMessage(t, chat, "Thinking…")
	const n = 90
	ids := make([]string, n)
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	var lastAt time.Time
	for k := range n {
		<-tick.C
		ids[k] = e.enqueueEdit(t, "editMessageText", fmt.Sprintf(`{"chat_id":%d,"message_id":%d,"text":%q}`, chat, mid, streamText(k)), edit{})
		lastAt = time.Now()
	}
	last := e.final(t, tasks.QueueDefault, ids[n-1])
	superseded := 0
	for _, id := range ids {
		if result(t, e.final(t, tasks.QueueDefault, id)).Superseded {
			superseded++
		}
	}
	got := records(e.sandbox, "editMessageText", fmt.Sprint(chat))
	st := e.sandbox.Stats()
	if len(got) > 6 || len(got)+superseded != n || st.Violations != 0 || st.EarlyRetry != 0 {
		t.Errorf("%d edits offered: %d sent, %d superseded, %d violations, %d early retries; want about 4 sent, the rest superseded, no 429",
			n, len(got), superseded, st.Violations, st.EarlyRetry)
	}
	if len(got) == 0 || got[len(got)-1].Text != streamText(n-1) {
		t.Fatalf("Telegram's last edit is not the newest: %+v", got)
	}
	// The last edit goes at the chat's first free slot after it was
	// queued: the previous edit's time + 1 s (+ the margin), or at once.
	free := lastAt
	if len(got) > 1 {
		if next := got[len(got)-2].At.Add(time.Second); next.After(free) {
			free = next
		}
	}
	// A waiting edit sleeps to its slot, or, when 5 of a sender's edits
	// already sleep on chats, is rescheduled, and asynq keeps retry times
	// in whole seconds: up to a second more.
	d := got[len(got)-1].At.Sub(free)
	t.Logf("%d edits offered: %d sent, %d superseded; the last one %v after its enqueue, %v after the chat's first free slot",
		n, len(got), superseded, got[len(got)-1].At.Sub(lastAt).Round(time.Millisecond), d.Round(time.Millisecond))
	if d > 1500*time.Millisecond {
		t.Errorf("the last edit reached Telegram %v after the chat's first free slot (completed %v after its enqueue)", d, last.CompletedAt.Sub(lastAt))
	}
}

// setupCallsLimited is setupCallsWith with the sandbox enforcing lim and
// the worker a limiter of rl, 10 senders.
func setupCallsLimited(t *testing.T, lim sandbox.Limits, rl ratelimit.Config) *callEnv {
	t.Helper()
	rs := redistest.Start(t)
	e := &callEnv{rdb: rs.Client(t)}
	sb, url := startSandbox(t, sandbox.Config{Limits: lim})
	e.sandbox = sb
	limiter, err := ratelimit.New(e.rdb, rl)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	send, err := handlers.NewSendMessageHandler(handlers.Config{
		Bots: testBots(t, url, 5*time.Second), Redis: e.rdb, Logger: log, Limiter: limiter,
	})
	if err != nil {
		t.Fatal(err)
	}
	calls, err := handlers.NewCallHandler(send, nil)
	if err != nil {
		t.Fatal(err)
	}
	types, err := calls.Handlers(handlers.OrderedConfig{Redis: e.rdb, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	opt := asynq.RedisClientOpt{Addr: rs.Addr()}
	startServer(t, server.Config{Redis: opt, Concurrency: 10, SendMessage: send, Handlers: types, Logger: log})
	e.client, e.inspector = asynqClients(t, opt)
	return e
}
