package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/proctest"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/tasks"
)

// TestOrderedDeliveryUnderFaults is the acceptance run of ordered delivery:
// 6 worker processes with 10 senders each deliver 50 chats × 40 ordered
// messages, enqueued interleaved by 50 goroutines through two clients while
// the workers run, with the sandbox answering 429 (retry_after 1) and 500 at
// random, and one message failing for good. Every chat must receive its
// messages in enqueue order, each exactly once, none lost but the one that
// failed, which must be archived with its reason.
//
// Limits are scaled for speed: 20 messages per second per chat in the
// workers' limiter (the sandbox enforces 25), no global limit. Half the
// chats are private (a 429 there pauses the whole bot for its retry_after,
// as the limiter's policy says), half are groups.
func TestOrderedDeliveryUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes; skipped with -short")
	}
	t.Parallel()
	const (
		workers = 6
		chats   = 50
		perChat = 40
		total   = chats * perChat
	)
	bins := proctest.Build(t, "./cmd/worker")
	rds := redistest.Start(t)
	sb, err := sandbox.New(sandbox.Config{NoRecordParams: true, Seed: 6, Limits: sandbox.Limits{Chat: 25}})
	if err != nil {
		t.Fatal(err)
	}
	sbURL, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })

	chatIDs := make([]int64, chats)
	for i := range chatIDs {
		chatIDs[i] = int64(1000 + i)
		if i%2 == 1 {
			chatIDs[i] = -int64(1000 + i)
		}
	}
	failing := chatIDs[7]
	sb.AddRule(sandbox.Rule{Chat: strconv.FormatInt(failing, 10), Kind: sandbox.KindChatNotFound, Times: 1})
	sb.AddRule(sandbox.Rule{Kind: sandbox.KindTooManyRequests, RetryAfter: 1, Probability: 0.03})
	sb.AddRule(sandbox.Rule{Kind: sandbox.KindServerError, Probability: 0.04})

	common := []string{
		"REDIS_URL=" + rds.URL(),
		"TELEGRAM_BOT_TOKEN=" + token,
		"TELEGRAM_API_URL=" + sbURL,
		"WORKER_CONCURRENCY=10",
		"TASK_CHECK_INTERVAL=20ms",
		"DELAYED_TASK_CHECK_INTERVAL=200ms",
		"TELEGRAM_RATE_GLOBAL=0", "TELEGRAM_RATE_CHAT=20", "TELEGRAM_RATE_GROUP=0", "TELEGRAM_RATE_PAID=0",
		"LOG_LEVEL=warn",
	}
	ports := make([]int, workers)
	for i := range ports {
		if ports[i], err = redistest.FreePort(); err != nil {
			t.Fatal(err)
		}
		proctest.Start(t, bins["./cmd/worker"], proctest.Options{
			Name: fmt.Sprintf("worker-%d", i+1),
			Env:  append([]string{"METRICS_PORT=" + strconv.Itoa(ports[i])}, common...),
		})
	}
	for _, port := range ports {
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port), 30*time.Second)
	}

	// Two clients, as two application processes would have.
	clients := make([]*client.Client, 2)
	for i := range clients {
		c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: rds.Addr()}, Bots: []string{tasks.DefaultBot}, Retention: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		clients[i] = c
	}

	// Each chat's messages are enqueued one after the other (so their order
	// is defined), alternating between the clients; the chats interleave.
	start := time.Now()
	ids := make([][]string, chats)
	var wg sync.WaitGroup
	errs := make(chan error, chats)
	for ci, chat := range chatIDs {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(ci), 7))
			for k := range perChat {
				m := &tasks.SendMessage{ChatID: telego.ChatID{ID: chat}, Text: fmt.Sprintf("chat %d message %d", chat, k)}
				rc, err := clients[k%2].SendMessage(context.Background(), m, client.Ordered())
				if err != nil {
					errs <- fmt.Errorf("chat %d message %d: %w", chat, k, err)
					return
				}
				ids[ci] = append(ids[ci], rc.ID)
				time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	enqueued := time.Since(start)

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	if err := sb.WaitFor(ctx, total-1); err != nil {
		t.Fatalf("delivered %d of %d: %v", sb.Count(), total-1, err)
	}
	delivered := time.Since(start)
	// Nothing more arrives: no late duplicates.
	time.Sleep(time.Second)

	got := map[string][]sandbox.Received{}
	for _, r := range sb.Messages() {
		got[r.ChatID] = append(got[r.ChatID], r)
	}
	violations, dups, lost := 0, 0, 0
	for _, chat := range chatIDs {
		msgs := got[strconv.FormatInt(chat, 10)]
		sort.Slice(msgs, func(i, j int) bool { return msgs[i].Seq < msgs[j].Seq })
		var want []string
		for k := range perChat {
			if chat == failing && k == 0 {
				continue // archived: chat not found
			}
			want = append(want, fmt.Sprintf("chat %d message %d", chat, k))
		}
		seen := map[string]int{}
		for _, m := range msgs {
			seen[m.Text]++
		}
		for _, w := range want {
			switch seen[w] {
			case 0:
				lost++
			case 1:
			default:
				dups += seen[w] - 1
			}
		}
		var texts []string
		for _, m := range msgs {
			texts = append(texts, m.Text)
		}
		if strings.Join(texts, "|") != strings.Join(want, "|") {
			violations++
			t.Errorf("chat %d received out of order:\n got %q\nwant %q", chat, texts, want)
		}
	}
	if violations+dups+lost > 0 {
		t.Fatalf("%d chats out of order, %d duplicates, %d lost", violations, dups, lost)
	}

	// The failed message is archived with Telegram's reason; nothing else is
	// left in any queue, and every chat's order is gone.
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: rds.Addr()})
	defer insp.Close()
	archived, err := insp.ListArchivedTasks(tasks.QueueDefault)
	if err != nil {
		t.Fatal(err)
	}
	failedID := ids[7][0]
	if len(archived) != 1 || archived[0].ID != failedID || !strings.Contains(archived[0].LastErr, "chat not found") {
		for _, a := range archived {
			t.Logf("archived %s: %s", a.ID, a.LastErr)
		}
		t.Fatalf("want exactly task %s archived with \"chat not found\"", failedID)
	}
	qi, err := insp.GetQueueInfo(tasks.QueueDefault)
	if err != nil {
		t.Fatal(err)
	}
	if n := qi.Pending + qi.Active + qi.Scheduled + qi.Retry; n != 0 {
		t.Errorf("%d tasks left in the queue (pending %d, active %d, scheduled %d, retry %d)", n, qi.Pending, qi.Active, qi.Scheduled, qi.Retry)
	}
	rdb := rds.Client(t)
	if left, err := rdb.Keys(context.Background(), "telequeue:ord:*").Result(); err != nil || len(left) != 0 {
		t.Errorf("order keys left behind: %v %v", left, err)
	}

	st := sb.Stats()
	t.Logf("%d ordered messages to %d chats: enqueued in %s, all delivered %s after the first enqueue (%.0f msgs/s, %.1f s per chat of %d)",
		total, chats, enqueued.Round(time.Millisecond), delivered.Round(time.Millisecond), float64(total-1)/delivered.Seconds(), delivered.Seconds(), perChat)
	t.Logf("sandbox: %d delivered, faults injected %v, limit violations %d, early retries %d", st.Delivered, st.Faults, st.Violations, st.EarlyRetry)
}

