package handlers_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/internal/ordering"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/tasks"
)

// Short waits for the tests: a parked task looks at its order after 1 s per
// position, a registered task without a task is skipped after 1 s.
var fastOrders = handlers.OrderedConfig{ParkBase: time.Second, ParkMax: 3 * time.Second, Grace: time.Second}

// enqueueOrdered queues an ordered message the way the client does
// (register, enqueue parked unless head, wake if it became the head), with
// the tests' short park delays.
func (e *replyEnv) enqueueOrdered(t *testing.T, chat int64, text string) string {
	t.Helper()
	ctx := context.Background()
	seq := ordering.New(e.rdb, e.inspector, ordering.Config{ParkBase: fastOrders.ParkBase, ParkMax: fastOrders.ParkMax, Grace: fastOrders.Grace})
	m := &tasks.SendMessage{ChatID: telego.ChatID{ID: chat}, Text: text}
	id := fmt.Sprintf("t-%d-%s", chat, strings.ReplaceAll(text, " ", "-"))
	task, err := tasks.NewOrderedSendMessageTask(m, asynq.TaskID(id), asynq.Retention(time.Hour), asynq.MaxRetry(20))
	if err != nil {
		t.Fatal(err)
	}
	order := ordering.OrderOf(tasks.OrderKeyOf("", m.ChatID.String()))
	pos, err := seq.Register(ctx, order, id, tasks.QueueDefault)
	if err != nil {
		t.Fatal(err)
	}
	var opts []asynq.Option
	if pos > 0 {
		opts = append(opts, asynq.ProcessIn(seq.ParkDelay(pos)))
	}
	if _, err := e.client.Enqueue(task, opts...); err != nil {
		t.Fatal(err)
	}
	if pos > 0 {
		if err := seq.WakeIfHead(ctx, order, id, tasks.QueueDefault); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// waitTexts waits until the sandbox has n messages and returns their texts.
// waitParked waits until ordered task id has been parked behind its
// order's head (an event, not a wait hoping it happened).
func (e *replyEnv) waitParked(t *testing.T, id string, within time.Duration) *asynq.TaskInfo {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		info, err := e.inspector.GetTaskInfo(tasks.QueueDefault, id)
		if err == nil && info.State == asynq.TaskStateRetry && ordering.IsParked(info.LastErr) {
			return info
		}
		if err == nil && (info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived) {
			t.Fatalf("task %s %s instead of waiting for its turn", id, info.State)
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s not parked within %s: %+v (err %v)", id, within, info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *replyEnv) waitTexts(t *testing.T, n int, within time.Duration) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := e.sandbox.WaitFor(ctx, n); err != nil {
		t.Fatalf("delivered %q, want %d messages: %v", e.texts(), n, err)
	}
	return e.texts()
}

// failText makes every send of text fail with a 500 until stop is called.
func failText(e **replyEnv, text string) (hook func(handlers.Sender) handlers.Sender, stop func()) {
	var (
		mu      sync.Mutex
		stopped bool
	)
	hook = func(s handlers.Sender) handlers.Sender {
		return hookSender{Sender: s, before: func(p *telego.SendMessageParams) {
			mu.Lock()
			defer mu.Unlock()
			if p.Text == text && !stopped {
				(*e).sandbox.AddRule(sandbox.Rule{Chat: p.ChatID.String(), Kind: sandbox.KindServerError, Times: 1})
			}
		}}
	}
	return hook, func() { mu.Lock(); stopped = true; mu.Unlock() }
}

// TestOrderedThroughClient: messages queued with client.Ordered by two
// clients into two chats arrive in order in each chat across three servers,
// handed over by wake-ups rather than park delays.
func TestOrderedThroughClient(t *testing.T) {
	e := setupReplies(t, replyOptions{servers: 3})
	clients := make([]*client.Client, 2)
	for i := range clients {
		c, err := client.New(client.Config{Redis: e.opt, Bots: []string{tasks.DefaultBot}, Retention: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		clients[i] = c
	}
	const n = 25
	start := time.Now()
	var wg sync.WaitGroup
	for _, chat := range []int64{7, -8} {
		wg.Go(func() {
			for k := range n {
				m := &tasks.SendMessage{ChatID: telego.ChatID{ID: chat}, Text: fmt.Sprintf("%d:%02d", chat, k)}
				if _, err := clients[k%2].SendMessage(context.Background(), m, client.Ordered()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	e.waitTexts(t, 2*n, 30*time.Second)
	took := time.Since(start)
	per := map[string][]string{}
	for _, m := range e.sandbox.Messages() {
		per[m.ChatID] = append(per[m.ChatID], m.Text)
	}
	for chat, texts := range per {
		for k, text := range texts {
			if want := fmt.Sprintf("%s:%02d", chat, k); text != want {
				t.Fatalf("chat %s: message %d is %q, want %q (all: %q)", chat, k, text, want, texts)
			}
		}
	}
	// Without wake-ups every message would wait for its 15 s park delay.
	if took > 10*time.Second {
		t.Errorf("2×%d ordered messages took %s", n, took)
	}
	t.Logf("2 chats × %d ordered messages, 3 servers: %s (%.0f ms per message per chat)", n, took.Round(time.Millisecond), float64(took.Milliseconds())/n)
}

// TestOrderedPermanentFailureHandsOver: the head fails for good (403): it is
// archived with its reason and the next message goes at once.
func TestOrderedPermanentFailureHandsOver(t *testing.T) {
	e := setupReplies(t, replyOptions{servers: 2, ordered: fastOrders})
	e.sandbox.AddRule(sandbox.Rule{Chat: "5", Kind: sandbox.KindBlocked, Times: 1})
	first := e.enqueueOrdered(t, 5, "m0")
	for k := 1; k < 4; k++ {
		e.enqueueOrdered(t, 5, fmt.Sprintf("m%d", k))
	}
	start := time.Now()
	got := e.waitTexts(t, 3, 10*time.Second)
	if strings.Join(got, "|") != "m1|m2|m3" {
		t.Fatalf("delivered %q", got)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("hand-over after the archive took %s: the next message waited for its park delay", took)
	}
	info := e.waitState(t, first, asynq.TaskStateArchived, 5*time.Second)
	if !strings.Contains(info.LastErr, "403") || info.Retried != 0 {
		t.Errorf("archived head: retried %d, last error %q", info.Retried, info.LastErr)
	}
}

// TestOrderedHeadDeletedFromDashboard: the head keeps failing and waits in
// its backoff; the messages behind it wait (strict order) while an unordered
// message to the same chat goes at once. When the head is deleted, the next
// message takes over within its park delay plus the grace period.
func TestOrderedHeadDeletedFromDashboard(t *testing.T) {
	var e *replyEnv
	hook, _ := failText(&e, "m0")
	e = setupReplies(t, replyOptions{servers: 2, ordered: fastOrders, hook: hook})
	head := e.enqueueOrdered(t, 6, "m0")
	for k := 1; k < 3; k++ {
		e.enqueueOrdered(t, 6, fmt.Sprintf("m%d", k))
	}
	e.waitState(t, head, asynq.TaskStateRetry, 10*time.Second)
	e.enqueue(t, &tasks.SendMessage{ChatID: telego.ChatID{ID: 6}, Text: "unordered"})
	if got := e.waitTexts(t, 1, 5*time.Second); got[0] != "unordered" {
		t.Fatalf("delivered %q", got)
	}
	// The messages behind the head ran and were parked, each saying why,
	// without counting a failure; none was sent.
	for _, id := range []string{"t-6-m1", "t-6-m2"} {
		next := e.waitParked(t, id, 10*time.Second)
		if !strings.HasPrefix(next.LastErr, "ordered: waiting for its turn behind task "+head) || next.Retried != 0 {
			t.Errorf("waiting message %s: last error %q, retried %d", id, next.LastErr, next.Retried)
		}
	}
	if n := e.sandbox.Count(); n != 1 {
		t.Fatalf("messages behind a retrying head were sent: %q", e.texts())
	}

	// The dashboard deletes a task waiting for its retry; the head keeps
	// failing, so it may be running again: delete it once it waits.
	for deadline := time.Now().Add(10 * time.Second); ; {
		e.waitState(t, head, asynq.TaskStateRetry, 10*time.Second)
		err := e.inspector.DeleteTask(tasks.QueueDefault, head)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	start := time.Now()
	got := e.waitTexts(t, 3, 15*time.Second)
	if strings.Join(got, "|") != "unordered|m1|m2" {
		t.Fatalf("delivered %q", got)
	}
	t.Logf("chat resumed %s after its head was deleted (park delay %s, grace %s)", time.Since(start).Round(time.Millisecond), fastOrders.ParkBase, fastOrders.Grace)
}

// TestOrderedHeadArchivedThenRerun: a head archived from the dashboard is
// skipped; re-run from the dashboard, it joins the end of the order.
func TestOrderedHeadArchivedThenRerun(t *testing.T) {
	var e *replyEnv
	hook, stop := failText(&e, "m0")
	e = setupReplies(t, replyOptions{servers: 2, ordered: fastOrders, hook: hook})
	head := e.enqueueOrdered(t, 9, "m0")
	e.enqueueOrdered(t, 9, "m1")
	e.enqueueOrdered(t, 9, "m2")
	e.waitState(t, head, asynq.TaskStateRetry, 10*time.Second)
	if err := e.inspector.ArchiveTask(tasks.QueueDefault, head); err != nil {
		t.Fatal(err)
	}
	if got := e.waitTexts(t, 2, 10*time.Second); strings.Join(got, "|") != "m1|m2" {
		t.Fatalf("delivered %q", got)
	}
	stop()
	e.enqueueOrdered(t, 9, "m3")
	if err := e.inspector.RunTask(tasks.QueueDefault, head); err != nil {
		t.Fatal(err)
	}
	if got := e.waitTexts(t, 4, 10*time.Second); strings.Join(got, "|") != "m1|m2|m3|m0" {
		t.Fatalf("delivered %q, want the re-run head after m3", got)
	}
}

// TestOrderedRegistrationWithoutTask: a client registered a message and died
// before enqueuing it. The next message skips it once the grace period has
// passed.
func TestOrderedRegistrationWithoutTask(t *testing.T) {
	e := setupReplies(t, replyOptions{servers: 1, ordered: fastOrders})
	seq := ordering.New(e.rdb, e.inspector, ordering.Config{})
	order := ordering.OrderOf(tasks.OrderKeyOf("", "11"))
	if _, err := seq.Register(context.Background(), order, "never-enqueued", tasks.QueueDefault); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	e.enqueueOrdered(t, 11, "m1")
	e.enqueueOrdered(t, 11, "m2")
	if got := e.waitTexts(t, 2, 15*time.Second); strings.Join(got, "|") != "m1|m2" {
		t.Fatalf("delivered %q", got)
	}
	if took := time.Since(start); took < fastOrders.Grace {
		t.Errorf("skipped after %s, before the grace period", took)
	}
	if !strings.Contains(e.logs.String(), "skipped a message whose task vanished") {
		t.Error("no log line for the skipped registration")
	}
}

// TestOrderedRejectsSchedule: an ordered message cannot be scheduled.
func TestOrderedRejectsSchedule(t *testing.T) {
	e := setupReplies(t, replyOptions{})
	c, err := client.New(client.Config{Redis: e.opt, Bots: []string{tasks.DefaultBot}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.SendMessage(context.Background(), &tasks.SendMessage{ChatID: telego.ChatID{ID: 1}, Text: "x"}, client.Ordered(), client.SendIn(time.Minute))
	if err == nil || !strings.Contains(err.Error(), "cannot be scheduled") {
		t.Fatalf("err = %v", err)
	}
}

// TestOrderedReplyTakesOneTurn: an ordered multi-part reply between two
// ordered messages arrives whole between them, and Status reports its parts'
// message_ids.
func TestOrderedReplyTakesOneTurn(t *testing.T) {
	e := setupReplies(t, replyOptions{servers: 3})
	c, err := client.New(client.Config{Redis: e.opt, Bots: []string{tasks.DefaultBot}, Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	chat := telego.ChatID{ID: 31}
	var replyID string
	for round := range 3 {
		if _, err := c.SendMessage(ctx, &tasks.SendMessage{ChatID: chat, Text: fmt.Sprintf("before %d", round)}, client.Ordered()); err != nil {
			t.Fatal(err)
		}
		r, err := c.SendReply(ctx, chat, tasks.Texts(fmt.Sprintf("reply %d part 1", round), fmt.Sprintf("reply %d part 2", round), fmt.Sprintf("reply %d part 3", round)), client.Ordered())
		if err != nil {
			t.Fatal(err)
		}
		replyID = r.ID
	}
	if _, err := c.SendMessage(ctx, &tasks.SendMessage{ChatID: chat, Text: "after"}, client.Ordered()); err != nil {
		t.Fatal(err)
	}
	got := e.waitTexts(t, 13, 20*time.Second)
	var want []string
	for round := range 3 {
		want = append(want, fmt.Sprintf("before %d", round))
		for p := 1; p <= 3; p++ {
			want = append(want, fmt.Sprintf("reply %d part %d", round, p))
		}
	}
	want = append(want, "after")
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("delivered %q\nwant %q", got, want)
	}
	e.waitState(t, replyID, asynq.TaskStateCompleted, 5*time.Second)
	st, err := c.Status(ctx, replyID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Type != tasks.TypeSendMessagesOrdered || len(st.MessageIDs) != 3 || st.Result == nil || st.Result.MessageID != st.MessageIDs[0] {
		t.Errorf("status %+v", st)
	}
}
