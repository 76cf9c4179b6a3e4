package e2e

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/proctest"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/tasks"
)

// TestBroadcastSurvivesWorkerSIGKILL kills one of two worker processes while
// it sends broadcast chunks. Worker-1 starts the broadcast alone, so that it
// is certainly mid-chunk when it is killed; worker-2 joins, and recovers the
// killed worker's chunk tasks once telequeue's heartbeat shows it dead (a
// few seconds, see internal/recovery); they resume after the last recipient
// recorded in Redis. Every chat gets the message; a chat gets it twice only
// if Telegram confirmed its send and the process died before recording it —
// at most one per chunk the killed worker was running.
func TestBroadcastSurvivesWorkerSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes; skipped with -short")
	}
	const (
		recipients  = 6000
		concurrency = 4 // each worker runs at most 2 chunks (half its senders)
		maxChunks   = concurrency / 2
	)
	bin := proctest.Binary(t, "./cmd/worker")
	rds := redistest.Start(t)
	// 5 ms per request, so that the broadcast runs for several seconds.
	sb, err := sandbox.New(sandbox.Config{NoRecordParams: true, Latency: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sbURL, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })

	ports := make([]int, 2)
	workers := make([]*proctest.Process, 2)
	start := func(i int) {
		if ports[i], err = redistest.FreePort(); err != nil {
			t.Fatal(err)
		}
		workers[i] = proctest.Start(t, bin, proctest.Options{
			Name: fmt.Sprintf("worker-%d", i+1),
			Env: []string{
				"REDIS_URL=" + rds.URL(),
				"TELEGRAM_BOT_TOKEN=" + token,
				"TELEGRAM_API_URL=" + sbURL,
				"WORKER_CONCURRENCY=" + strconv.Itoa(concurrency),
				"TELEGRAM_RATE_GLOBAL=0", "TELEGRAM_RATE_CHAT=0", "TELEGRAM_RATE_GROUP=0", "TELEGRAM_RATE_PAID=0",
				"TASK_CHECK_INTERVAL=50ms", "DELAYED_TASK_CHECK_INTERVAL=1s",
				"METRICS_PORT=" + strconv.Itoa(ports[i]),
				"LOG_LEVEL=warn",
			},
		})
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", ports[i]), 20*time.Second)
	}
	start(0)

	rc, err := config.NewRedisConn(rds.URL())
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Redis: rc, Bots: []string{tasks.DefaultBot}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ids := make([]int64, recipients)
	for i := range ids {
		ids[i] = int64(40_000_000 + i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	r, err := c.Broadcast(ctx, &tasks.SendMessage{Text: "crash-proof"}, ids, client.BroadcastParallelism(4), client.BroadcastChunkSize(500))
	if err != nil {
		t.Fatal(err)
	}
	// Worker-1 alone takes the first chunks; worker-2 joins once it sends.
	if err := sb.WaitFor(ctx, recipients/10); err != nil {
		t.Fatal(err)
	}
	start(1)
	if err := sb.WaitFor(ctx, recipients/4); err != nil {
		t.Fatal(err)
	}
	t.Logf("worker-1 sent %d, worker-2 %d before the kill", sentCount(t, ports[0]), sentCount(t, ports[1]))
	killedAt := workers[0].Kill()
	atKill := sb.Count()
	t.Logf("killed worker-1 after %d of %d deliveries", atKill, recipients)

	var p *client.BroadcastProgress
	for {
		if p, err = c.BroadcastStatus(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		if p.Done() {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("broadcast not done 4 minutes in: %+v\nworker-2:\n%s", p, workers[1].Tail(30))
		case <-time.After(250 * time.Millisecond):
		}
	}
	t.Logf("done %v after the kill: %+v", time.Since(killedAt).Round(time.Second), p)
	if p.Sent != recipients || p.Failed+p.Blocked+p.Cancelled != 0 {
		t.Errorf("progress %+v: want all %d sent", p, recipients)
	}
	time.Sleep(300 * time.Millisecond)
	got := make(map[string]int, recipients)
	for _, m := range sb.Messages() {
		got[m.ChatID]++
	}
	dups := 0
	for _, id := range ids {
		switch n := got[strconv.FormatInt(id, 10)]; {
		case n == 0:
			t.Errorf("chat %d never got the message", id)
		case n > 1:
			dups += n - 1
		}
	}
	t.Logf("duplicates: %d (bound: %d, one per chunk running on the killed worker)", dups, maxChunks)
	if dups > maxChunks {
		t.Errorf("%d duplicate deliveries, want at most %d", dups, maxChunks)
	}
}
