package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/telequeue/telequeue/internal/proctest"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
)

// python is Debian's interpreter, where python3-fastapi, python3-uvicorn and
// python3-httpx install (.ci/run installs them).
const python = "/usr/bin/python3"

// requirePython skips the test when the example's Python stack is missing,
// except in CI, where its absence is a failure of .ci/run.
func requirePython(t *testing.T) {
	t.Helper()
	err := exec.Command(python, "-c", "import fastapi, uvicorn, httpx").Run()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s cannot import fastapi, uvicorn and httpx (apt-get install python3-fastapi python3-uvicorn python3-httpx): %v", python, err)
	}
	t.Skipf("the FastAPI example needs %s with fastapi, uvicorn and httpx: %v", python, err)
}

// TestFastAPIMigration is the migration this project exists for:
// examples/fastapi (the original backend, enqueue_message sending through
// telequeue's HTTP API) runs under uvicorn with 6 worker processes beside 6
// telequeue workers and web; 100 concurrent users send 30 messages each to
// their own chats, 10 of which have blocked the bot. Every message to the
// other 90 is delivered exactly once, and the app learns every 403 from
// telequeue's signed webhooks and marks those users inactive.
func TestFastAPIMigration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 14 processes: not in -short")
	}
	requirePython(t)
	const (
		workers   = 6
		users     = 100
		perUser   = 30
		firstChat = 500000
		apiToken  = "e2e-api-token-0123456789"
		secret    = "e2e-webhook-secret-0123456789"
	)
	var blocked []int64
	for u := 0; u < users; u += 10 {
		blocked = append(blocked, int64(firstChat+u+3))
	}

	bins := proctest.Build(t, "./cmd/worker", "./cmd/web")
	rds := redistest.Start(t)
	sb, err := sandbox.New(sandbox.Config{NoRecordParams: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range blocked {
		sb.AddRule(sandbox.Rule{Kind: sandbox.KindBlocked, Chat: strconv.FormatInt(c, 10)})
	}
	sbURL, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })

	appPort, webPort := freePort(t), freePort(t)
	appURL := fmt.Sprintf("http://127.0.0.1:%d", appPort)
	webURL := fmt.Sprintf("http://127.0.0.1:%d", webPort)
	common := []string{
		"REDIS_URL=" + rds.URL(),
		"TELEGRAM_BOT_TOKEN=" + token,
		"TELEGRAM_API_URL=" + sbURL,
		"TELEGRAM_RATE_GLOBAL=0", "TELEGRAM_RATE_CHAT=0", "TELEGRAM_RATE_GROUP=0", "TELEGRAM_RATE_PAID=0",
		"LOG_LEVEL=warn",
	}
	for i := range workers {
		proctest.Start(t, bins["./cmd/worker"], proctest.Options{
			Name: fmt.Sprintf("worker-%d", i+1),
			Env: append([]string{
				"WORKER_CONCURRENCY=10",
				"WEBHOOK_URL=" + appURL + "/telequeue/events", "WEBHOOK_SECRET=" + secret,
				"WEBHOOK_EVENTS=sent,archived,blocked",
			}, common...),
		})
	}
	proctest.Start(t, bins["./cmd/web"], proctest.Options{
		Name: "web", Env: append([]string{"PORT=" + strconv.Itoa(webPort), "API_TOKEN=" + apiToken}, common...),
	})
	waitHTTP(t, webURL+"/readyz", 20*time.Second)

	root, err := proctest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "examples", "fastapi")
	app := proctest.Start(t, python, proctest.Options{
		Name: "uvicorn",
		Args: []string{"-m", "uvicorn", "app:app", "--workers", "6", "--host", "127.0.0.1", "--port", strconv.Itoa(appPort),
			"--log-level", "warning", "--no-access-log"},
		Dir: dir,
		Env: []string{
			"TELEQUEUE_URL=" + webURL, "TELEQUEUE_API_TOKEN=" + apiToken, "TELEQUEUE_ROLLOUT=100",
			"WEBHOOK_SECRET=" + secret, "DB_PATH=" + filepath.Join(t.TempDir(), "bot.db"),
			"PYTHONDONTWRITEBYTECODE=1", // leave the checkout as it was
		},
	})
	// uvicorn's worker processes are its children, in its process group:
	// stop them all (before proctest's own cleanup kills the parent alone).
	t.Cleanup(func() {
		_ = syscall.Kill(-app.PID(), syscall.SIGTERM)
		select {
		case <-app.Done():
		case <-time.After(10 * time.Second):
		}
		_ = syscall.Kill(-app.PID(), syscall.SIGKILL)
	})
	waitHTTP(t, appURL+"/inactive", 30*time.Second)

	load := exec.Command(python, filepath.Join(dir, "load.py"), "--app", appURL,
		"--users", strconv.Itoa(users), "--messages", strconv.Itoa(perUser), "--first-chat", strconv.Itoa(firstChat))
	var stderr bytes.Buffer
	load.Stderr = &stderr
	out, err := load.Output()
	if err != nil {
		t.Fatalf("load.py: %v\n%s\napp log:\n%s", err, stderr.String(), app.Tail(40))
	}
	var result struct {
		Accepted, Refused, Failed, Retried int
		Seconds                            float64
		Errors                             []string
	}
	if err := json.Unmarshal(out, &result); err != nil {
		t.Fatalf("load.py printed %q: %v", out, err)
	}
	if result.Accepted != users*perUser {
		t.Fatalf("the app accepted %d of %d notifications: %+v\napp log:\n%s", result.Accepted, users*perUser, result, app.Tail(40))
	}

	// Every message to a chat that did not block the bot arrives once.
	want := (users - len(blocked)) * perUser
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := sb.WaitFor(ctx, want); err != nil {
		t.Fatalf("delivered %d of %d: %v", sb.Count(), want, err)
	}
	seen := map[string]int{}
	for _, m := range sb.Messages() {
		seen[m.Text]++
	}
	for u := range users {
		chat := int64(firstChat + u)
		for i := range perUser {
			text := fmt.Sprintf("user %d message %d", chat, i)
			n := seen[text]
			if slices.Contains(blocked, chat) {
				if n != 0 {
					t.Fatalf("%q delivered to a chat that blocked the bot", text)
				}
			} else if n != 1 {
				t.Fatalf("%q delivered %d times, want once", text, n)
			}
		}
	}

	// The app learns every 403 from the webhooks and marks the user inactive.
	var inactive struct {
		ChatIDs []int64 `json:"chat_ids"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		getJSON(t, appURL+"/inactive", &inactive)
		if slices.Equal(inactive.ChatIDs, blocked) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app marked %v inactive, want %v\napp log:\n%s", inactive.ChatIDs, blocked, app.Tail(40))
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The seed's monitoring dict, filled from /v1/stats.
	var mon map[string]any
	getJSON(t, appURL+"/monitoring", &mon)
	if mon["total_workers"] != float64(workers*10) || mon["worker_processes"] != float64(workers) || mon["workers_per_process"] != float64(10) {
		t.Errorf("monitoring dict %v: want 60 workers in 6 processes of 10", mon)
	}
	t.Logf("100 users × 30 messages through uvicorn --workers 6: accepted in %.1f s (%d requests retried after a lost connection); %d delivered once each; %d blocked users marked inactive from webhooks",
		result.Seconds, result.Retried, want, len(blocked))
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
}
