package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telequeue/telequeue/internal/proctest"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
)

func TestMain(m *testing.M) { os.Exit(proctest.Run(m)) }

const token = "123456789:E2Etoken-E2Etoken-E2Etoken-E2Etoken"

// TestSixWorkersDeliverJSONLExactlyOnce is the acceptance run of the core: 6
// worker processes with 10 senders each on one Redis deliver 3000 messages
// enqueued with `telequeue send --jsonl`, each exactly once, every process
// doing a share.
func TestSixWorkersDeliverJSONLExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes; skipped with -short")
	}
	const (
		workers  = 6
		messages = 3000
	)
	bins := proctest.Build(t, "./cmd/worker", "./cmd/telequeue")
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

	common := []string{
		"REDIS_URL=" + rds.URL(),
		"TELEGRAM_BOT_TOKEN=" + token,
		"TELEGRAM_API_URL=" + sbURL,
		"WORKER_CONCURRENCY=10",
		"TELEGRAM_RATE_GLOBAL=0", "TELEGRAM_RATE_CHAT=0", "TELEGRAM_RATE_GROUP=0", "TELEGRAM_RATE_PAID=0",
		"LOG_LEVEL=warn",
	}
	metricsPorts := make([]int, workers)
	for i := range metricsPorts {
		port, err := redistest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		metricsPorts[i] = port
		proctest.Start(t, bins["./cmd/worker"], proctest.Options{
			Name: fmt.Sprintf("worker-%d", i+1),
			Env:  append([]string{"METRICS_PORT=" + strconv.Itoa(port)}, common...),
		})
	}
	for _, port := range metricsPorts {
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port), 20*time.Second)
	}

	// Distinct chats, a unique text per message.
	file := filepath.Join(t.TempDir(), "messages.jsonl")
	var b strings.Builder
	for i := 0; i < messages; i++ {
		fmt.Fprintf(&b, `{"chat_id":%d,"text":"message %d"}`+"\n", 100000+i, i)
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cmd := exec.Command(bins["./cmd/telequeue"], "send", "--jsonl", file)
	cmd.Env = []string{"REDIS_URL=" + rds.URL(), "PATH=" + os.Getenv("PATH")}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("telequeue send --jsonl: %v", err)
	}
	enqueued := time.Since(start)
	ids := strings.Fields(string(out))
	if len(ids) != messages {
		t.Fatalf("printed %d ids, want %d", len(ids), messages)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := sb.WaitFor(ctx, messages); err != nil {
		t.Fatalf("delivered %d of %d: %v", sb.Count(), messages, err)
	}
	got := sb.Messages()
	seen := make(map[string]int, messages)
	first, last := got[0].At, got[0].At
	for _, r := range got {
		seen[r.Text]++
		if r.At.Before(first) {
			first = r.At
		}
		if r.At.After(last) {
			last = r.At
		}
	}
	for i := 0; i < messages; i++ {
		if n := seen[fmt.Sprintf("message %d", i)]; n != 1 {
			t.Fatalf("message %d delivered %d times", i, n)
		}
	}
	// Nothing more arrives: no late duplicates.
	time.Sleep(500 * time.Millisecond)
	if n := sb.Count(); n != messages {
		t.Fatalf("sandbox has %d messages after settling, want %d", n, messages)
	}

	counts := make([]int, workers)
	total := 0
	for i, port := range metricsPorts {
		counts[i] = sentCount(t, port)
		total += counts[i]
		if counts[i] == 0 {
			t.Errorf("worker %d sent nothing", i+1)
		}
	}
	if total != messages {
		t.Errorf("workers report %d sends in all, want %d", total, messages)
	}
	t.Logf("enqueue (telequeue send --jsonl, %d lines): %s = %.0f msgs/s", messages, enqueued.Round(time.Millisecond), messages/enqueued.Seconds())
	t.Logf("delivery: first→last %s = %.0f msgs/s; per worker %v", last.Sub(first).Round(time.Millisecond), messages/last.Sub(first).Seconds(), counts)
}

var sentRE = regexp.MustCompile(`(?m)^telequeue_sends_total\{bot="default",outcome="sent"\} (\d+)`)

// sentCount scrapes a worker's /metrics for its successful sends.
func sentCount(t *testing.T, port int) int {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(bufio.NewReader(resp.Body))
	m := sentRE.FindSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

func waitHTTP(t *testing.T, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not up within %s: %v", url, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
