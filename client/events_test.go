package client_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/workertest"
	"github.com/telequeue/telequeue/tasks"
	"github.com/telequeue/telequeue/telegramtest"
)

// TestEventsReportEveryOutcome runs the real worker wiring against the test
// Bot API and reads the outcome stream: a message and a two-part reply sent
// (with their message ids, and the idempotency key the message was queued
// with), a chat that blocked the bot, and a message archived once its
// retries ran out.
func TestEventsReportEveryOutcome(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	tg := telegramtest.NewServer()
	t.Cleanup(tg.Close)
	if err := tg.Fail(13, telegramtest.Fault{Code: 403}); err != nil {
		t.Fatal(err)
	}
	if err := tg.Fail(14, telegramtest.Fault{Code: 500}); err != nil {
		t.Fatal(err)
	}
	workertest.Start(t, map[string]string{
		"REDIS_URL": rs.URL(), "TELEGRAM_BOT_TOKEN": telegramtest.Token, "TELEGRAM_API_URL": tg.URL, "MAX_RETRY": "1",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: rs.Addr()}, Bots: []string{"default"}, MaxRetry: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The group exists before the first outcome, so that it sees them all.
	events := c.Events(ctx, client.EventsConfig{Group: "app", Consumer: "test", FromStart: true})

	msg := func(chat int64, text string) *tasks.SendMessage {
		return &tasks.SendMessage{ChatID: telego.ChatID{ID: chat}, Text: text}
	}
	sent, err := c.SendMessage(ctx, msg(42, "hello"), client.IdempotencyKey("order-1001"))
	if err != nil {
		t.Fatal(err)
	}
	reply, err := c.SendReply(ctx, telego.ChatID{ID: 43}, tasks.Texts("part one", "part two"))
	if err != nil {
		t.Fatal(err)
	}
	blocked, err := c.SendMessage(ctx, msg(13, "are you there?"))
	if err != nil {
		t.Fatal(err)
	}
	failing, err := c.SendMessage(ctx, msg(14, "into a broken server"))
	if err != nil {
		t.Fatal(err)
	}

	// A broadcast streams its blocked recipients (its sent ones are counted
	// in its status).
	bc, err := c.Broadcast(ctx, &tasks.SendMessage{Text: "news"}, []int64{42, 13, 43})
	if err != nil {
		t.Fatal(err)
	}

	got := map[string]*tasks.Event{}
	var recipients []*tasks.Event
	for e, err := range events {
		if err != nil {
			t.Fatal(err)
		}
		if e.BroadcastID != "" {
			recipients = append(recipients, e)
		} else {
			if got[e.TaskID] != nil {
				t.Errorf("two events for task %s: %+v and %+v", e.TaskID, got[e.TaskID], e)
			}
			got[e.TaskID] = e
		}
		if len(got) == 4 && len(recipients) == 1 {
			break
		}
	}
	if len(got) != 4 || len(recipients) != 1 {
		t.Fatalf("%d task events and %d recipient events before the deadline, want 4 and 1: %v %v", len(got), len(recipients), got, recipients)
	}
	if e := recipients[0]; e.BroadcastID != bc.ID || e.Outcome != tasks.OutcomeBlocked || e.Chat != "13" || e.ErrorCode != 403 {
		t.Errorf("broadcast recipient event %+v", e)
	}
	delivered := tg.Messages()
	idOf := func(chat int64, text string) int64 {
		for _, m := range delivered {
			if m.ChatID == chat && m.Text == text {
				return m.MessageID
			}
		}
		t.Fatalf("no message %q to %d", text, chat)
		return 0
	}
	if e := got[sent.ID]; e == nil || e.Outcome != tasks.OutcomeSent || e.IdempotencyKey != "order-1001" || e.Chat != "42" ||
		e.ChatID != 42 || !slices.Equal(e.MessageIDs, []int64{idOf(42, "hello")}) || e.Type != tasks.TypeSendMessage || e.Bot != "default" {
		t.Errorf("message event %+v", e)
	}
	if e := got[reply.ID]; e == nil || e.Outcome != tasks.OutcomeSent || e.Type != tasks.TypeSendMessages ||
		!slices.Equal(e.MessageIDs, []int64{idOf(43, "part one"), idOf(43, "part two")}) {
		t.Errorf("reply event %+v", e)
	}
	if e := got[blocked.ID]; e == nil || e.Outcome != tasks.OutcomeBlocked || e.ErrorCode != 403 || e.Chat != "13" || e.Description == "" {
		t.Errorf("blocked event %+v", e)
	}
	if e := got[failing.ID]; e == nil || e.Outcome != tasks.OutcomeArchived || e.ErrorCode != 500 || e.Chat != "14" {
		t.Errorf("archived event %+v", e)
	}
}

// TestDeadlineDropsStaleMessages: a message whose Deadline passed before a
// worker took it is dropped at once — archived with the reason, never sent,
// never retried — and reported as "dropped".
func TestDeadlineDropsStaleMessages(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	tg := telegramtest.NewServer()
	t.Cleanup(tg.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opt := asynq.RedisClientOpt{Addr: rs.Addr()}
	c, err := client.New(client.Config{Redis: opt, Bots: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	events := c.Events(ctx, client.EventsConfig{Group: "app", Consumer: "test", FromStart: true})
	deadline := time.Now().Add(300 * time.Millisecond)
	stale, err := c.SendMessage(ctx, &tasks.SendMessage{ChatID: telego.ChatID{ID: 42}, Text: "your code is 1234"},
		client.Deadline(deadline), client.IdempotencyKey("login-42"))
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := c.SendMessage(ctx, &tasks.SendMessage{ChatID: telego.ChatID{ID: 42}, Text: "still wanted"},
		client.Deadline(time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(deadline)) // no worker runs until the first deadline has passed
	workertest.Start(t, map[string]string{"REDIS_URL": rs.URL(), "TELEGRAM_BOT_TOKEN": telegramtest.Token, "TELEGRAM_API_URL": tg.URL})

	got := map[string]*tasks.Event{}
	for e, err := range events {
		if err != nil {
			t.Fatal(err)
		}
		got[e.TaskID] = e
		if len(got) == 2 {
			break
		}
	}
	if e := got[stale.ID]; e == nil || e.Outcome != tasks.OutcomeDropped || e.IdempotencyKey != "login-42" || e.Chat != "42" {
		t.Errorf("stale message event %+v", e)
	}
	if e := got[fresh.ID]; e == nil || e.Outcome != tasks.OutcomeSent {
		t.Errorf("fresh message event %+v", e)
	}
	st, err := c.Status(ctx, stale.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != client.StateArchived || st.Attempts != 0 || !strings.Contains(st.LastError, "deadline") {
		t.Errorf("stale message: state %s, %d failed attempts, last error %q; want archived at once with the reason", st.State, st.Attempts, st.LastError)
	}
	if msgs := tg.Messages(); len(msgs) != 1 || msgs[0].Text != "still wanted" {
		t.Errorf("delivered %v, want only the fresh message", msgs)
	}
}

// TestDeadlinePassingMidCall: a message whose deadline passes while its
// Bot API call is on the wire (the call is cut at the deadline) is dropped
// by that run, not retried to be dropped by the next.
func TestDeadlinePassingMidCall(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	tg := telegramtest.NewServer(telegramtest.WithLatency(3 * time.Second))
	t.Cleanup(tg.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: rs.Addr()}, Bots: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	events := c.Events(ctx, client.EventsConfig{Group: "app", Consumer: "test", FromStart: true})
	workertest.Start(t, map[string]string{"REDIS_URL": rs.URL(), "TELEGRAM_BOT_TOKEN": telegramtest.Token, "TELEGRAM_API_URL": tg.URL})
	r, err := c.SendMessage(ctx, &tasks.SendMessage{ChatID: telego.ChatID{ID: 42}, Text: "typing…"},
		client.Deadline(time.Now().Add(time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	for e, err := range events {
		if err != nil {
			t.Fatal(err)
		}
		if e.TaskID != r.ID {
			continue
		}
		if e.Outcome != tasks.OutcomeDropped {
			t.Errorf("event %+v, want dropped", e)
		}
		break
	}
	st, err := c.Status(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != client.StateArchived || st.Attempts != 0 || !strings.Contains(st.LastError, "deadline") {
		t.Errorf("state %s, %d failed attempts, last error %q; want archived by its first run with the reason", st.State, st.Attempts, st.LastError)
	}
	if n := len(tg.Calls()); n > 1 {
		t.Errorf("%d Bot API calls, want at most the one cut at the deadline", n)
	}
}
