package devmode

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/tasks"
)

// TestDevModeDeliversToSandbox runs dev mode as `telequeue dev` does and sends
// one message through the embedded Redis to the sandbox.
//
// It also checks that dev mode leaves no goroutine behind when it stops:
// it does not run in parallel.
func TestDevModeDeliversToSandbox(t *testing.T) {
	goroutines := ourGoroutines()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := map[string]string{"PORT": "0", "LOG_LEVEL": "warn"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := Run(ctx, lookup, pw, io.Discard)
		done <- err
		pw.CloseWithError(fmt.Errorf("dev mode ended: %v", err))
	}()

	urls := map[string]string{}
	re := regexp.MustCompile(`^\s+(Redis \(embedded\)|Telegram sandbox|Dashboard|HTTP API)\s+(\S+)`)
	sc := bufio.NewScanner(pr)
	for sc.Scan() && len(urls) < 4 {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			urls[m[1]] = m[2]
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if len(urls) < 4 {
		t.Fatalf("banner incomplete: %v (%v)", urls, sc.Err())
	}

	rc, err := config.NewRedisConn(urls["Redis (embedded)"])
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(client.Config{Redis: rc, Bots: []string{tasks.DefaultBot}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close() // on failure; closed before the goroutine count below
	rcpt, err := cl.SendMessage(ctx, &tasks.SendMessage{ChatID: telego.ChatID{ID: 42}, Text: "Hello from dev mode"})
	if err != nil {
		t.Fatal(err)
	}

	sb := sandbox.NewClient(urls["Telegram sandbox"], nil)
	wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
	defer wcancel()
	if err := sb.WaitFor(wctx, 1); err != nil {
		t.Fatalf("sandbox got nothing: %v", err)
	}
	msgs, err := sb.Messages(ctx, "42")
	if err != nil || len(msgs) != 1 || msgs[0].Text != "Hello from dev mode" {
		t.Fatalf("sandbox messages %+v, %v", msgs, err)
	}
	var st *client.Status
	for deadline := time.Now().Add(10 * time.Second); ; {
		st, err = cl.Status(ctx, rcpt.ID)
		if err == nil && st.State == "completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %+v, %v", st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.Result == nil || st.Result.MessageID != msgs[0].MessageID {
		t.Fatalf("result %+v, sandbox message id %d", st.Result, msgs[0].MessageID)
	}

	// The dashboard answers without credentials in dev mode.
	resp, err := http.Get(strings.TrimSuffix(urls["Dashboard"], "/") + "/api/queues")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("dashboard api: %s", resp.Status)
	}

	// One process: the worker's sender metrics and the queue gauges share
	// /metrics.
	base := strings.TrimSuffix(urls["Dashboard"], "/monitoring/")
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`telequeue_sends_total{bot="default",outcome="sent"} 1`, "telequeue_queue_size{queue=\"default\"}"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// The sandbox has no credentials: like the unauthenticated dashboard it
	// answers loopback hosts only and refuses cross-site POSTs.
	sandboxGuard := []struct {
		name   string
		method string
		header map[string]string
		want   int
	}{
		{"loopback read", http.MethodGet, nil, http.StatusOK},
		{"rebound host name", http.MethodGet, map[string]string{"Host": "evil.example"}, http.StatusForbidden},
		{"cross-site POST", http.MethodPost, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, http.StatusForbidden},
		{"foreign origin POST", http.MethodPost, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"POST without browser headers (the worker, curl)", http.MethodPost, nil, http.StatusNoContent},
	}
	for _, tt := range sandboxGuard {
		t.Run("sandbox "+tt.name, func(t *testing.T) {
			path := "/sandbox/stats"
			if tt.method == http.MethodPost {
				path = "/sandbox/reset"
			}
			req, err := http.NewRequest(tt.method, urls["Telegram sandbox"]+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				if k == "Host" {
					req.Host = v
				} else {
					req.Header.Set(k, v)
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("%s %s: %s, want %d", tt.method, path, resp.Status, tt.want)
			}
		})
	}

	cl.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("dev mode did not stop")
	}
	http.DefaultClient.CloseIdleConnections()
	for deadline := time.Now().Add(5 * time.Second); ourGoroutines() > goroutines; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left, %d before:\n%s", ourGoroutines(), goroutines, stacks())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ourGoroutines counts the goroutines that are not fasthttp's: its
// connection-pool cleaners end by themselves about 10s after the last
// connection closes, and its TCP dialer's address cleaner lives as long as
// the process.
func ourGoroutines() int {
	n := 0
	for _, g := range strings.Split(stacks(), "\n\n") {
		if !strings.Contains(g, "created by github.com/valyala/fasthttp.") {
			n++
		}
	}
	return n
}

func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
