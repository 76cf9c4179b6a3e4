package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/tasks"
	"github.com/telequeue/telequeue/web"
)

// TestMain silences go-redis's own logger, which prints every failed dial
// while tests stop Redis on purpose.
func TestMain(m *testing.M) {
	redis.SetLogger(quietRedis{})
	os.Exit(redistest.Main(m, &redisAddr)) // for the Examples (example_test.go)
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

const (
	testUser     = "ops"
	testPassword = "correct horse battery staple"
	testToken    = "s3cr3t-api-token"
	// blockedError is what the test worker answers for text "blocked", as
	// the real handler does for a 403 from Telegram.
	blockedError = "Forbidden: bot was blocked by the user"
)

// bundle is one test's web server on its own redis-server.
type bundle struct {
	redis  *redistest.Server
	opt    asynq.RedisClientOpt
	client *client.Client
	web    *web.Server
	ts     *httptest.Server
	reg    *prometheus.Registry
	logs   *syncBuffer
}

// setup starts redis-server and web with cfg; Redis, Client, Registry and
// Logger are filled in when unset. The client's configuration, made here,
// passes through each of clientCfg first.
func setup(t *testing.T, cfg web.Config, clientCfg ...func(*client.Config)) *bundle {
	t.Helper()
	rs := redistest.Start(t)
	rc, err := config.NewRedisConn(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	cc := client.Config{Redis: rc, Bots: []string{"default", "alerts"}}
	for _, f := range clientCfg {
		f(&cc)
	}
	c, err := client.New(cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	b := &bundle{redis: rs, opt: asynq.RedisClientOpt{Addr: rs.Addr()}, client: c, logs: &syncBuffer{}}
	if cfg.Redis == nil {
		cfg.Redis = rc
	}
	if cfg.Client == nil {
		cfg.Client = c
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	b.reg = cfg.Registry
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = time.Second
	}
	w, err := web.New(cfg)
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	b.web = w
	b.ts = httptest.NewServer(w.Handler())
	t.Cleanup(func() {
		b.ts.Close()
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// fullConfig has the dashboard and the API on.
func fullConfig() web.Config {
	return web.Config{
		DashboardUser: testUser, DashboardPassword: testPassword, DashboardTextChars: 64,
		APIToken: testToken,
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// request is one HTTP request of a test.
type request struct {
	method, path string
	body         io.Reader
	header       map[string]string
	user, pass   string // Basic credentials when user != ""
	token        string // Bearer token when set
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// wantAnswer fails t unless r has status want and, when that is an error,
// the API error code and field.
func (r *response) wantAnswer(t *testing.T, want int, code, field string) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
	if want < http.StatusBadRequest {
		return
	}
	if gotCode, gotField, _ := r.apiError(t); gotCode != code || gotField != field {
		t.Errorf("error code %q field %q, want %q %q: %s", gotCode, gotField, code, field, r.body)
	}
}

// apiError decodes {"error": {...}}.
func (r *response) apiError(t *testing.T) (code, field, id string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Field, Message, ID, Queue string }
	}
	r.json(t, &e)
	if e.Error.Message == "" {
		t.Errorf("error without message: %s", r.body)
	}
	return e.Error.Code, e.Error.Field, e.Error.ID
}

func (b *bundle) do(t *testing.T, rq request) *response {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), rq.method, b.ts.URL+rq.path, rq.body)
	if err != nil {
		t.Fatal(err)
	}
	if rq.user != "" {
		req.SetBasicAuth(rq.user, rq.pass)
	}
	if rq.token != "" {
		req.Header.Set("Authorization", "Bearer "+rq.token)
	}
	for k, v := range rq.header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := b.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", rq.method, rq.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", rq.method, rq.path, err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body}
}

// postJSON sends a JSON body to path with the API token; header adds to or
// overrides Content-Type: application/json.
func (b *bundle) postJSON(t *testing.T, path, body string, header map[string]string) *response {
	t.Helper()
	h := map[string]string{"Content-Type": "application/json"}
	maps.Copy(h, header)
	return b.do(t, request{method: http.MethodPost, path: path, body: strings.NewReader(body), header: h, token: testToken})
}

// post sends POST /v1/messages.
func (b *bundle) post(t *testing.T, body string, header map[string]string) *response {
	t.Helper()
	return b.postJSON(t, "/v1/messages", body, header)
}

func (b *bundle) get(t *testing.T, path string) *response {
	t.Helper()
	return b.do(t, request{method: http.MethodGet, path: path, token: testToken})
}

// startWorker runs an asynq server standing in for telequeue's worker: text
// "blocked" fails permanently with Telegram's 403 text, anything else is
// "sent" with message_id 4711.
func startWorker(t *testing.T, opt asynq.RedisConnOpt, concurrency int) {
	t.Helper()
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency:              concurrency,
		Queues:                   map[string]int{tasks.QueueCritical: 6, tasks.QueueDefault: 3, tasks.QueueBulk: 1},
		TaskCheckInterval:        20 * time.Millisecond,
		DelayedTaskCheckInterval: 100 * time.Millisecond,
		ShutdownTimeout:          2 * time.Second,
		LogLevel:                 asynq.FatalLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(tasks.TypeSendMessage, func(_ context.Context, task *asynq.Task) error {
		m, err := tasks.ParseSendMessage(task.Payload())
		if err != nil {
			return fmt.Errorf("%v: %w", err, asynq.SkipRetry)
		}
		if m.Text == "blocked" {
			return fmt.Errorf("%s: %w", blockedError, asynq.SkipRetry)
		}
		res, err := json.Marshal(tasks.SendResult{MessageID: 4711, ChatID: m.ChatID.ID})
		if err != nil {
			return err
		}
		_, err = task.ResultWriter().Write(res)
		return err
	})
	if err := srv.Start(mux); err != nil {
		t.Fatalf("start asynq server: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	// And its callback lane, as server.Server runs one beside it.
	lane := asynq.NewServer(opt, asynq.Config{
		Concurrency: 4, Queues: map[string]int{tasks.QueueCallbacks: 1},
		TaskCheckInterval: 20 * time.Millisecond, ShutdownTimeout: 2 * time.Second, LogLevel: asynq.FatalLevel,
	})
	if err := lane.Start(asynq.NewServeMux()); err != nil {
		t.Fatalf("start the callback lane: %v", err)
	}
	t.Cleanup(lane.Shutdown)
}

// eventually polls cond every 20ms for up to 15s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitState polls GET /v1/messages/{id} until the message reaches state.
func (b *bundle) waitState(t *testing.T, id, state string) map[string]any {
	t.Helper()
	var last map[string]any
	eventually(t, "message "+id+" to be "+state, func() bool {
		r := b.get(t, "/v1/messages/"+id)
		if r.status != http.StatusOK {
			t.Fatalf("GET message: %d %s", r.status, r.body)
		}
		last = map[string]any{}
		r.json(t, &last)
		return last["state"] == state
	})
	return last
}
