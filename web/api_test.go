package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/telequeue/telequeue/internal/botreg"
	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/webapp"
	"github.com/telequeue/telequeue/web"
)

func TestAPIAuth(t *testing.T) {
	t.Parallel()
	on := setup(t, fullConfig())
	off := setup(t, web.Config{DashboardUser: testUser, DashboardPassword: testPassword})
	tests := []struct {
		name   string
		b      *bundle
		path   string
		header map[string]string
		want   int
		code   string
	}{
		{"no token", on, "/v1/stats", nil, http.StatusUnauthorized, web.CodeUnauthorized},
		{"wrong token", on, "/v1/stats", map[string]string{"Authorization": "Bearer nope"}, http.StatusUnauthorized, web.CodeUnauthorized},
		{"token prefix", on, "/v1/stats", map[string]string{"Authorization": "Bearer " + testToken[:4]}, http.StatusUnauthorized, web.CodeUnauthorized},
		{"basic instead of bearer", on, "/v1/stats", map[string]string{"Authorization": "Basic " + testToken}, http.StatusUnauthorized, web.CodeUnauthorized},
		{"empty bearer", on, "/v1/stats", map[string]string{"Authorization": "Bearer "}, http.StatusUnauthorized, web.CodeUnauthorized},
		{"right token", on, "/v1/stats", map[string]string{"Authorization": "Bearer " + testToken}, http.StatusOK, ""},
		{"lower-case scheme", on, "/v1/stats", map[string]string{"Authorization": "bearer " + testToken}, http.StatusOK, ""},
		{"unknown path needs the token too", on, "/v1/nothing", nil, http.StatusUnauthorized, web.CodeUnauthorized},
		{"unknown path", on, "/v1/nothing", map[string]string{"Authorization": "Bearer " + testToken}, http.StatusNotFound, web.CodeNotFound},
		{"API off", off, "/v1/stats", map[string]string{"Authorization": "Bearer " + testToken}, http.StatusNotFound, web.CodeAPIDisabled},
		{"API off, POST", off, "/v1/messages", nil, http.StatusNotFound, web.CodeAPIDisabled},
		{"OpenAPI document needs no token", on, "/v1/openapi.json", nil, http.StatusOK, ""},
		{"OpenAPI document with the API off", off, "/v1/openapi.json", nil, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := http.MethodGet
			if strings.HasSuffix(tt.path, "/messages") {
				method = http.MethodPost
			}
			r := tt.b.do(t, request{method: method, path: tt.path, header: tt.header})
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if tt.code != "" {
				if code, _, _ := r.apiError(t); code != tt.code {
					t.Errorf("code %q, want %q", code, tt.code)
				}
			}
			if tt.want == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	if !strings.Contains(off.logs.String(), "API disabled") {
		t.Errorf("no log line says the API is disabled:\n%s", off.logs.String())
	}
}

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	r := b.do(t, request{method: http.MethodGet, path: "/v1/openapi.json"})
	var doc struct {
		OpenAPI string                     `json:"openapi"`
		Paths   map[string]map[string]any  `json:"paths"`
		Comps   map[string]map[string]any  `json:"components"`
		Info    map[string]json.RawMessage `json:"info"`
	}
	r.json(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	for path, method := range map[string]string{
		"/v1/messages": "post", "/v1/messages/{id}": "get", "/v1/stats": "get", "/v1/openapi.json": "get",
		"/v1/methods/{method}": "post",
	} {
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("document lacks %s %s", method, path)
		}
	}
	// Every request field the API takes is documented.
	props := doc.Comps["schemas"]["MessageRequest"].(map[string]any)["properties"].(map[string]any)
	for _, f := range []string{"chat_id", "text", "bot", "parse_mode", "reply_markup", "priority", "send_at", "send_in"} {
		if _, ok := props[f]; !ok {
			t.Errorf("MessageRequest lacks %q", f)
		}
	}
}

func TestPostMessage(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	long := strings.Repeat("x", 4097)
	tests := []struct {
		name   string
		body   string
		header map[string]string
		want   int
		code   string
		field  string
		queue  string
	}{
		{"minimal", `{"chat_id": 42, "text": "hello"}`, nil, http.StatusAccepted, "", "", "default"},
		{"critical", `{"chat_id": 42, "text": "code 4242", "priority": "critical"}`, nil, http.StatusAccepted, "", "", "critical"},
		{"bulk to a channel with a bot", `{"bot": "alerts", "chat_id": "@news", "text": "<b>hi</b>", "parse_mode": "HTML", "priority": "bulk"}`, nil, http.StatusAccepted, "", "", "bulk"},
		{"keyboard", `{"chat_id": 42, "text": "pick", "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "a"}]]}}`, nil, http.StatusAccepted, "", "", "default"},
		{"send_in", `{"chat_id": 42, "text": "later", "send_in": "1h"}`, nil, http.StatusAccepted, "", "", "default"},
		{"send_at", `{"chat_id": 42, "text": "later", "send_at": "` + time.Now().AddDate(0, 6, 0).UTC().Format(time.RFC3339) + `"}`, nil, http.StatusAccepted, "", "", "default"},
		{"charset in content type", `{"chat_id": 42, "text": "hello"}`, map[string]string{"Content-Type": "application/json; charset=utf-8"}, http.StatusAccepted, "", "", "default"},

		{"empty text", `{"chat_id": 42, "text": ""}`, nil, http.StatusBadRequest, web.CodeInvalidField, "text", ""},
		{"blank text", `{"chat_id": 42, "text": "   "}`, nil, http.StatusBadRequest, web.CodeInvalidField, "text", ""},
		{"text too long", `{"chat_id": 42, "text": "` + long + `"}`, nil, http.StatusBadRequest, web.CodeInvalidField, "text", ""},
		{"no chat", `{"text": "hello"}`, nil, http.StatusBadRequest, web.CodeInvalidField, "chat_id", ""},
		{"bad username", `{"chat_id": "news", "text": "hello"}`, nil, http.StatusBadRequest, web.CodeInvalidField, "chat_id", ""},
		{"chat of the wrong type", `{"chat_id": true, "text": "hello"}`, nil, http.StatusBadRequest, web.CodeInvalidField, "chat_id", ""},
		{"text of the wrong type", `{"chat_id": 42, "text": 5}`, nil, http.StatusBadRequest, web.CodeInvalidField, "text", ""},
		{"unknown field", `{"chat_id": 42, "text": "hello", "txet": "typo"}`, nil, http.StatusBadRequest, web.CodeInvalidField, "txet", ""},
		{"bad parse mode", `{"chat_id": 42, "text": "hello", "parse_mode": "html5"}`, nil, http.StatusBadRequest, web.CodeInvalidField, "parse_mode", ""},
		{"unknown bot", `{"bot": "nobody", "chat_id": 42, "text": "hello"}`, nil, http.StatusBadRequest, web.CodeInvalidField, "bot", ""},
		{"bad keyboard", `{"chat_id": 42, "text": "hello", "reply_markup": {"buttons": []}}`, nil, http.StatusBadRequest, web.CodeInvalidField, "reply_markup", ""},
		{"bad priority", `{"chat_id": 42, "text": "hello", "priority": "urgent"}`, nil, http.StatusBadRequest, web.CodeInvalidField, "priority", ""},
		{"priority of the wrong type", `{"chat_id": 42, "text": "hello", "priority": 1}`, nil, http.StatusBadRequest, web.CodeInvalidField, "priority", ""},
		{"bad send_at", `{"chat_id": 42, "text": "hello", "send_at": "tomorrow"}`, nil, http.StatusBadRequest, web.CodeInvalidField, "send_at", ""},
		{"bad send_in", `{"chat_id": 42, "text": "hello", "send_in": "5 minutes"}`, nil, http.StatusBadRequest, web.CodeInvalidField, "send_in", ""},
		{"negative send_in", `{"chat_id": 42, "text": "hello", "send_in": "-5m"}`, nil, http.StatusBadRequest, web.CodeInvalidField, "send_in", ""},
		{"send_at and send_in", `{"chat_id": 42, "text": "hello", "send_at": "2099-01-01T00:00:00Z", "send_in": "5m"}`, nil, http.StatusBadRequest, web.CodeInvalidField, "send_in", ""},
		{"bad send_at and send_in", `{"chat_id": 42, "text": "hello", "send_at": "tomorrow", "send_in": "5m"}`, nil, http.StatusBadRequest, web.CodeInvalidField, "send_at", ""},
		{"long idempotency key", `{"chat_id": 42, "text": "hello"}`, map[string]string{"Idempotency-Key": strings.Repeat("k", 201)}, http.StatusBadRequest, web.CodeInvalidField, "Idempotency-Key", ""},
		{"not JSON", `chat_id=42&text=hello`, nil, http.StatusBadRequest, web.CodeMalformedJSON, "", ""},
		{"array", `[{"chat_id": 42, "text": "hello"}]`, nil, http.StatusBadRequest, web.CodeMalformedJSON, "", ""},
		{"null", `null`, nil, http.StatusBadRequest, web.CodeMalformedJSON, "", ""},
		{"empty body", ``, nil, http.StatusBadRequest, web.CodeMalformedJSON, "", ""},
		{"trailing data", `{"chat_id": 42, "text": "hello"} {}`, nil, http.StatusBadRequest, web.CodeMalformedJSON, "", ""},
		{"form content type", `{"chat_id": 42, "text": "hello"}`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType, web.CodeUnsupportedMedia, "", ""},
		{"text content type", `{"chat_id": 42, "text": "hello"}`, map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType, web.CodeUnsupportedMedia, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.post(t, tt.body, tt.header)
			r.wantAnswer(t, tt.want, tt.code, tt.field)
			if tt.want != http.StatusAccepted {
				return
			}
			var rc struct {
				ID          string    `json:"id"`
				Queue       string    `json:"queue"`
				ScheduledAt time.Time `json:"scheduled_at"`
			}
			r.json(t, &rc)
			if rc.ID == "" || rc.Queue != tt.queue {
				t.Errorf("receipt %s, want an id and queue %q", r.body, tt.queue)
			}
			if loc := r.header.Get("Location"); loc != "/v1/messages/"+rc.ID {
				t.Errorf("Location = %q", loc)
			}
			if strings.Contains(tt.body, "send_") && rc.ScheduledAt.Before(time.Now().Add(30*time.Minute)) {
				t.Errorf("scheduled_at = %v, want about an hour or more ahead", rc.ScheduledAt)
			}
			st := b.get(t, "/v1/messages/"+rc.ID)
			var s struct{ State string }
			st.json(t, &s)
			wantState := "pending"
			if strings.Contains(tt.body, "send_") {
				wantState = "scheduled"
			}
			if s.State != wantState {
				t.Errorf("state %q, want %q", s.State, wantState)
			}
		})
	}
}

