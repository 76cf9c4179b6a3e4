package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/telequeue/telequeue/tasks"
	"github.com/telequeue/telequeue/web"
)

func TestDashboardAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	tests := []struct {
		name       string
		path       string
		user, pass string
		want       int
	}{
		{"no credentials", "/monitoring/", "", "", http.StatusUnauthorized},
		{"wrong password", "/monitoring/", testUser, "wrong", http.StatusUnauthorized},
		{"wrong user", "/monitoring/", "admin", testPassword, http.StatusUnauthorized},
		{"password prefix", "/monitoring/", testUser, testPassword[:5], http.StatusUnauthorized},
		{"no credentials, API", "/monitoring/api/queues", "", "", http.StatusUnauthorized},
		{"no credentials, SPA route", "/monitoring/queues/default?status=archived", "", "", http.StatusUnauthorized},
		{"right", "/monitoring/", testUser, testPassword, http.StatusOK},
		{"right, API", "/monitoring/api/queues", testUser, testPassword, http.StatusOK},
		{"right, SPA route", "/monitoring/queues/default?status=archived", testUser, testPassword, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.do(t, request{method: http.MethodGet, path: tt.path, user: tt.user, pass: tt.pass})
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %.200s", r.status, tt.want, r.body)
			}
			if tt.want == http.StatusUnauthorized {
				if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic ") {
					t.Errorf("WWW-Authenticate = %q, want Basic", got)
				}
				if strings.Contains(string(r.body), "asynqmon") || strings.Contains(string(r.body), "queues") {
					t.Errorf("401 body leaks dashboard content: %s", r.body)
				}
			}
		})
	}
	r := b.do(t, request{method: http.MethodGet, path: "/monitoring/", user: testUser, pass: testPassword})
	if !strings.Contains(string(r.body), "Asynq - Monitoring") || !strings.Contains(string(r.body), "/monitoring/favicon.ico") {
		t.Errorf("dashboard index is not Asynqmon's rooted at /monitoring: %.300s", r.body)
	}
	if r.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("X-Frame-Options = %q, want DENY", r.header.Get("X-Frame-Options"))
	}
}

func TestDashboardDisabled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		user, pass string
		reason     string
	}{
		{"no credentials", "", "", "DASHBOARD_USER and DASHBOARD_PASSWORD are not set"},
		{"user only", testUser, "", "DASHBOARD_PASSWORD is not set"},
		{"password only", "", testPassword, "DASHBOARD_USER is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, web.Config{DashboardUser: tt.user, DashboardPassword: tt.pass})
			for _, path := range []string{"/monitoring/", "/monitoring/api/queues"} {
				r := b.do(t, request{method: http.MethodGet, path: path, user: tt.user, pass: tt.pass})
				if r.status != http.StatusNotFound {
					t.Errorf("GET %s: status %d, want 404", path, r.status)
				}
				if !strings.Contains(string(r.body), tt.reason) {
					t.Errorf("GET %s: body %q does not say %q", path, r.body, tt.reason)
				}
			}
			r := b.do(t, request{method: http.MethodPost, path: "/monitoring/api/queues/default:pause"})
			if r.status != http.StatusNotFound {
				t.Errorf("POST pause: status %d, want 404", r.status)
			}
			logs := b.logs.String()
			if n := strings.Count(logs, "dashboard disabled"); n != 1 {
				t.Errorf("%d log lines say the dashboard is disabled, want 1:\n%s", n, logs)
			}
			if !strings.Contains(logs, tt.reason) {
				t.Errorf("log does not give the reason %q:\n%s", tt.reason, logs)
			}
			if strings.Contains(logs, testPassword) {
				t.Errorf("log contains the password:\n%s", logs)
			}
		})
	}
}

func TestDashboardReadOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		readOnly bool
		want     int
		paused   bool
	}{
		{"read-only", true, http.StatusMethodNotAllowed, false},
		{"read-write", false, http.StatusNoContent, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := fullConfig()
			cfg.DashboardReadOnly = tt.readOnly
			b := setup(t, cfg)
			if r := b.post(t, `{"chat_id": 42, "text": "hello"}`, nil); r.status != http.StatusAccepted {
				t.Fatalf("POST message: %d %s", r.status, r.body)
			}
			r := b.do(t, request{method: http.MethodPost, path: "/monitoring/api/queues/default:pause", user: testUser, pass: testPassword})
			if r.status != tt.want {
				t.Fatalf("POST pause: status %d, want %d: %s", r.status, tt.want, r.body)
			}
			r = b.do(t, request{method: http.MethodGet, path: "/monitoring/api/queues/default", user: testUser, pass: testPassword})
			if r.status != http.StatusOK {
				t.Fatalf("GET queue: %d %s", r.status, r.body)
			}
			var q struct {
				Current struct {
					Paused bool `json:"paused"`
				} `json:"current"`
			}
			r.json(t, &q)
			if q.Current.Paused != tt.paused {
				t.Errorf("paused = %v, want %v", q.Current.Paused, tt.paused)
			}
		})
	}
}

func TestDashboardCrossOrigin(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	tests := []struct {
		name   string
		queue  string
		header map[string]string
		want   int
	}{
		{"cross-site fetch", "q1", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, http.StatusForbidden},
		{"foreign origin", "q2", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"same origin", "q3", map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusNoContent},
		{"no browser headers (curl)", "q4", nil, http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.do(t, request{method: http.MethodPost, path: "/monitoring/api/queues/" + tt.queue + ":pause",
				user: testUser, pass: testPassword, header: tt.header})
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.body)
			}
		})
	}
}

func TestDashboardNoAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, web.Config{DashboardNoAuth: true, DashboardTextChars: 64})
	tests := []struct {
		name string
		host string
		want int
	}{
		{"loopback", "", http.StatusOK},
		{"localhost", "localhost", http.StatusOK},
		{"rebound host name", "evil.example", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h map[string]string
			if tt.host != "" {
				h = map[string]string{"Host": tt.host}
			}
			r := b.do(t, request{method: http.MethodGet, path: "/monitoring/api/queues", header: h})
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.body)
			}
		})
	}
	if !strings.Contains(b.logs.String(), "WITHOUT authentication") {
		t.Errorf("no warning about the unauthenticated dashboard:\n%s", b.logs.String())
	}
}