// TestOrderedChatResumesAfterWorkerKill: the worker sending the head of a
// chat's order dies (SIGKILL) in the middle of the send. The chat's later
// messages wait — no message overtakes the head — until asynq's recoverer
// gives the head to another worker (its lease must have been expired for 30
// s, and the recoverer runs every minute), then the chat resumes in order;
// another chat is not held up meanwhile.
func TestOrderedChatResumesAfterWorkerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes; skipped with -short")
	}
	t.Parallel()
	const perChat = 5
	bin := proctest.Binary(t, "./cmd/worker")
	rds := redistest.Start(t)
	sb, err := sandbox.New(sandbox.Config{NoRecordParams: true})
	if err != nil {
		t.Fatal(err)
	}
	sbURL, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	// The first send to chat 777 never gets an answer.
	sb.AddRule(sandbox.Rule{Chat: "777", Kind: sandbox.KindTimeout, Latency: 5 * time.Minute, Times: 1})

	env := []string{
		"REDIS_URL=" + rds.URL(), "TELEGRAM_BOT_TOKEN=" + token, "TELEGRAM_API_URL=" + sbURL,
		"WORKER_CONCURRENCY=4", "TASK_CHECK_INTERVAL=50ms", "DELAYED_TASK_CHECK_INTERVAL=500ms",
		"TELEGRAM_TIMEOUT=5m", "TELEGRAM_RATE_GLOBAL=0", "TELEGRAM_RATE_CHAT=0", "TELEGRAM_RATE_GROUP=0",
		"LOG_LEVEL=warn",
	}
	procs := []*proctest.Process{
		proctest.Start(t, bin, proctest.Options{Name: "worker-1", Env: env}),
		proctest.Start(t, bin, proctest.Options{Name: "worker-2", Env: env}),
	}
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: rds.Addr()}, Bots: []string{tasks.DefaultBot}, Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	var head string
	for k := range perChat {
		for _, chat := range []int64{777, 778} {
			r, err := c.SendMessage(context.Background(), &tasks.SendMessage{ChatID: telego.ChatID{ID: chat}, Text: fmt.Sprintf("%d:%d", chat, k)}, client.Ordered())
			if err != nil {
				t.Fatal(err)
			}
			if chat == 777 && k == 0 {
				head = r.ID
			}
		}
	}

	// Find the worker process that holds the head (asynq's heartbeat lists
	// each server's active tasks with its pid) and kill it.
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: rds.Addr()})
	defer insp.Close()
	var victim *proctest.Process
	for deadline := time.Now().Add(20 * time.Second); victim == nil; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no worker reports the head of chat 777 as active")
		}
		servers, _ := insp.Servers()
		for _, s := range servers {
			for _, w := range s.ActiveWorkers {
				for _, p := range procs {
					if w.TaskID == head && s.PID == p.PID() {
						victim = p
					}
				}
			}
		}
	}
	killedAt := victim.Kill()

	// Chat 778 is not held up.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sb.WaitFor(ctx, perChat); err != nil {
		t.Fatalf("chat 778 held up by chat 777's dead head: %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := sb.WaitFor(ctx, 2*perChat); err != nil {
		t.Fatalf("chat 777 did not resume: %d delivered: %v", sb.Count(), err)
	}
	resumed := time.Since(killedAt)
	var got []string
	for _, m := range sb.Messages() {
		if m.ChatID == "777" {
			got = append(got, m.Text)
		}
	}
	if want := "777:0|777:1|777:2|777:3|777:4"; strings.Join(got, "|") != want {
		t.Fatalf("chat 777 received %q, want %s", got, want)
	}
	t.Logf("chat 777 resumed in order %s after its head's worker was killed", resumed.Round(time.Second))
}