func TestPostMessageDuplicate(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	key := map[string]string{"Idempotency-Key": "order-1234-shipped"}
	first := b.post(t, `{"chat_id": 42, "text": "shipped", "priority": "critical"}`, key)
	if first.status != http.StatusAccepted {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	var rc struct{ ID, Queue string }
	first.json(t, &rc)

	// Same key, even with another body or priority: the first task wins.
	for _, body := range []string{
		`{"chat_id": 42, "text": "shipped", "priority": "critical"}`,
		`{"chat_id": 43, "text": "other"}`,
	} {
		r := b.post(t, body, key)
		if r.status != http.StatusConflict {
			t.Fatalf("second: status %d, want 409: %s", r.status, r.body)
		}
		code, _, id := r.apiError(t)
		if code != web.CodeDuplicate || id != rc.ID {
			t.Errorf("409 body %s: want code duplicate and id %s", r.body, rc.ID)
		}
		var e struct{ Error struct{ Queue string } }
		r.json(t, &e)
		if e.Error.Queue != "critical" {
			t.Errorf("409 queue %q, want critical", e.Error.Queue)
		}
	}
	// Another key queues.
	if r := b.post(t, `{"chat_id": 42, "text": "shipped"}`, map[string]string{"Idempotency-Key": "order-1235-shipped"}); r.status != http.StatusAccepted {
		t.Errorf("other key: %d %s", r.status, r.body)
	}
}

func TestPostMessageTooLarge(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	tests := []struct {
		name string
		size int
		want int
	}{
		{"10 MB", 10 << 20, http.StatusRequestEntityTooLarge},
		{"just over 64 KiB", web.MaxBodyBytes + 1, http.StatusRequestEntityTooLarge},
		// Exactly 64 KiB is read; the text is then too long for Telegram.
		{"exactly 64 KiB", web.MaxBodyBytes, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix, suffix := `{"chat_id": 42, "text": "`, `"}`
			body := prefix + strings.Repeat("a", tt.size-len(prefix)-len(suffix)) + suffix
			r := b.post(t, body, nil)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %.200s", r.status, tt.want, r.body)
			}
			if tt.want == http.StatusRequestEntityTooLarge {
				if code, _, _ := r.apiError(t); code != web.CodeTooLarge {
					t.Errorf("code %q, want %q", code, web.CodeTooLarge)
				}
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	tests := []struct{ method, path, allow string }{
		{http.MethodGet, "/v1/messages", "POST"},
		{http.MethodDelete, "/v1/messages/abc", "GET"},
		{http.MethodPost, "/v1/stats", "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := b.do(t, request{method: tt.method, path: tt.path, token: testToken})
			if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != tt.allow {
				t.Fatalf("status %d Allow %q, want 405 %q", r.status, r.header.Get("Allow"), tt.allow)
			}
			if code, _, _ := r.apiError(t); code != web.CodeMethodNotAllowed {
				t.Errorf("code %q", code)
			}
		})
	}
}

func TestMessageLifecycleAndStats(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())

	send := func(body string) string {
		t.Helper()
		r := b.post(t, body, nil)
		if r.status != http.StatusAccepted {
			t.Fatalf("POST %s: %d %s", body, r.status, r.body)
		}
		var rc struct{ ID string }
		r.json(t, &rc)
		return rc.ID
	}
	okID := send(`{"chat_id": 42, "text": "hello"}`)
	blockedID := send(`{"chat_id": 43, "text": "blocked"}`)
	send(`{"chat_id": 44, "text": "later", "send_in": "1h", "priority": "bulk"}`)

	// Before any worker runs: two pending, one scheduled, no servers.
	var st web.Stats
	r := b.get(t, "/v1/stats")
	if r.status != http.StatusOK {
		t.Fatalf("stats: %d %s", r.status, r.body)
	}
	r.json(t, &st)
	if q := findQueue(t, st, "default"); q.Pending != 2 || q.Size != 2 {
		t.Errorf("default before: %+v, want 2 pending", q)
	}
	if q := findQueue(t, st, "bulk"); q.Scheduled != 1 {
		t.Errorf("bulk: %+v, want 1 scheduled", q)
	}
	if q := findQueue(t, st, "critical"); q != (web.QueueStats{Queue: "critical"}) {
		t.Errorf("unused critical queue: %+v, want zeros", q)
	}
	if len(st.Servers) != 0 || st.TotalWorkers != 0 {
		t.Errorf("servers before any worker: %+v", st.Servers)
	}

	startWorker(t, b.opt, 3)
	sent := b.waitState(t, okID, "completed")
	if sent["message_id"] != float64(4711) {
		t.Errorf("sent message: %v, want message_id 4711", sent)
	}
	if sent["bot"] != "default" || sent["chat_id"] != float64(42) || sent["attempts"] != float64(0) {
		t.Errorf("sent message: %v", sent)
	}
	archived := b.waitState(t, blockedID, "archived")
	if le, _ := archived["last_error"].(string); !strings.Contains(le, blockedError) {
		t.Errorf("archived last_error = %q, want %q", le, blockedError)
	}
	if _, ok := archived["message_id"]; ok {
		t.Errorf("archived message has a message_id: %v", archived)
	}
	if _, ok := archived["text"]; ok {
		t.Errorf("status shows the text: %v", archived)
	}

	eventually(t, "stats to show the worker's results", func() bool {
		r := b.get(t, "/v1/stats")
		st = web.Stats{}
		r.json(t, &st)
		q := findQueue(t, st, "default")
		// One process: its server and its callback lane (4 senders).
		return q.ProcessedTotal == 2 && q.FailedTotal == 1 && q.Archived == 1 && q.Completed == 1 && len(st.Servers) == 1 &&
			st.Servers[0].CallbackConcurrency == 4 && st.CallbackWorkers == 4
	})
	q := findQueue(t, st, "default")
	if q.Pending != 0 || q.ProcessedToday != 2 || q.FailedToday != 1 {
		t.Errorf("default after: %+v", q)
	}
	if st.Totals.ProcessedTotal != 2 || st.Totals.Archived != 1 || st.Totals.Scheduled != 1 || st.Totals.Queue != "all" {
		t.Errorf("totals: %+v", st.Totals)
	}
	srv := st.Servers[0]
	if srv.Concurrency != 3 || st.TotalWorkers != 3 || srv.Queues["critical"] != 6 || srv.PID == 0 || srv.Status != "active" {
		t.Errorf("servers: %+v, total workers %d", st.Servers, st.TotalWorkers)
	}

	// Unknown ids.
	for _, id := range []string{"nope", "..", "a%2Fb"} {
		r := b.get(t, "/v1/messages/"+id)
		if r.status != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404: %s", id, r.status, r.body)
		}
	}

	// The dashboard shows the archived message with its error, and the
	// formatted payload only.
	r = b.do(t, request{method: http.MethodGet, path: "/monitoring/api/queues/default/archived_tasks", user: testUser, pass: testPassword})
	if !strings.Contains(string(r.body), blockedError) || !strings.Contains(string(r.body), `\"chat\":\"43\"`) {
		t.Errorf("archived tasks in the dashboard API: %s", r.body)
	}
	r = b.do(t, request{method: http.MethodGet, path: "/monitoring/api/queues/default/completed_tasks", user: testUser, pass: testPassword})
	if !strings.Contains(string(r.body), `{\"message_id\":4711}`) {
		t.Errorf("completed tasks in the dashboard API lack the message_id: %s", r.body)
	}
}