func TestPayloadFormatter(t *testing.T) {
	t.Parallel()
	const payload = `{"v":1,"bot":"alerts","chat_id":-1001234567890,"text":"Привет, <b>world</b>! Secret code 4242",` +
		`"parse_mode":"HTML","reply_markup":{"inline_keyboard":[[{"text":"open","url":"https://private.example/token"}]]},` +
		`"reply_parameters":{"message_id":7}}`
	tests := []struct {
		name     string
		taskType string
		payload  string
		chars    int
		want     string
	}{
		{"text hidden", tasks.TypeSendMessage, payload, 0,
			`{"type":"telegram:send_message","bot":"alerts","chat":"-1001234567890"}`},
		{"first 6 characters, not bytes", tasks.TypeSendMessage, payload, 6,
			`{"type":"telegram:send_message","bot":"alerts","chat":"-1001234567890","text":"Привет…"}`},
		{"whole text", tasks.TypeSendMessage, payload, 64,
			`{"type":"telegram:send_message","bot":"alerts","chat":"-1001234567890","text":"Привет, <b>world</b>! Secret code 4242"}`},
		{"default bot, channel", tasks.TypeSendMessage, `{"chat_id":"@news","text":"hi"}`, 64,
			`{"type":"telegram:send_message","bot":"default","chat":"@news","text":"hi"}`},
		{"exactly n characters", tasks.TypeSendMessage, `{"chat_id":1,"text":"abc"}`, 3,
			`{"type":"telegram:send_message","bot":"default","chat":"1","text":"abc"}`},
		{"undecodable", tasks.TypeSendMessage, `{"chat_id":`, 64,
			`{"type":"telegram:send_message","bytes":11,"error":"undecodable payload"}`},
		{"other type", "email:send", `{"to":"someone@example.com"}`, 64,
			`{"type":"email:send","bytes":28}`},
		{"long bot and chat are cut", tasks.TypeSendMessage,
			`{"bot":"` + strings.Repeat("b", 200) + `","chat_id":"@` + strings.Repeat("c", 200) + `","text":"hi"}`, 64,
			`{"type":"telegram:send_message","bot":"` + strings.Repeat("b", 64) + `…","chat":"@` + strings.Repeat("c", 63) + `…","text":"hi"}`},
		{"a call: method, bot, chat, caption", "telegram:send_photo",
			`{"v":1,"bot":"alerts","method":"sendPhoto","params":{"chat_id":"@news","photo":"https://private.example/cat.jpg","caption":"Secret caption",` +
				`"reply_markup":{"inline_keyboard":[[{"text":"open","url":"https://private.example/token"}]]}},` +
				`"uploads":{"x":{"sha256":"` + strings.Repeat("a", 64) + `","size":3}}}`, 6,
			`{"type":"telegram:send_photo","bot":"alerts","method":"sendPhoto","chat":"@news","text":"Secret…"}`},
		{"a callback answer, text hidden", "telegram:answer_callback_query",
			`{"method":"answerCallbackQuery","params":{"callback_query_id":"q","text":"Saved"}}`, 0,
			`{"type":"telegram:answer_callback_query","bot":"default","method":"answerCallbackQuery"}`},
		{"an edit of a queued message", "telegram:edit_message_text",
			`{"method":"editMessageText","params":{"message_task_id":"t42","text":"The answer"}}`, 64,
			`{"type":"telegram:edit_message_text","bot":"default","method":"editMessageText","chat":"of task t42","text":"The answer"}`},
		{"a reply to a queued message", tasks.TypeSendMessageRef,
			`{"method":"sendMessage","params":{"chat_id":5,"text":"sources","reply_parameters":{"message_task_id":"t42"}}}`, 64,
			`{"type":"telegram:send_message:ref","bot":"default","method":"sendMessage","chat":"5","text":"sources"}`},
		{"an undecodable call", "telegram:send_photo", `{"params":`, 64,
			`{"type":"telegram:send_photo","bytes":10,"error":"undecodable payload"}`},
		{"long type is cut", "x:" + strings.Repeat("t", 200), `{}`, 64,
			`{"type":"x:` + strings.Repeat("t", 62) + `…","bytes":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := web.PayloadFormatter(tt.chars).FormatPayload(tt.taskType, []byte(tt.payload))
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			for _, secret := range []string{"private.example", "reply_markup", "message_id", "parse_mode"} {
				if strings.Contains(got, secret) {
					t.Errorf("formatted payload shows %q: %s", secret, got)
				}
			}
		})
	}
}

func TestResultFormatter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, taskType, result, want string
	}{
		{"sent", tasks.TypeSendMessage, `{"message_id":4711,"chat_id":42,"date":1700000000}`, `{"message_id":4711}`},
		{"undecodable", tasks.TypeSendMessage, `nope`, `{"bytes":4}`},
		{"other type", "email:send", `{"message_id":1}`, `{"bytes":16}`},
		// Asynqmon's task detail page calls the formatter without the type.
		{"task detail, sent", "", `{"message_id":4711,"chat_id":42,"date":1700000000}`, `{"message_id":4711}`},
		{"task detail, reply", "", `{"message_id":7,"message_ids":[7,8],"parts":[]}`, `{"message_id":7}`},
		{"task detail, no message id", "", `{"sent":3}`, `{"bytes":10}`},
		{"a call", "telegram:send_media_group", `{"method":"sendMediaGroup","message_ids":[5,6],"chat_id":42,"file_ids":["AgAC"]}`,
			`{"method":"sendMediaGroup","message_ids":[5,6]}`},
		{"a delete", "telegram:delete_message", `{"method":"deleteMessage","chat_id":42,"already_gone":true}`, `{"method":"deleteMessage","outcome":"already deleted"}`},
		{"a superseded edit", "telegram:edit_message_text", `{"method":"editMessageText","chat_id":42,"superseded":true}`,
			`{"method":"editMessageText","outcome":"superseded by a newer edit; not sent"}`},
		{"an edit to the same text", "telegram:edit_message_text", `{"method":"editMessageText","message_ids":[9],"not_modified":true}`,
			`{"method":"editMessageText","message_ids":[9],"outcome":"not modified: the message already showed it"}`},
		{"a reply to a queued message", tasks.TypeSendMessageRef, `{"method":"sendMessage","message_ids":[10],"chat_id":42}`, `{"method":"sendMessage","message_ids":[10]}`},
		{"task detail, a call", "", `{"method":"editMessageText","message_ids":[9]}`, `{"method":"editMessageText","message_ids":[9]}`},
		{"a call, undecodable", "telegram:send_photo", `nope`, `{"bytes":4}`},
		{"task detail, undecodable", "", `nope`, `{"bytes":4}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := web.ResultFormatter().FormatResult(tt.taskType, []byte(tt.result)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
