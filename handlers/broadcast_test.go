package handlers_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/ratelimit"
	"github.com/telequeue/telequeue/server"
	"github.com/telequeue/telequeue/tasks"
)

// bcSetup configures a broadcast test environment.
type bcSetup struct {
	servers     int
	concurrency int
	// limits, when set, turns the cluster-wide limiter on.
	limits *ratelimit.Config
	// sandboxLimits are enforced by the fake Bot API.
	sandboxLimits sandbox.Limits
	// tune changes the handler's configuration.
	tune func(*handlers.BroadcastConfig)
	// redisArgs are extra redis-server arguments.
	redisArgs []string
	// latency is added by the sandbox to every call.
	latency time.Duration
	// hook, if set, wraps each server's sender.
	hook func(handlers.Sender) handlers.Sender
}

type bcEnv struct {
	redis   *redistest.Server
	rdb     *redis.Client
	sandbox *sandbox.Sandbox
	client  *client.Client
	logs    *syncBuffer
}

// setupBroadcast starts redis-server, the sandbox and servers running both
// handlers, as worker processes do.
func setupBroadcast(t *testing.T, s bcSetup) *bcEnv {
	t.Helper()
	rds := redistest.Start(t, s.redisArgs...)
	e := &bcEnv{redis: rds, rdb: rds.Client(t), logs: &syncBuffer{}}
	sb, url := startSandbox(t, sandbox.Config{NoRecordParams: true, Limits: s.sandboxLimits, Latency: s.latency})
	e.sandbox = sb
	opt := asynq.RedisClientOpt{Addr: rds.Addr()}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	for i := range max(s.servers, 1) {
		bots := testBots(t, url, 5*time.Second)
		if s.hook != nil {
			bots["default"] = s.hook(bots["default"])
		}
		rdb := redis.NewClient(&redis.Options{Addr: rds.Addr()})
		t.Cleanup(func() { _ = rdb.Close() })
		var lim handlers.Limiter
		if s.limits != nil {
			l, err := ratelimit.New(rdb, *s.limits)
			if err != nil {
				t.Fatal(err)
			}
			lim = l
		}
		h, err := handlers.NewSendMessageHandler(handlers.Config{Bots: bots, Limiter: lim, Redis: rdb, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		bcfg := handlers.BroadcastConfig{Bots: bots, Redis: rdb, Limiter: lim, Logger: log.With("server", i),
			RetryBackoff: 200 * time.Millisecond}
		if s.tune != nil {
			s.tune(&bcfg)
		}
		bh, err := handlers.NewBroadcastHandler(bcfg)
		if err != nil {
			t.Fatal(err)
		}
		startServer(t, server.Config{
			Redis: opt, Concurrency: max(s.concurrency, 4), SendMessage: h,
			Handlers: map[string]asynq.Handler{tasks.TypeBroadcastChunk: bh},
			Logger:   log.With("server", i), LogLevel: slog.LevelWarn,
		})
	}
	c, err := client.New(client.Config{Redis: opt, Bots: []string{tasks.DefaultBot}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	e.client = c
	return e
}

// chats returns n distinct private chat ids from first.
func chats(first int64, n int) []int64 {
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = first + int64(i)
	}
	return ids
}

// waitDone polls the broadcast until every recipient is settled.
func (e *bcEnv) waitDone(t *testing.T, id string, within time.Duration) *client.BroadcastProgress {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		p, err := e.client.BroadcastStatus(ctx, id)
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		if p.Done() {
			return p
		}
		select {
		case <-ctx.Done():
			t.Fatalf("broadcast not done within %v: %+v\nlogs:\n%s", within, p, tail(e.logs.String(), 3000))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// deliveries counts the sandbox's deliveries per chat.
func (e *bcEnv) deliveries() map[string]int {
	got := make(map[string]int)
	for _, m := range e.sandbox.Messages() {
		got[m.ChatID]++
	}
	return got
}

// checkOnce fails unless every chat in ids got exactly one message and no
// other chat got any.
func checkOnce(t *testing.T, got map[string]int, ids []int64) {
	t.Helper()
	if len(got) != len(ids) {
		t.Errorf("%d chats got messages, want %d", len(got), len(ids))
	}
	bad := 0
	for _, id := range ids {
		if n := got[strconv.FormatInt(id, 10)]; n != 1 && bad < 5 {
			t.Errorf("chat %d got %d messages, want 1", id, n)
			bad++
		}
	}
}

func TestBroadcastDeliversEachChatOnce(t *testing.T) {
	t.Parallel()
	n := 20_000
	if testing.Short() {
		n = 8000 // the fewest for chunks of 1000 with parallelism 8
	}
	e := setupBroadcast(t, bcSetup{servers: 2, concurrency: 10})
	ids := chats(1_000_000, n)
	// Repeated ids are dropped: each chat gets one message.
	in := append(slices.Clone(ids), ids[:10]...)
	ctx := context.Background()

	start := time.Now()
	r, err := e.client.Broadcast(ctx, &tasks.SendMessage{Text: "Big news"}, in, client.BroadcastParallelism(8))
	accepted := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	// The client's automatic chunk size spreads the recipients over the 8
	// lanes, 50 to 1000 per chunk: 20 chunks of 1000, or (-short) 8 of 375.
	size := min(max((n+7)/8, 50), 1000)
	if chunks := (n + size - 1) / size; r.Total != n || r.Duplicates != 10 || r.Queue != tasks.QueueBulk || r.Chunks != chunks || r.Parallelism != 8 {
		t.Errorf("receipt %+v: want total %d, 10 duplicates, %d chunks of %d, parallelism 8 on bulk", r, n, chunks, size)
	}
	if accepted > 5*time.Second {
		t.Errorf("accepting %d recipients took %v, want under 5s", n, accepted)
	}
	p := e.waitDone(t, r.ID, 3*time.Minute)
	elapsed := time.Since(start)
	t.Logf("%d recipients: accepted in %v, delivered in %v (%.0f/s)", n, accepted, elapsed, float64(n)/elapsed.Seconds())
	if p.Sent != n || p.Pending != 0 || p.Failed+p.Blocked+p.Cancelled != 0 || p.State != client.BroadcastDone {
		t.Errorf("progress %+v: want all %d sent, state done", p, n)
	}
	checkOnce(t, e.deliveries(), ids)
	for _, m := range e.sandbox.Messages()[:1] {
		if m.Text != "Big news" {
			t.Errorf("text %q", m.Text)
		}
	}
	// Finished chunks leave only the meta, progress and blocked keys, and
	// asynq's own.
	keys, err := e.rdb.Keys(ctx, "telequeue:bc:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 {
		t.Errorf("broadcast keys left: %v, want meta, progress and blocked", keys)
	}
}

func TestBroadcastOutcomes(t *testing.T) {
	t.Parallel()
	e := setupBroadcast(t, bcSetup{servers: 1, concurrency: 6})
	ids := chats(5_000_000, 400)
	var blocked []int64
	kinds := []sandbox.FaultKind{sandbox.KindBlocked, sandbox.KindDeactivated, sandbox.KindKicked}
	for i := 0; i < 30; i++ {
		id := ids[i*13]
		blocked = append(blocked, id)
		e.sandbox.AddRule(sandbox.Rule{Chat: strconv.FormatInt(id, 10), Kind: kinds[i%len(kinds)]})
	}
	notFound := []int64{ids[1], ids[2], ids[3]}
	for _, id := range notFound {
		e.sandbox.AddRule(sandbox.Rule{Chat: strconv.FormatInt(id, 10), Kind: sandbox.KindChatNotFound})
	}
	// Transient errors: one recipient fails twice and then gets it, one
	// fails for good (after the retry passes it counts as failed), and a
	// 429 pauses a chunk without failing anyone.
	flaky, broken, limited := ids[100], ids[200], ids[300]
	e.sandbox.AddRule(sandbox.Rule{Chat: strconv.FormatInt(flaky, 10), Kind: sandbox.KindServerError, Times: 2})
	e.sandbox.AddRule(sandbox.Rule{Chat: strconv.FormatInt(broken, 10), Kind: sandbox.KindBadGateway})
	e.sandbox.AddRule(sandbox.Rule{Chat: strconv.FormatInt(limited, 10), Kind: sandbox.KindTooManyRequests, Times: 1, RetryAfter: 1})

	ctx := context.Background()
	r, err := e.client.Broadcast(ctx, &tasks.SendMessage{Text: "hello", ParseMode: tasks.ParseModeHTML}, ids,
		client.BroadcastParallelism(4), client.BroadcastChunkSize(50))
	if err != nil {
		t.Fatal(err)
	}
	p := e.waitDone(t, r.ID, time.Minute)
	wantSent := len(ids) - len(blocked) - len(notFound) - 1
	if p.Sent != wantSent || p.Blocked != len(blocked) || p.Failed != len(notFound)+1 || p.Cancelled != 0 || p.Pending != 0 {
		t.Errorf("progress %+v: want sent %d, blocked %d, failed %d", p, wantSent, len(blocked), len(notFound)+1)
	}
	got, err := e.client.BroadcastBlocked(ctx, r.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(blocked)
	if !slices.Equal(got, blocked) {
		t.Errorf("blocked list %v, want %v", got, blocked)
	}
	page, err := e.client.BroadcastBlocked(ctx, r.ID, 10, 5)
	if err != nil || len(page) != 5 {
		t.Errorf("page of 5 from 10: %v, %v", page, err)
	}
	d := e.deliveries()
	for _, id := range []int64{flaky, limited} {
		if n := d[strconv.FormatInt(id, 10)]; n != 1 {
			t.Errorf("chat %d got %d messages, want 1", id, n)
		}
	}
	if len(d) != wantSent {
		t.Errorf("%d chats got the message, want %d", len(d), wantSent)
	}
	st := e.sandbox.Stats()
	// broken: pass 0 and three retry passes.
	if got := st.Faults[sandbox.KindBadGateway]; got != 4 {
		t.Errorf("broken chat was tried %d times, want 4 (pass 0 + 3 retries)", got)
	}
	if _, err := e.client.BroadcastStatus(ctx, "nope"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("unknown id: %v, want ErrNotFound", err)
	}
}

func TestBroadcastCancel(t *testing.T) {
	t.Parallel()
	// 100 messages per second, so that the broadcast is still running when
	// it is cancelled.
	e := setupBroadcast(t, bcSetup{servers: 2, concurrency: 6, limits: &ratelimit.Config{Global: 100}})
	ids := chats(7_000_000, 3000)
	ctx := context.Background()
	r, err := e.client.Broadcast(ctx, &tasks.SendMessage{Text: "soon cancelled"}, ids, client.BroadcastParallelism(4))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := e.sandbox.WaitFor(wctx, 150); err != nil {
		t.Fatal(err)
	}
	p, err := e.client.CancelBroadcast(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	atCancel := e.sandbox.Count()
	if p.State != client.BroadcastCancelled {
		t.Errorf("state after cancel %q", p.State)
	}
	p = e.waitDone(t, r.ID, 30*time.Second)
	// A chunk that was sending when the broadcast was cancelled may still
	// deliver its message; once no chunk task is left, none can.
	waitDrained(t, asynq.NewInspectorFromRedisClient(e.rdb), tasks.QueueBulk, 30*time.Second)
	final := e.sandbox.Count()
	if final-atCancel > r.Parallelism {
		t.Errorf("%d messages went out after CancelBroadcast returned, want at most one per running chunk (%d)", final-atCancel, r.Parallelism)
	}
	if p.Sent != final || p.Sent+p.Cancelled != len(ids) || p.Cancelled < len(ids)/2 || p.Pending != 0 {
		t.Errorf("progress %+v: want sent = %d delivered, sent + cancelled = %d", p, final, len(ids))
	}
	if p.State != client.BroadcastCancelled || !p.Done() {
		t.Errorf("state %q done %v, want cancelled and done", p.State, p.Done())
	}
	// Cancelling again changes nothing.
	again, err := e.client.CancelBroadcast(ctx, r.ID)
	if err != nil || again.Sent != p.Sent || again.Cancelled != p.Cancelled {
		t.Errorf("second cancel: %+v, %v", again, err)
	}
	// One "cancelled" outcome event for the broadcast, however often it
	// was cancelled.
	entries, err := e.rdb.XRange(ctx, keys.Events, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	cancelled := 0
	for _, m := range entries {
		if m.Values["outcome"] == string(tasks.OutcomeCancelled) {
			cancelled++
			if m.Values["broadcast_id"] != r.ID || m.Values["task_id"] != r.ID {
				t.Errorf("cancelled event %v, want broadcast_id and task_id %s", m.Values, r.ID)
			}
		}
	}
	if cancelled != 1 {
		t.Errorf("%d cancelled events, want 1", cancelled)
	}
	for chat, n := range e.deliveries() {
		if n != 1 {
			t.Errorf("chat %s got %d messages", chat, n)
		}
	}
}

// TestBroadcastLeavesRoomForCriticalMessages runs a broadcast at the bot's
// limit and checks that critical messages sent meanwhile get their slot
// within the lookahead, not behind seconds of broadcast reservations.
func TestBroadcastLeavesRoomForCriticalMessages(t *testing.T) {
	t.Parallel()
	const rate = 30
	// The fake Bot API enforces no limit here: on a loaded machine a
	// request can reach it late and the next one on time, and its 429 would
	// pause the whole bot for a second. Such a pause says nothing about
	// starvation, which is what this test is about (TestLimitsHoldAcrossServers
	// and the bench suite check compliance). The limiter alone paces the
	// bot at its budget, so that broadcast chunks and critical messages
	// compete for it.
	e := setupBroadcast(t, bcSetup{servers: 2, concurrency: 10,
		limits: &ratelimit.Config{Global: rate},
		// Each process may run 8 chunks: 16 senders compete for 30/s.
		tune: func(c *handlers.BroadcastConfig) { c.MaxActive = 8 },
	})
	ctx := context.Background()
	r, err := e.client.Broadcast(ctx, &tasks.SendMessage{Text: "promo"}, chats(9_000_000, 600), client.BroadcastParallelism(16))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := e.sandbox.WaitFor(wctx, 60); err != nil {
		t.Fatal(err)
	}
	const critical = 20
	sentAt := make(map[string]time.Time)
	var mu sync.Mutex
	for i := range critical {
		chat := int64(100 + i)
		mu.Lock()
		sentAt[strconv.FormatInt(chat, 10)] = time.Now()
		mu.Unlock()
		if _, err := e.client.SendMessage(ctx, msg(chat, "your code: 1234"), client.Critical()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	deadline := time.Now().Add(20 * time.Second)
	var lat []time.Duration
	for time.Now().Before(deadline) {
		lat = lat[:0]
		for _, m := range e.sandbox.Messages() {
			if at, ok := sentAt[m.ChatID]; ok {
				lat = append(lat, m.At.Sub(at))
			}
		}
		if len(lat) == critical {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(lat) != critical {
		t.Fatalf("%d of %d critical messages delivered", len(lat), critical)
	}
	slices.Sort(lat)
	t.Logf("critical latency during a broadcast at %d/s: p50 %v, max %v", rate, lat[len(lat)/2], lat[len(lat)-1])
	// Pickup (20ms polling) + at most the lookahead plus a slot or two.
	p50, p90 := lat[len(lat)/2], lat[len(lat)*9/10]
	if p50 > 300*time.Millisecond || p90 > 1500*time.Millisecond {
		t.Errorf("critical latency p50 %v, p90 %v; want under 300ms and 1.5s", p50, p90)
	}
	// The bound means something only if the broadcast used the bot's
	// budget meanwhile (its share: 85% of 30/s, less the limiter's margin).
	if st := e.sandbox.Stats(); st.MaxPerSecond < rate*2/3 {
		t.Errorf("at most %d messages in a second: the broadcast did not compete for the budget", st.MaxPerSecond)
	}
	if _, err := e.client.CancelBroadcast(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	e.waitDone(t, r.ID, 30*time.Second)
}

func TestBroadcastValidation(t *testing.T) {
	t.Parallel()
	e := setupBroadcast(t, bcSetup{servers: 1})
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		m     *tasks.SendMessage
		ids   []int64
		opts  []client.Option
		field string
		opt   bool
	}{
		{"chat in message", msg(42, "hi"), []int64{1}, nil, "chat_id", false},
		{"no recipients", &tasks.SendMessage{Text: "hi"}, nil, nil, "chat_ids", false},
		{"zero id", &tasks.SendMessage{Text: "hi"}, []int64{1, 0}, nil, "chat_ids", false},
		{"empty text", &tasks.SendMessage{Text: " "}, []int64{1}, nil, "text", false},
		{"bad parallelism", &tasks.SendMessage{Text: "hi"}, []int64{1}, []client.Option{client.BroadcastParallelism(0)}, "", true},
		{"bad chunk", &tasks.SendMessage{Text: "hi"}, []int64{1}, []client.Option{client.BroadcastChunkSize(20_000)}, "", true},
		{"starts after expiry", &tasks.SendMessage{Text: "hi"}, []int64{1}, []client.Option{client.SendAt(time.Now().Add(48 * time.Hour)), client.BroadcastTTL(24 * time.Hour)}, "", true},
	} {
		_, err := e.client.Broadcast(ctx, tc.m, tc.ids, tc.opts...)
		var ve *tasks.ValidationError
		switch {
		case tc.opt && !errors.Is(err, client.ErrInvalidOption):
			t.Errorf("%s: %v, want ErrInvalidOption", tc.name, err)
		case !tc.opt && (!errors.As(err, &ve) || ve.Field != tc.field):
			t.Errorf("%s: %v, want a validation error on %s", tc.name, err, tc.field)
		}
	}
	// An idempotency key makes a repeat a duplicate naming the first.
	first, err := e.client.Broadcast(ctx, &tasks.SendMessage{Text: "once"}, []int64{11, 12}, client.IdempotencyKey("promo-1"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.client.Broadcast(ctx, &tasks.SendMessage{Text: "once"}, []int64{11, 12}, client.IdempotencyKey("promo-1"))
	var dup *client.DuplicateError
	if !errors.As(err, &dup) || dup.ID != first.ID {
		t.Errorf("repeat: %v, want a duplicate of %s", err, first.ID)
	}
	e.waitDone(t, first.ID, 20*time.Second)
	if n := e.sandbox.Count(); n != 2 {
		t.Errorf("%d deliveries, want 2", n)
	}
}

// TestBroadcastSurvivesRedisRestart kills redis-server (-9) while chunks are
// sending and starts it again from its AOF: the chunks wait for Redis,
// record what Telegram confirmed meanwhile, and finish; every chat gets the
// message exactly once.
func TestBroadcastSurvivesRedisRestart(t *testing.T) {
	t.Parallel()
	e := setupBroadcast(t, bcSetup{servers: 2, concurrency: 6, latency: 2 * time.Millisecond,
		redisArgs: []string{"--appendonly", "yes", "--appendfsync", "always"}})
	ids := chats(11_000_000, 3000)
	ctx := context.Background()
	r, err := e.client.Broadcast(ctx, &tasks.SendMessage{Text: "outage"}, ids, client.BroadcastParallelism(6), client.BroadcastChunkSize(250))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := e.sandbox.WaitFor(wctx, 600); err != nil {
		t.Fatal(err)
	}
	e.redis.Kill()
	down := e.sandbox.Count()
	time.Sleep(time.Second)
	if err := e.redis.Restart(wctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("redis-server killed after %d deliveries, back after 1s", down)
	p := e.waitDone(t, r.ID, 2*time.Minute)
	if p.Sent != len(ids) || p.Pending != 0 {
		t.Errorf("progress %+v: want all %d sent", p, len(ids))
	}
	waitDrained(t, asynq.NewInspectorFromRedisClient(e.rdb), tasks.QueueBulk, 30*time.Second)
	checkOnce(t, e.deliveries(), ids)
}