func findQueue(t *testing.T, st web.Stats, name string) web.QueueStats {
	t.Helper()
	for _, q := range st.Queues {
		if q.Queue == name {
			return q
		}
	}
	t.Fatalf("no queue %q in %+v", name, st.Queues)
	return web.QueueStats{}
}

func TestRedisDown(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	r := b.post(t, `{"chat_id": 42, "text": "before"}`, nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	var rc struct{ ID string }
	r.json(t, &rc)
	if r := b.do(t, request{method: http.MethodGet, path: "/readyz"}); r.status != http.StatusOK {
		t.Fatalf("readyz before: %d", r.status)
	}

	b.redis.Kill()

	tests := []struct {
		name string
		rq   request
		want int
	}{
		{"POST message", request{method: http.MethodPost, path: "/v1/messages", body: strings.NewReader(`{"chat_id": 42, "text": "hello"}`),
			header: map[string]string{"Content-Type": "application/json"}, token: testToken}, http.StatusServiceUnavailable},
		{"GET message", request{method: http.MethodGet, path: "/v1/messages/" + rc.ID, token: testToken}, http.StatusServiceUnavailable},
		{"GET stats", request{method: http.MethodGet, path: "/v1/stats", token: testToken}, http.StatusServiceUnavailable},
		{"readyz", request{method: http.MethodGet, path: "/readyz"}, http.StatusServiceUnavailable},
		{"healthz", request{method: http.MethodGet, path: "/healthz"}, http.StatusOK},
		{"metrics still served", request{method: http.MethodGet, path: "/metrics"}, http.StatusOK},
		{"invalid input is still a 400", request{method: http.MethodPost, path: "/v1/messages", body: strings.NewReader(`{"chat_id": 42}`),
			header: map[string]string{"Content-Type": "application/json"}, token: testToken}, http.StatusBadRequest},
		{"POST call", request{method: http.MethodPost, path: "/v1/methods/sendDice", body: strings.NewReader(`{"chat_id": 42}`),
			header: map[string]string{"Content-Type": "application/json"}, token: testToken}, http.StatusServiceUnavailable},
		{"POST call with an upload", request{method: http.MethodPost, path: "/v1/methods/sendDocument",
			body:   strings.NewReader("--b\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n42\r\n--b\r\nContent-Disposition: form-data; name=\"document\"; filename=\"a.txt\"\r\n\r\nhello\r\n--b--\r\n"),
			header: map[string]string{"Content-Type": "multipart/form-data; boundary=b"}, token: testToken}, http.StatusServiceUnavailable},
		{"an invalid call is still a 400", request{method: http.MethodPost, path: "/v1/methods/sendPhoto", body: strings.NewReader(`{"chat_id": 42}`),
			header: map[string]string{"Content-Type": "application/json"}, token: testToken}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.do(t, tt.rq)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.body)
			}
			if tt.want == http.StatusServiceUnavailable {
				if r.header.Get("Retry-After") == "" {
					t.Errorf("503 without Retry-After")
				}
				if strings.HasPrefix(tt.rq.path, "/v1/") {
					if code, _, _ := r.apiError(t); code != web.CodeUnavailable {
						t.Errorf("code %q, want %q", code, web.CodeUnavailable)
					}
				}
			}
		})
	}
	r = b.do(t, request{method: http.MethodGet, path: "/metrics"})
	if !strings.Contains(string(r.body), "telequeue_queue_inspector_up 0") {
		t.Errorf("/metrics with Redis down lacks telequeue_queue_inspector_up 0")
	}

	// Redis comes back on the same port: the same web server recovers.
	if err := b.redis.Restart(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "readyz to turn 200", func() bool {
		return b.do(t, request{method: http.MethodGet, path: "/readyz"}).status == http.StatusOK
	})
	// The client's connection pool, which saw the failed calls too, may
	// wait for its next background dial (go-redis tries once a second
	// after a run of dial errors).
	eventually(t, "POST to be accepted after the restart", func() bool {
		return b.post(t, `{"chat_id": 42, "text": "after"}`, nil).status == http.StatusAccepted
	})
}

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	if r := b.post(t, `{"chat_id": 42, "text": "hello", "priority": "critical"}`, nil); r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	tests := []struct {
		path string
		want []string
	}{
		{"/healthz", []string{"ok"}},
		{"/readyz", []string{"ok"}},
		{"/metrics", []string{
			`telequeue_queue_inspector_up 1`,
			`telequeue_queue_size{queue="critical"} 1`,
			`telequeue_queue_tasks{queue="critical",state="pending"} 1`,
			`telequeue_queue_tasks{queue="default",state="archived"} 0`,
			`telequeue_queue_latency_seconds{queue="critical"}`,
			`telequeue_queue_paused{queue="bulk"} 0`,
			`telequeue_tasks_processed_total{queue="critical"} 0`,
			`telequeue_tasks_failed_total{queue="critical"} 0`,
		}},
		{"/", []string{"/monitoring/", "/v1/openapi.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := b.do(t, request{method: http.MethodGet, path: tt.path})
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(r.body), w) {
					t.Errorf("%s lacks %q", tt.path, w)
				}
			}
		})
	}
}

