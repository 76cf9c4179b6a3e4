package handlers_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/ratelimit"
	"github.com/telequeue/telequeue/server"
	"github.com/telequeue/telequeue/tasks"
)

// These tests run N asynq servers, each with its own Redis clients and its
// own ratelimit.Limiter, standing for N worker processes, against one
// redis-server and the sandbox enforcing the same limits as the limiter,
// chosen so that a test takes seconds. They check behaviour (what the sandbox
// saw, what state tasks end in), not timings: bounds are generous.

// limitEnv is a cluster of servers sharing one Redis and one sandbox.
type limitEnv struct {
	redis     *redistest.Server
	sandbox   *sandbox.Sandbox
	api       *answerLog
	client    *asynq.Client
	inspector *asynq.Inspector
	obs       []*limitObserver
}

// answerLog records when the sandbox answered 429, as seen at its HTTP
// handler, so that tests can compare delivery times with it.
type answerLog struct {
	mu   sync.Mutex
	at   []time.Time // times of 429 answers
	next http.Handler
}

func (a *answerLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	a.next.ServeHTTP(rec, r)
	if rec.status == http.StatusTooManyRequests {
		a.mu.Lock()
		a.at = append(a.at, time.Now())
		a.mu.Unlock()
	}
}

func (a *answerLog) tooMany() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.at)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// limitObserver counts one server's sends and limiter waits.
type limitObserver struct {
	sent, waited, rescheduled, tooMany atomic.Int64
}

func (o *limitObserver) Sent(_ string, out handlers.Outcome, _ time.Duration) {
	switch out {
	case handlers.OutcomeSent:
		o.sent.Add(1)
	case handlers.OutcomeRateLimited:
		o.tooMany.Add(1)
	}
}

func (o *limitObserver) RateLimitWait(_ string, _ time.Duration, rescheduled bool) {
	if rescheduled {
		o.rescheduled.Add(1)
	} else {
		o.waited.Add(1)
	}
}

func (o *limitObserver) Retry(string) {}

// setupLimits starts a redis-server, the sandbox with limits lim, and
// servers asynq servers of 10 senders, each with its own limiter rl.
func setupLimits(t *testing.T, servers int, lim sandbox.Limits, rl ratelimit.Config) *limitEnv {
	t.Helper()
	return setupLimitsWith(t, servers, lim, rl, nil)
}

// setupLimitsWith is setupLimits with each handler's config changed by
// change (if not nil).
func setupLimitsWith(t *testing.T, servers int, lim sandbox.Limits, rl ratelimit.Config, change func(*handlers.Config)) *limitEnv {
	t.Helper()
	e := &limitEnv{redis: redistest.Start(t)}
	sb, err := sandbox.New(sandbox.Config{Limits: lim, NoRecordParams: true})
	if err != nil {
		t.Fatal(err)
	}
	e.sandbox = sb
	e.api = &answerLog{next: sb}
	ts := httptest.NewServer(e.api)
	t.Cleanup(ts.Close)

	opt := asynq.RedisClientOpt{Addr: e.redis.Addr()}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := range servers {
		rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
		t.Cleanup(func() { _ = rdb.Close() })
		limiter, err := ratelimit.New(rdb, rl)
		if err != nil {
			t.Fatal(err)
		}
		bots := testBots(t, ts.URL, 5*time.Second)
		obs := &limitObserver{}
		e.obs = append(e.obs, obs)
		cfg := handlers.Config{Bots: bots, Limiter: limiter, Redis: rdb, Observer: obs, Logger: log}
		if change != nil {
			change(&cfg)
		}
		h, err := handlers.NewSendMessageHandler(cfg)
		if err != nil {
			t.Fatal(err)
		}
		startServer(t, server.Config{
			Redis: opt, Concurrency: 10, SendMessage: h, Logger: log.With("server", i), LogLevel: slog.LevelError,
		})
	}
	e.client, e.inspector = asynqClients(t, opt)
	return e
}

// limited is a message of the limit tests; tag starts its text so that
// deliveries can be told apart.
func limited(chat int64, tag string, paid bool) *tasks.SendMessage {
	return &tasks.SendMessage{ChatID: telego.ChatID{ID: chat}, Text: tag, AllowPaidBroadcast: paid}
}

