package web_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/workertest"
	"github.com/telequeue/telequeue/web"
)

// TestPostFarFuture: a send time beyond the client's horizon is a 400
// naming the field, with or without an Idempotency-Key (whose TTL used to
// overflow into a 500), on every endpoint that schedules.
func TestPostFarFuture(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	bodies := map[string]string{
		"/v1/messages":   `{"chat_id": 42, "text": "hi", %s}`,
		"/v1/replies":    `{"chat_id": 42, "parts": [{"text": "a"}, {"text": "b"}], %s}`,
		"/v1/broadcasts": `{"chat_ids": [1, 2], "text": "hi", %s}`,
	}
	tests := []struct {
		name, field, when string
		key               bool
	}{
		{"year 9999", "send_at", `"send_at": "9999-12-31T23:59:59Z"`, false},
		{"year 9999 with a key", "send_at", `"send_at": "9999-12-31T23:59:59Z"`, true},
		{"2562047h", "send_in", `"send_in": "2562047h"`, false},
		{"2562047h with a key", "send_in", `"send_in": "2562047h"`, true},
		{"367 days", "send_in", `"send_in": "8808h"`, true},
	}
	for path, body := range bodies {
		for _, tt := range tests {
			t.Run(path+"/"+tt.name, func(t *testing.T) {
				var header map[string]string
				if tt.key {
					header = map[string]string{"Idempotency-Key": "far-" + path + tt.name}
				}
				r := b.postJSON(t, path, strings.Replace(body, "%s", tt.when, 1), header)
				r.wantAnswer(t, http.StatusBadRequest, web.CodeInvalidField, tt.field)
				if !strings.Contains(string(r.body), `"message":"`+tt.field+": ") {
					t.Errorf("message does not start with the field: %s", r.body)
				}
			})
		}
	}
}

// TestPostBotRegistry: a web server whose client has no bot list takes
// the bot names from the running workers: refused (400 naming "bot")
// before any worker runs, accepted once the real worker wiring registered
// its bot, refused for other names.
func TestPostBotRegistry(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	rc, err := config.NewRedisConn(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Redis: rc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	w, err := web.New(web.Config{Redis: rc, Client: c, APIToken: testToken, Registry: prometheus.NewRegistry(),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{redis: rs, client: c, web: w, ts: httptest.NewServer(w.Handler())}
	t.Cleanup(func() {
		b.ts.Close()
		_ = w.Close()
	})
	requests := map[string]string{
		"/v1/messages":   `{"bot": %q, "chat_id": 42, "text": "hi"}`,
		"/v1/replies":    `{"bot": %q, "chat_id": 42, "parts": [{"text": "a"}, {"text": "b"}]}`,
		"/v1/broadcasts": `{"bot": %q, "chat_ids": [1, 2], "text": "hi"}`,
	}
	post := func(t *testing.T, path, bot string) *response {
		return b.postJSON(t, path, strings.Replace(requests[path], "%q", `"`+bot+`"`, 1), nil)
	}
	for path := range requests {
		r := post(t, path, "default")
		r.wantAnswer(t, http.StatusBadRequest, web.CodeInvalidField, "bot")
		if !strings.Contains(string(r.body), "no worker has registered") {
			t.Errorf("%s before any worker: %s", path, r.body)
		}
	}

	workertest.Start(t, map[string]string{"REDIS_URL": rs.URL(), "TELEGRAM_BOT_TOKEN": sandboxToken, "TELEGRAM_API_URL": "http://127.0.0.1:1"})
	eventually(t, "the worker to register its bot", func() bool {
		return post(t, "/v1/messages", "default").status == http.StatusAccepted
	})
	for path := range requests {
		if r := post(t, path, "default"); r.status != http.StatusAccepted {
			t.Errorf("%s for the registered bot: %d %s", path, r.status, r.body)
		}
		post(t, path, "marketing").wantAnswer(t, http.StatusBadRequest, web.CodeInvalidField, "bot")
	}
}