func TestNewConfig(t *testing.T) {
	t.Parallel()
	rc, err := config.NewRedisConn("redis://127.0.0.1:1/0")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     web.Config
		wantErr string
	}{
		{"no redis", web.Config{}, "Redis is required"},
		{"token without client", web.Config{Redis: rc, APIToken: "x"}, "Client is required"},
		{"negative text chars", web.Config{Redis: rc, DashboardTextChars: -1}, "DashboardTextChars"},
		{"minimal", web.Config{Redis: rc}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := web.New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				_ = s.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestRunListener runs web the way cmd/web does, from environment
// variables, and shuts it down by cancelling the context.
func TestRunListener(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.Start(t)
	rs := redisSrv.URL()
	// No TELEGRAM_BOTS: web checks bot names against the workers' registry.
	if err := botreg.Announce(testCtx(t), redisSrv.Client(t), []string{"default"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"REDIS_URL": rs, "DASHBOARD_USER": testUser, "DASHBOARD_PASSWORD": testPassword,
		"API_TOKEN": testToken, "LOG_LEVEL": "debug",
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, true)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- webapp.RunListener(ctx, cfg, ln, nil) }()

	base := "http://" + ln.Addr().String()
	eventually(t, "web to answer", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", bytes.NewBufferString(`{"chat_id": 1, "text": "hi"}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("POST: %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunListener: %v", err)
		}
	case <-time.After(web.ShutdownTimeout + 5*time.Second):
		t.Fatal("RunListener did not return after cancel")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("still serving after shutdown")
	}
}

// TestSharedRegistry builds two servers on one registry, as dev mode shares
// one between worker and web: the second must not fail, and the queue
// series must appear once.
func TestSharedRegistry(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	rc, err := config.NewRedisConn(b.redis.URL())
	if err != nil {
		t.Fatal(err)
	}
	second, err := web.New(web.Config{Redis: rc, Registry: b.reg})
	if err != nil {
		t.Fatalf("second web.New on the same registry: %v", err)
	}
	defer second.Close()
	r := b.do(t, request{method: http.MethodGet, path: "/metrics"})
	if r.status != http.StatusOK {
		t.Fatalf("/metrics: %d %s", r.status, r.body)
	}
	if n := strings.Count(string(r.body), "\ntelequeue_queue_inspector_up "); n != 1 {
		t.Errorf("telequeue_queue_inspector_up appears %d times, want 1", n)
	}
}