// enqueueAll queues msgs with MaxRetry(maxRetry) and returns the task ids.
// The queue is paused meanwhile, so that every server starts on the same
// backlog.
func (e *limitEnv) enqueueAll(t *testing.T, maxRetry int, msgs ...*tasks.SendMessage) []string {
	t.Helper()
	if err := e.inspector.PauseQueue(tasks.QueueDefault); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		task, err := tasks.NewSendMessageTask(m, asynq.Retention(time.Hour), asynq.MaxRetry(maxRetry))
		if err != nil {
			t.Fatal(err)
		}
		info, err := e.client.Enqueue(task)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = info.ID
	}
	if err := e.inspector.UnpauseQueue(tasks.QueueDefault); err != nil {
		t.Fatal(err)
	}
	return ids
}

// waitDelivered waits until the sandbox delivered n messages.
func (e *limitEnv) waitDelivered(t *testing.T, n int, within time.Duration) []sandbox.Received {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := e.sandbox.WaitFor(ctx, n); err != nil {
		st := e.sandbox.Stats()
		t.Fatalf("delivered %d of %d within %s (violations %d, early retries %d)", e.sandbox.Count(), n, within, st.Violations, st.EarlyRetry)
	}
	return e.sandbox.Messages()
}

// waitCompleted waits until every task is completed and returns their
// infos.
func (e *limitEnv) waitCompleted(t *testing.T, ids []string, within time.Duration) []*asynq.TaskInfo {
	t.Helper()
	deadline := time.Now().Add(within)
	infos := make([]*asynq.TaskInfo, len(ids))
	for i, id := range ids {
		for {
			info, err := e.inspector.GetTaskInfo(tasks.QueueDefault, id)
			if err == nil && info.State == asynq.TaskStateCompleted {
				infos[i] = info
				break
			}
			if err == nil && info.State == asynq.TaskStateArchived {
				t.Fatalf("task %s archived: %s (retried %d)", id, info.LastErr, info.Retried)
			}
			if time.Now().After(deadline) {
				t.Fatalf("task %s: %v, want completed within %s", id, stateOf(info), within)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return infos
}

// assertCompliant fails unless the sandbox saw no send over a limit and no
// send before a retry_after ran out.
func assertCompliant(t *testing.T, st sandbox.Stats) {
	t.Helper()
	if st.Violations != 0 || st.EarlyRetry != 0 {
		t.Errorf("sandbox: %d sends over a limit %v, %d sends before retry_after ran out; want 0 and 0",
			st.Violations, st.Rejected429, st.EarlyRetry)
	}
	for kind, n := range st.Rejected429 {
		if n != 0 {
			t.Errorf("sandbox answered %d × 429 for the %s limit", n, kind)
		}
	}
}

// atOf returns the delivery times of the messages whose text starts with
// tag, in order.
func atOf(msgs []sandbox.Received, tag string) []time.Time {
	var at []time.Time
	for _, m := range msgs {
		if strings.HasPrefix(m.Text, tag) {
			at = append(at, m.At)
		}
	}
	slices.SortFunc(at, time.Time.Compare)
	return at
}

// The scaled limits of these tests. The sandbox judges each limit exactly as
// Telegram states it: at most N sends in any window (5 per second, 2 per
// second to a chat, 60 per minute to a group), with no tolerance. What lets a
// limiter meet that despite the time between its granted instant and the
// request's arrival is its margin: with margin m the limiter spaces sends so
// that a window of W holds its N sends even when they arrive up to m·W late
// relative to each other. On this project's shared 2-core machine a handler
// that slept until its instant was seen to reach the sandbox 109 ms late (a
// stalled process) while its neighbours were on time, so these tests use a
// 20% margin (200 ms on one-second windows) rather than the default; the
// compliance benchmark (BENCHMARKS.md) runs with the default.
const testMargin = 0.2

var (
	testLimits = sandbox.Limits{Global: 5, Chat: 2, Group: 60}
	testRL     = ratelimit.Config{Global: 5, Chat: 2, Group: 60, MaxWait: time.Second, Margin: testMargin}
)

// TestLimitsHoldAcrossServers: three servers, each with its own limiter,
// share a mixed load of distinct chats, bursts to the same chats and a
// group, and the sandbox sees no send over any limit.
func TestLimitsHoldAcrossServers(t *testing.T) {
	t.Parallel()
	e := setupLimits(t, 3, testLimits, testRL)
	var msgs []*tasks.SendMessage
	for i := range 20 {
		msgs = append(msgs, limited(int64(10_000+i), "broadcast", false))
	}
	for c := range 3 {
		for range 4 {
			msgs = append(msgs, limited(int64(20_000+c), "burst", false))
		}
	}
	for range 3 {
		msgs = append(msgs, limited(-100_200_300, "group", false))
	}
	ids := e.enqueueAll(t, 3, msgs...)
	got := e.waitDelivered(t, len(msgs), 60*time.Second)
	e.waitCompleted(t, ids, 10*time.Second)

	st := e.sandbox.Stats()
	assertCompliant(t, st)
	if st.Delivered != len(msgs) {
		t.Errorf("delivered %d, want %d", st.Delivered, len(msgs))
	}
	// The sandbox's own figures agree: never more than the rate in a
	// second, never two sends to one chat or group closer than half the
	// limiter's interval (the rest is left to scheduling jitter).
	if max := int(testLimits.Global); st.MaxPerSecond > max {
		t.Errorf("%d sends in one second, want at most %d", st.MaxPerSecond, max)
	}
	if min := time.Duration(0.5 * float64(time.Second) / testLimits.Chat); st.MinChatGap < min {
		t.Errorf("two sends to one chat %s apart, want at least %s", st.MinChatGap, min)
	}
	if min := time.Duration(0.5 * float64(time.Minute) / testLimits.Group); st.MinGroupGap < min {
		t.Errorf("two sends to the group %s apart, want at least %s", st.MinGroupGap, min)
	}
	// The load was shared, so the limits held across processes: at least
	// two servers sent. (Which server's poll wins each task is asynq's
	// business; at 5/s one server can end up with none.)
	var sent []int64
	senders := 0
	for _, o := range e.obs {
		sent = append(sent, o.sent.Load())
		if o.sent.Load() > 0 {
			senders++
		}
	}
	if senders < 2 {
		t.Errorf("sends per server %v: want at least two servers sending", sent)
	}
	if n := len(atOf(got, "group")); n != 3 {
		t.Errorf("group got %d messages, want 3", n)
	}
}

// TestTelegram429PausesCluster: a 429 seen by one server pauses every
// server, for the bot (429 from a private chat) or only for the chat (429
// from a group).
func TestTelegram429PausesCluster(t *testing.T) {
	t.Parallel()
	const retryAfter = 2 // seconds

	t.Run("private chat pauses the bot", func(t *testing.T) {
		t.Parallel()
		e := setupLimits(t, 3, sandbox.Limits{}, ratelimit.Config{MaxWait: 500 * time.Millisecond})
		e.sandbox.AddRule(sandbox.Rule{Chat: "777", Kind: sandbox.KindTooManyRequests, RetryAfter: retryAfter, Times: 1})
		first := e.enqueueAll(t, 3, limited(777, "first", false))
		t429 := waitTooMany(t, e, 1)
		// Throttled runs right after the answer; wait until it is recorded
		// so that the burst below starts after it.
		waitKey(t, e, "telequeue:rl:{default}:pause")

		var burst []*tasks.SendMessage
		for i := range 60 {
			burst = append(burst, limited(int64(30_000+i), "burst", false))
		}
		ids := append(e.enqueueAll(t, 3, burst...), first...)
		got := e.waitDelivered(t, len(burst)+1, 30*time.Second)
		e.waitCompleted(t, ids, 10*time.Second)

		resume := t429.Add(retryAfter * time.Second)
		for _, m := range got {
			if m.At.Before(resume) {
				t.Errorf("%q to chat %s delivered %s after the 429, before retry_after (%ds) ran out",
					m.Text, m.ChatID, m.At.Sub(t429).Round(time.Millisecond), retryAfter)
			}
		}
		if st := e.sandbox.Stats(); st.EarlyRetry != 0 || len(e.api.tooMany()) != 1 {
			t.Errorf("early retries %d, 429 answers %d; want 0 and the injected one", st.EarlyRetry, len(e.api.tooMany()))
		}
		// The pause held back more than the server that met the 429: a
		// cluster-wide pause, not one process's state. (Which servers take
		// the burst's tasks is asynq's choice: on a loaded machine one of
		// three may get none, so "every server" is not asserted.)
		held := 0
		for _, o := range e.obs {
			if o.waited.Load()+o.rescheduled.Load() > 0 {
				held++
			}
		}
		if held < 2 {
			t.Errorf("%d of %d servers waited for the pause; want at least 2", held, len(e.obs))
		}
	})

	t.Run("group pauses only the group", func(t *testing.T) {
		t.Parallel()
		e := setupLimits(t, 3, sandbox.Limits{}, ratelimit.Config{MaxWait: 500 * time.Millisecond})
		const group = -100_777
		e.sandbox.AddRule(sandbox.Rule{Chat: fmt.Sprint(group), Kind: sandbox.KindTooManyRequests, RetryAfter: retryAfter, Times: 1})
		first := e.enqueueAll(t, 3, limited(group, "group", false))
		t429 := waitTooMany(t, e, 1)
		waitKey(t, e, fmt.Sprintf("telequeue:rl:{default}:pause:chat:%d", group))

		msgs := []*tasks.SendMessage{limited(group, "group", false)}
		for i := range 30 {
			msgs = append(msgs, limited(int64(40_000+i), "other", false))
		}
		ids := append(e.enqueueAll(t, 3, msgs...), first...)
		got := e.waitDelivered(t, len(msgs)+1, 30*time.Second)
		e.waitCompleted(t, ids, 10*time.Second)

		resume := t429.Add(retryAfter * time.Second)
		for _, at := range atOf(got, "group") {
			if at.Before(resume) {
				t.Errorf("group message delivered %s after the 429, before retry_after ran out", at.Sub(t429).Round(time.Millisecond))
			}
		}
		// Other chats were not held back by the group's pause.
		other := atOf(got, "other")
		if len(other) != 30 {
			t.Fatalf("other chats got %d messages, want 30", len(other))
		}
		if last := other[len(other)-1]; !last.Before(resume) {
			t.Errorf("the last message to another chat came %s after the group's 429; want all 30 during the group's pause",
				last.Sub(t429).Round(time.Millisecond))
		}
		if st := e.sandbox.Stats(); st.EarlyRetry != 0 {
			t.Errorf("early retries %d, want 0", st.EarlyRetry)
		}
	})
}

// TestTelegram429PausesBusyCluster is the same while the cluster is sending
// at the global limit: sends whose slots the limiter granted before the 429
// must not go out during the pause either.
func TestTelegram429PausesBusyCluster(t *testing.T) {
	t.Parallel()
	const retryAfter = 2
	e := setupLimits(t, 3, sandbox.Limits{Global: 5},
		ratelimit.Config{Global: 5, MaxWait: time.Second, Margin: testMargin})
	e.sandbox.AddRule(sandbox.Rule{Chat: "80010", Kind: sandbox.KindTooManyRequests, RetryAfter: retryAfter, Times: 1})
	var msgs []*tasks.SendMessage
	for i := range 20 {
		msgs = append(msgs, limited(int64(80_000+i), "busy", false))
	}
	ids := e.enqueueAll(t, 3, msgs...)
	got := e.waitDelivered(t, len(msgs), 60*time.Second)
	e.waitCompleted(t, ids, 10*time.Second)
	t429 := waitTooMany(t, e, 1)
	for _, m := range got {
		// 50 ms for the worker to read the answer and record the pause.
		if d := m.At.Sub(t429); d > 50*time.Millisecond && d < retryAfter*time.Second {
			t.Errorf("chat %s delivered %s after the 429, before retry_after (%ds) ran out", m.ChatID, d.Round(time.Millisecond), retryAfter)
		}
	}
	if st := e.sandbox.Stats(); st.EarlyRetry != 0 {
		t.Errorf("early retries %d, want 0", st.EarlyRetry)
	}
}

// waitTooMany waits for the n-th 429 answer and returns when it was given.
func waitTooMany(t *testing.T, e *limitEnv, n int) time.Time {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if at := e.api.tooMany(); len(at) >= n {
			return at[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 429 answer within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitKey waits until a Redis key exists.
func waitKey(t *testing.T, e *limitEnv, key string) {
	t.Helper()
	rdb := e.redis.Client(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := rdb.Exists(context.Background(), key).Result()
		if err == nil && n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("key %s not set within 5s (%v)", key, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestRateLimitWaitsAreNotFailures: tasks rescheduled by the limiter, some
// more than once, end completed with Retried == 0 although MaxRetry is 1.
func TestRateLimitWaitsAreNotFailures(t *testing.T) {
	t.Parallel()
	// Waits beyond 200ms reschedule the task.
	rl := ratelimit.Config{Chat: 4, Group: 60, MaxWait: 200 * time.Millisecond, Margin: testMargin}
	e := setupLimits(t, 2, sandbox.Limits{Chat: 4, Group: 60}, rl)
	var msgs []*tasks.SendMessage
	for range 4 {
		msgs = append(msgs, limited(-100_500, "group", false)) // 1/s: waits of 1, 2, 3 s
	}
	for range 6 {
		msgs = append(msgs, limited(50_000, "chat", false)) // 4/s: waits up to 1.25 s
	}
	ids := e.enqueueAll(t, 1, msgs...)
	e.waitDelivered(t, len(msgs), 60*time.Second)
	infos := e.waitCompleted(t, ids, 10*time.Second)
	for _, info := range infos {
		if info.Retried != 0 {
			t.Errorf("task %s: retried %d, want 0 (last error %q)", info.ID, info.Retried, info.LastErr)
		}
	}
	var rescheduled int64
	for _, o := range e.obs {
		rescheduled += o.rescheduled.Load()
	}
	if rescheduled == 0 {
		t.Error("no task was rescheduled by the limiter: the test did not exercise the wait")
	}
	assertCompliant(t, e.sandbox.Stats())
	// Waits count nowhere as failures.
	q, err := e.inspector.GetQueueInfo(tasks.QueueDefault)
	if err != nil {
		t.Fatal(err)
	}
	if q.Failed != 0 || q.FailedTotal != 0 || q.Archived != 0 {
		t.Errorf("queue: failed today %d, failed total %d, archived %d; want 0", q.Failed, q.FailedTotal, q.Archived)
	}
	t.Logf("%d tasks, %d reschedules", len(ids), rescheduled)
}

// TestPaidBroadcastUsesItsOwnBudget: with a low global limit and a high paid
// one, paid sends go through at the paid rate while unpaid ones keep to the
// global rate.
func TestPaidBroadcastUsesItsOwnBudget(t *testing.T) {
	t.Parallel()
	const global, paid = 1, 5 // per second
	e := setupLimits(t, 3, sandbox.Limits{Global: global, Paid: paid},
		ratelimit.Config{Global: global, Paid: paid, MaxWait: time.Second, Margin: testMargin})
	const nPaid, nUnpaid = 15, 4
	var msgs []*tasks.SendMessage
	for i := range nPaid {
		msgs = append(msgs, limited(int64(60_000+i), "paid", true))
	}
	for i := range nUnpaid {
		msgs = append(msgs, limited(int64(70_000+i), "unpaid", false))
	}
	ids := e.enqueueAll(t, 3, msgs...)
	got := e.waitDelivered(t, len(msgs), 60*time.Second)
	e.waitCompleted(t, ids, 10*time.Second)
	st := e.sandbox.Stats()
	assertCompliant(t, st)

	paidAt, unpaidAt := atOf(got, "paid"), atOf(got, "unpaid")
	paidSpan := paidAt[len(paidAt)-1].Sub(paidAt[0])
	unpaidSpan := unpaidAt[len(unpaidAt)-1].Sub(unpaidAt[0])
	// 15 paid sends take about 3 s at 5/s; at the global 1/s they would
	// take 14 s.
	if paidSpan > 7*time.Second {
		t.Errorf("paid sends took %s, want about 3s: they are not using the paid budget", paidSpan)
	}
	if st.MaxPaidPerSecond <= global+1 {
		t.Errorf("at most %d paid sends in a second, want more than the global limit %d", st.MaxPaidPerSecond, global)
	}
	// Unpaid sends keep to the global budget, which paid sends do not use
	// up: 4 take about 3 s.
	if min := time.Duration(float64(nUnpaid-1) / global * 0.9 * float64(time.Second)); unpaidSpan < min {
		t.Errorf("unpaid sends took %s, want at least %s at %d/s", unpaidSpan, min, global)
	}
	if unpaidSpan > 9*time.Second {
		t.Errorf("unpaid sends took %s: the paid broadcast held them back", unpaidSpan)
	}
	if st.MaxPerSecond > global+1 {
		t.Errorf("%d unpaid sends in one second, want at most %d", st.MaxPerSecond, global+1)
	}
	t.Logf("paid: %d in %s (max %d/s); unpaid: %d in %s (max %d/s)", len(paidAt), paidSpan.Round(time.Millisecond),
		st.MaxPaidPerSecond, len(unpaidAt), unpaidSpan.Round(time.Millisecond), st.MaxPerSecond)
}

// TestBusyChatsDoNotStallOthers: ten chats get two messages each, queued
// before thirty messages to other chats. The second message of each busy
// chat must wait a second for its chat; meanwhile the other chats are
// served: the busy chats' waits neither occupy every sender (at most
// ChatWaiters sleep on them, the rest are rescheduled) nor book the bot's
// budget a second ahead (a chat-bound wait is not reserved, so the bot's
// slots before it stay free).
func TestBusyChatsDoNotStallOthers(t *testing.T) {
	t.Parallel()
	e := setupLimits(t, 1, sandbox.Limits{Global: 100, Chat: 1},
		ratelimit.Config{Global: 100, Chat: 1, MaxWait: 2 * time.Second, Margin: testMargin})
	var msgs []*tasks.SendMessage
	for c := range 10 {
		for range 2 {
			msgs = append(msgs, limited(int64(90_000+c), "busy", false))
		}
	}
	for i := range 30 {
		msgs = append(msgs, limited(int64(91_000+i), "free", false))
	}
	ids := e.enqueueAll(t, 1, msgs...)
	got := e.waitDelivered(t, len(msgs), 60*time.Second)
	e.waitCompleted(t, ids, 10*time.Second)
	assertCompliant(t, e.sandbox.Stats())

	// The earliest second message to a busy chat.
	seen := map[string]bool{}
	var firstSecond time.Time
	for _, m := range got {
		if m.Text != "busy" {
			continue
		}
		if seen[m.ChatID] && (firstSecond.IsZero() || m.At.Before(firstSecond)) {
			firstSecond = m.At
		}
		seen[m.ChatID] = true
	}
	free := atOf(got, "free")
	if last := free[len(free)-1]; !last.Before(firstSecond) {
		t.Errorf("the last free chat got its message %s after the first busy chat's second one: busy chats held the senders or the budget",
			last.Sub(firstSecond).Round(time.Millisecond))
	}
	var waits, rescheduled int64
	for _, o := range e.obs {
		waits += o.waited.Load()
		rescheduled += o.rescheduled.Load()
	}
	t.Logf("free chats done %s before the first second message; waits in handler %d, rescheduled %d",
		firstSecond.Sub(free[len(free)-1]).Round(time.Millisecond), waits, rescheduled)
}

// TestRepliesOutsideTheGlobalBudget: with GlobalQueues = [default], replies
// queued in critical are bounded per chat only, so a burst of them to many
// users goes out at once, while notifications in default keep the bot's
// global pace.
func TestRepliesOutsideTheGlobalBudget(t *testing.T) {
	t.Parallel()
	const n, rate = 20, 5 // messages of each kind; global budget per second
	e := setupLimitsWith(t, 2, sandbox.Limits{Chat: 1}, ratelimit.Config{Global: rate, Chat: 1, MaxWait: 10 * time.Second},
		func(c *handlers.Config) { c.GlobalQueues = []string{tasks.QueueDefault, tasks.QueueBulk} })
	var ids []string
	enqueue := func(queue, tag string, firstChat int64) {
		for i := range n {
			task, err := tasks.NewSendMessageTask(limited(firstChat+int64(i), tag, false), asynq.Queue(queue), asynq.Retention(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			info, err := e.client.Enqueue(task)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, info.ID)
		}
	}
	start := time.Now()
	enqueue(tasks.QueueCritical, "reply", 50_000)
	enqueue(tasks.QueueDefault, "notification", 60_000)
	got := e.waitDelivered(t, 2*n, 30*time.Second)
	replies, notes := atOf(got, "reply"), atOf(got, "notification")
	if len(replies) != n || len(notes) != n {
		t.Fatalf("%d replies and %d notifications delivered, want %d each", len(replies), len(notes), n)
	}
	// 20 notifications at 5/s take about 4 s; 20 replies to 20 users go at
	// once.
	if d := replies[n-1].Sub(start); d > 2*time.Second {
		t.Errorf("the last reply went out %v after the burst; want it outside the %d/s budget (under 2s)", d.Round(time.Millisecond), rate)
	}
	if d := notes[n-1].Sub(notes[0]); d < time.Duration(n-2)*time.Second/rate {
		t.Errorf("notifications spread over %v; want the global pace of %d/s (at least %v)", d.Round(time.Millisecond), rate, time.Duration(n-2)*time.Second/rate)
	}
}
