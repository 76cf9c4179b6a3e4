package redisha

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/tasks"
)

// queuePlacement returns, per queue, the node that holds asynq's keys of
// that queue (they share the hash tag {queue}) and the slot.
func queuePlacement(ctx context.Context, t *testing.T, cl *redistest.Cluster) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, q := range tasks.Queues {
		addr, slot, err := cl.NodeOf(ctx, "asynq:{"+q+"}:pending")
		if err != nil {
			t.Fatal(err)
		}
		out[q] = fmt.Sprintf("%s (slot %d)", addr, slot)
	}
	return out
}

func distinctNodes(p map[string]string) int {
	nodes := map[string]bool{}
	for _, v := range p {
		addr, _, _ := strings.Cut(v, " ")
		nodes[addr] = true
	}
	return len(nodes)
}

// TestCluster is scenario 5: three masters, REDIS_CLUSTER_ADDRS, the full
// flow on all three queues, Status, idempotency keys, and the cluster-wide
// rate limiter against the sandbox's Telegram-like limits.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes; skipped with -short")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl := redistest.StartCluster(t, 3)

	// Where the queues land. asynq's keys are asynq:{<queue>}:..., so a
	// queue lives in the slot CRC16(<queue>) mod 16384: critical 8090,
	// default 5718, bulk 5320. redis-cli --cluster create gives 3 masters
	// 0-5460, 5461-10922 and 10923-16383, so critical and default share
	// the second node, bulk is on the first, and the third holds no queue.
	before := queuePlacement(ctx, t, cl)
	t.Logf("queue placement after redis-cli --cluster create: %v (%d nodes)", before, distinctNodes(before))
	// Give critical a node of its own by moving its one slot, as an
	// operator would with redis-cli --cluster reshard.
	slot, err := cl.Client(t).ClusterKeySlot(ctx, "asynq:{critical}:pending").Result()
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, v := range before {
		addr, _, _ := strings.Cut(v, " ")
		used[addr] = true
	}
	for _, a := range cl.Addrs() {
		if !used[a] {
			if err := cl.MoveSlot(ctx, slot, a); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	after := queuePlacement(ctx, t, cl)
	t.Logf("queue placement after moving slot %d: %v", slot, after)
	if distinctNodes(after) != 3 {
		t.Fatalf("queues on %d nodes after moving critical's slot, want 3", distinctNodes(after))
	}

	// Limits on in the sandbox and the same ones in the workers: what is
	// tested is that two workers share one budget through the cluster
	// (the limiter's keys are hash-tagged by bot, one script per send).
	// The global budget is 10/s rather than Telegram's 30/s, and the
	// workers keep a 20% margin rather than the default 3%: on a loaded CI
	// machine a send now and then reaches the sandbox tens of milliseconds
	// after its slot (measured: load average 8-37 on 2 CPUs), and the
	// margin is what lets such a send still fit the sandbox's windows.
	// Two workers that did not share their budget would send about 20 in
	// a second.
	sb := startSandbox(t, sandbox.Config{Limits: sandbox.Limits{Global: 10, Chat: 1, Group: 20}})
	e := baseEnv(sb.URL()).with(
		"REDIS_CLUSTER_ADDRS", strings.Join(cl.Addrs(), ","),
		"TELEGRAM_RATE_GLOBAL", "10", "TELEGRAM_RATE_CHAT", "1", "TELEGRAM_RATE_GROUP", "20",
		"TELEGRAM_RATE_MARGIN", "0.2",
	)
	for i := range 2 {
		startWorker(t, fmt.Sprintf("worker%d", i), e)
	}
	c := newClient(t, e)

	// 120 messages: 40 per queue, to 100 private chats, one chat that gets
	// 8 (1/s limit), and one group that gets 4 (20/min limit); every fifth
	// with an idempotency key; two scheduled.
	type sent struct {
		r    *client.Receipt
		chat int64
		text string
	}
	var all []sent
	const n = 120
	start := time.Now()
	for i := range n {
		chat := int64(1000 + i)
		switch {
		case i%15 == 0:
			chat = 42
		case i%30 == 1:
			chat = -100123
		}
		opts := []client.Option{client.Priority(tasks.Queues[i%3])}
		if i%5 == 0 {
			opts = append(opts, client.IdempotencyKey(fmt.Sprintf("order-%d", i)))
		}
		if i == 7 || i == 8 {
			opts = append(opts, client.SendIn(500*time.Millisecond))
		}
		m := &tasks.SendMessage{ChatID: telego.ChatID{ID: chat}, Text: seqText(i)}
		r, err := c.SendMessage(ctx, m, opts...)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		all = append(all, sent{r, chat, m.Text})
	}
	// A repeated idempotency key names the first task and queues nothing.
	_, err = c.SendMessage(ctx, &tasks.SendMessage{ChatID: telego.ChatID{ID: 7}, Text: "dup"}, client.IdempotencyKey("order-5"))
	var dup *client.DuplicateError
	if !errors.As(err, &dup) || dup.ID != all[5].r.ID {
		t.Fatalf("repeated idempotency key: %v, want a DuplicateError naming %s", err, all[5].r.ID)
	}

	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer wcancel()
	if err := sb.WaitFor(wctx, n); err != nil {
		t.Fatalf("delivered %d of %d: %v", sb.Count(), n, err)
	}
	took := time.Since(start)

	// Every message once, Status completed with Telegram's message_id.
	byText := map[string]sandbox.Received{}
	for _, m := range sb.Messages() {
		if _, twice := byText[m.Text]; twice {
			t.Errorf("%q delivered twice", m.Text)
		}
		byText[m.Text] = m
	}
	for _, s := range all {
		got, ok := byText[s.text]
		if !ok {
			t.Errorf("%q not delivered", s.text)
			continue
		}
		if got.ChatID != fmt.Sprint(s.chat) {
			t.Errorf("%q delivered to %s, want %d", s.text, got.ChatID, s.chat)
		}
		st := waitCompleted(ctx, t, c, s.r.ID)
		if st.Queue != s.r.Queue || st.Result == nil || st.Result.MessageID != got.MessageID {
			t.Errorf("status of %q: queue %s result %+v; want queue %s message_id %d", s.text, st.Queue, st.Result, s.r.Queue, got.MessageID)
		}
	}

	stats := sb.Stats()
	t.Logf("cluster: %d messages in %v; sandbox: delivered %d, violations %d %v, early retries %d, max/s %d, min chat gap %v, min group gap %v",
		n, took.Round(time.Millisecond), stats.Delivered, stats.Violations, stats.Rejected429, stats.EarlyRetry, stats.MaxPerSecond,
		stats.MinChatGap.Round(time.Millisecond), stats.MinGroupGap.Round(time.Millisecond))
	if stats.Violations != 0 || stats.EarlyRetry != 0 {
		t.Errorf("limits on the cluster: %d violations %v and %d early retries, want 0", stats.Violations, stats.Rejected429, stats.EarlyRetry)
	}
	if stats.MaxPerSecond > 10 {
		t.Errorf("global limit on the cluster: %d sends in one second, want at most 10 (budget not shared?)", stats.MaxPerSecond)
	}

	// Where the keys went: asynq's per queue, telequeue's spread by name.
	counts := map[string]int64{}
	for _, p := range cl.Nodes {
		rc := redistestClient(p.Addr())
		counts[p.Addr()], _ = rc.DBSize(ctx).Result()
		_ = rc.Close()
	}
	t.Logf("keys per node: %v", counts)
	cfg, err := config.Load(e.lookup, true)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfg.Redis()
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(rc)
	defer insp.Close()
	var lines []string
	for _, q := range tasks.Queues {
		nodes, err := insp.ClusterNodes(q)
		if err != nil {
			t.Fatalf("Inspector.ClusterNodes(%s): %v", q, err)
		}
		info, err := insp.GetQueueInfo(q)
		if err != nil {
			t.Fatalf("GetQueueInfo(%s): %v", q, err)
		}
		lines = append(lines, fmt.Sprintf("%s → %s (completed %d)", q, nodes[0].Addr, info.Completed))
	}
	sort.Strings(lines)
	t.Logf("asynq Inspector.ClusterNodes: %s", strings.Join(lines, "; "))
}

// waitCompleted polls Status until the task is completed (asynq records
// completion right after the send, so this is short).
func waitCompleted(ctx context.Context, t *testing.T, c *client.Client, id string) *client.Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.Status(ctx, id)
		if err == nil && st.State == client.StateCompleted {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: status %+v, %v; want completed", id, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
