package redisha

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/proctest"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
)

// testToken is a well-formed bot token; the sandbox accepts any such token.
const testToken = "123456789:TESTTOKENtesttokenTESTTOKENtesttoke"

func TestMain(m *testing.M) {
	// go-redis logs every failed dial; failovers and kills make many.
	redis.SetLogger(quietRedis{})
	os.Exit(proctest.Run(m))
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// env is a process environment: variable → value.
type env map[string]string

func (e env) lookup(k string) (string, bool) { v, ok := e[k]; return v, ok }

// with returns a copy of e with the given key/value pairs set.
func (e env) with(kv ...string) env {
	out := env{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// baseEnv is the worker/web environment shared by the scenarios: one bot
// talking to the sandbox, fast polling, quiet logs.
func baseEnv(sandboxURL string) env {
	return env{
		"TELEGRAM_BOT_TOKEN":          testToken,
		"TELEGRAM_API_URL":            sandboxURL,
		"TELEGRAM_TIMEOUT":            "5s",
		"WORKER_CONCURRENCY":          "10",
		"TASK_CHECK_INTERVAL":         "50ms",
		"DELAYED_TASK_CHECK_INTERVAL": "200ms",
		"SHUTDOWN_TIMEOUT":            "3s",
		"LOG_LEVEL":                   "info",
		"LOG_FORMAT":                  "text",
		// The sandbox enforces no limits unless a test sets them.
		"TELEGRAM_RATE_GLOBAL": "0",
		"TELEGRAM_RATE_CHAT":   "0",
		"TELEGRAM_RATE_GROUP":  "0",
		"TELEGRAM_RATE_PAID":   "0",
	}
}

// startSandbox serves the Bot API sandbox on loopback until the test ends.
func startSandbox(t *testing.T, cfg sandbox.Config) *sandbox.Sandbox {
	t.Helper()
	sb, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	return sb
}

// logBuffer collects a component's logs; they are printed if the test fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// dumpOnFailure prints logs at the end of a failed test.
func dumpOnFailure(t *testing.T, name string, l *logBuffer) {
	t.Cleanup(func() {
		if t.Failed() {
			s := l.String()
			if len(s) > 20000 {
				s = "…" + s[len(s)-20000:]
			}
			t.Logf("%s logs:\n%s", name, s)
		}
	})
}

const (
	workerPkg = "./cmd/worker"
	webPkg    = "./cmd/web"
)

// list returns e as KEY=value pairs for a process.
func (e env) list() []string {
	out := make([]string, 0, len(e))
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// startWorker runs cmd/worker configured by e and waits until asynq
// processes; the process is killed when the test ends.
func startWorker(t *testing.T, name string, e env) *proctest.Process {
	t.Helper()
	p := proctest.Start(t, proctest.Binary(t, workerPkg), proctest.Options{Name: name, Env: e.list()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitLog(ctx, "Starting processing"); err != nil {
		t.Fatal(err)
	}
	return p
}

// startWeb runs cmd/web configured by e on a free port and waits for
// /healthz; it returns the process and its base URL.
func startWeb(t *testing.T, name string, e env) (*proctest.Process, string) {
	t.Helper()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p := proctest.Start(t, proctest.Binary(t, webPkg), proctest.Options{Name: name, Env: e.with("PORT", strconv.Itoa(port)).list()})
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, base
			}
		}
		if !p.Running() || time.Now().After(deadline) {
			t.Fatalf("web did not come up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newClient returns a client configured by e, as the web process builds it.
func newClient(t *testing.T, e env) *client.Client {
	t.Helper()
	cfg, err := config.Load(e.lookup, true)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfg.Redis()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Redis: rc, Bots: cfg.BotNames(), Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// seqText is the text of message n.
func seqText(n int) string { return fmt.Sprintf("msg %06d", n) }

// redistestClient is a plain client of one node.
func redistestClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr})
}

// redisUniversal builds a client from options.
func redisUniversal(o *redis.UniversalOptions) redis.UniversalClient {
	return redis.NewUniversalClient(o)
}
