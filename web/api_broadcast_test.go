package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/internal/workertest"
)

const sandboxToken = "123456789:WEBTESTtokenWEBTESTtokenWEBTESTtoke"

// startBroadcastWorker runs telequeue's worker against a sandbox, as a
// worker process would.
func startBroadcastWorker(t *testing.T, b *bundle, sb *sandbox.Sandbox) {
	t.Helper()
	url, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	workertest.Start(t, map[string]string{"REDIS_URL": b.redis.URL(), "TELEGRAM_BOT_TOKEN": sandboxToken, "TELEGRAM_API_URL": url})
}

func (b *bundle) postBroadcast(t *testing.T, body string, header map[string]string) *response {
	t.Helper()
	return b.postJSON(t, "/v1/broadcasts", body, header)
}

// broadcastDone waits until broadcast id is done and returns its progress.
func (b *bundle) broadcastDone(t *testing.T, id string) client.BroadcastProgress {
	t.Helper()
	var p client.BroadcastProgress
	eventually(t, "broadcast done", func() bool {
		b.get(t, "/v1/broadcasts/"+id).json(t, &p)
		return p.Done()
	})
	return p
}

func idsJSON(ids []int64) string {
	b, _ := json.Marshal(ids)
	return string(b)
}

func TestBroadcastAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	sb, err := sandbox.New(sandbox.Config{NoRecordParams: true})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, 300)
	for i := range ids {
		ids[i] = int64(2_000_000 + i)
	}
	var blocked []int64
	for i := 0; i < len(ids); i += 50 {
		blocked = append(blocked, ids[i])
		sb.AddRule(sandbox.Rule{Chat: strconv.FormatInt(ids[i], 10), Kind: sandbox.KindBlocked})
	}
	r := b.postBroadcast(t, `{"chat_ids": `+idsJSON(ids)+`, "text": "<b>news</b>", "parse_mode": "HTML", "parallelism": 3}`, nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	var rec struct {
		ID                                     string
		Total, Duplicates, Chunks, Parallelism int
		Queue                                  string
	}
	r.json(t, &rec)
	if rec.Total != 300 || rec.Parallelism != 3 || rec.Queue != "bulk" || r.header.Get("Location") != "/v1/broadcasts/"+rec.ID {
		t.Errorf("receipt %s, Location %q", r.body, r.header.Get("Location"))
	}
	var p client.BroadcastProgress
	b.get(t, "/v1/broadcasts/"+rec.ID).json(t, &p)
	if p.Total != 300 || p.Pending != 300 || p.State != client.BroadcastRunning {
		t.Errorf("before any worker: %+v", p)
	}

	startBroadcastWorker(t, b, sb)
	p = b.broadcastDone(t, rec.ID)
	if p.Sent != 300-len(blocked) || p.Blocked != len(blocked) || p.State != client.BroadcastDone {
		t.Errorf("done: %+v", p)
	}
	// The blocked list, two per page.
	var got []int64
	path := "/v1/broadcasts/" + rec.ID + "/blocked?limit=2"
	for range 10 {
		var page struct {
			ChatIDs    []int64 `json:"chat_ids"`
			NextOffset *int    `json:"next_offset"`
		}
		r := b.get(t, path)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		r.json(t, &page)
		got = append(got, page.ChatIDs...)
		if page.NextOffset == nil {
			break
		}
		path = fmt.Sprintf("/v1/broadcasts/%s/blocked?limit=2&offset=%d", rec.ID, *page.NextOffset)
	}
	slices.Sort(got)
	if !slices.Equal(got, blocked) {
		t.Errorf("blocked %v, want %v", got, blocked)
	}
	// Cancelling a finished broadcast changes nothing.
	r = b.do(t, request{method: http.MethodDelete, path: "/v1/broadcasts/" + rec.ID, token: testToken})
	r.json(t, &p)
	if r.status != http.StatusOK || p.State != client.BroadcastDone || p.Cancelled != 0 {
		t.Errorf("DELETE after done: %d %s", r.status, r.body)
	}
}

func TestBroadcastAPICancelAndErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	// No worker: the broadcast waits, and DELETE settles it at once.
	r := b.postBroadcast(t, `{"chat_ids": [1, 2, 3, 2], "text": "hi", "send_in": "1h"}`, map[string]string{"Idempotency-Key": "k1"})
	if r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	var rec struct {
		ID          string
		Total       int
		Duplicates  int
		ScheduledAt time.Time `json:"scheduled_at"`
	}
	r.json(t, &rec)
	if rec.Total != 3 || rec.Duplicates != 1 || time.Until(rec.ScheduledAt) < 59*time.Minute {
		t.Errorf("receipt %s", r.body)
	}
	var p client.BroadcastProgress
	b.get(t, "/v1/broadcasts/"+rec.ID).json(t, &p)
	if p.State != client.BroadcastScheduled {
		t.Errorf("state %q, want scheduled", p.State)
	}
	r = b.postBroadcast(t, `{"chat_ids": [1], "text": "hi"}`, map[string]string{"Idempotency-Key": "k1"})
	if code, _, id := r.apiError(t); r.status != http.StatusConflict || code != "duplicate" || id != rec.ID {
		t.Errorf("repeated key: %d %s", r.status, r.body)
	}
	r = b.do(t, request{method: http.MethodDelete, path: "/v1/broadcasts/" + rec.ID, token: testToken})
	r.json(t, &p)
	if r.status != http.StatusOK || p.State != client.BroadcastCancelled || p.Cancelled != 3 || p.Pending != 0 || !p.Done() {
		t.Errorf("DELETE: %d %s", r.status, r.body)
	}

	plain := map[string]string{"Content-Type": "text/plain"}
	for _, tc := range []struct {
		name, body string
		header     map[string]string
		status     int
		code       string
		field      string
	}{
		{"no chat_ids", `{"text": "hi"}`, nil, 400, "invalid_field", "chat_ids"},
		{"chat_ids not ints", `{"chat_ids": ["@x"], "text": "hi"}`, nil, 400, "invalid_field", "chat_ids"},
		{"zero chat", `{"chat_ids": [0], "text": "hi"}`, nil, 400, "invalid_field", "chat_ids"},
		{"empty chat_ids", `{"chat_ids": [], "text": "hi"}`, nil, 400, "invalid_field", "chat_ids"},
		{"chat_id too", `{"chat_ids": [1], "chat_id": 1, "text": "hi"}`, nil, 400, "invalid_field", "chat_id"},
		{"priority", `{"chat_ids": [1], "text": "hi", "priority": "critical"}`, nil, 400, "invalid_field", "priority"},
		{"ordered", `{"chat_ids": [1], "text": "hi", "ordered": true}`, nil, 400, "invalid_field", "ordered"},
		{"empty text", `{"chat_ids": [1], "text": ""}`, nil, 400, "invalid_field", "text"},
		{"bad send_at", `{"chat_ids": [1], "text": "hi", "send_at": "tomorrow"}`, nil, 400, "invalid_field", "send_at"},
		{"send_at of the wrong type", `{"chat_ids": [1], "text": "hi", "send_at": 1}`, nil, 400, "invalid_field", "send_at"},
		{"bad send_in", `{"chat_ids": [1], "text": "hi", "send_in": "soon"}`, nil, 400, "invalid_field", "send_in"},
		{"send_at and send_in", `{"chat_ids": [1], "text": "hi", "send_at": "2099-01-01T00:00:00Z", "send_in": "5m"}`, nil, 400, "invalid_field", "send_in"},
		{"bad send_at and send_in", `{"chat_ids": [1], "text": "hi", "send_at": "tomorrow", "send_in": "5m"}`, nil, 400, "invalid_field", "send_at"},
		{"bad parallelism", `{"chat_ids": [1], "text": "hi", "parallelism": 65}`, nil, 400, "invalid_field", "parallelism"},
		{"unknown bot", `{"chat_ids": [1], "text": "hi", "bot": "nobody"}`, nil, 400, "invalid_field", "bot"},
		{"long idempotency key", `{"chat_ids": [1], "text": "hi"}`, map[string]string{"Idempotency-Key": strings.Repeat("k", 201)}, 400, "invalid_field", "Idempotency-Key"},
		{"not an object", `[1]`, nil, 400, "malformed_json", ""},
		{"trailing data", `{"chat_ids": [1], "text": "hi"} {}`, nil, 400, "malformed_json", ""},
		{"invalid UTF-8", "{\"chat_ids\": [1], \"text\": \"caf\xe9\"}", nil, 400, "malformed_json", ""},
		{"text content type", `{}`, plain, 415, "unsupported_media_type", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.postBroadcast(t, tc.body, tc.header).wantAnswer(t, tc.status, tc.code, tc.field)
		})
	}
	for _, rq := range []request{
		{method: http.MethodGet, path: "/v1/broadcasts/nope"},
		{method: http.MethodDelete, path: "/v1/broadcasts/nope"},
		{method: http.MethodGet, path: "/v1/broadcasts/nope/blocked"},
	} {
		rq.token = testToken
		if r := b.do(t, rq); r.status != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404", rq.method, rq.path, r.status)
		}
	}
	if r := b.do(t, request{method: http.MethodPut, path: "/v1/broadcasts", token: testToken}); r.status != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d", r.status)
	}
	if r := b.get(t, "/v1/broadcasts/"+rec.ID+"/blocked?limit=-1"); r.status != http.StatusBadRequest {
		t.Errorf("limit=-1: %d", r.status)
	}
	if r := b.do(t, request{method: http.MethodGet, path: "/v1/broadcasts/" + rec.ID}); r.status != http.StatusUnauthorized {
		t.Errorf("without token: %d", r.status)
	}
}

// TestBroadcastAPIAccepts100k posts 100,000 chat ids (1.1 MB of JSON) and
// wants the answer within 5 seconds.
func TestBroadcastAPIAccepts100k(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	var body bytes.Buffer
	body.WriteString(`{"text": "hello everyone", "chat_ids": [`)
	for i := range 100_000 {
		if i > 0 {
			body.WriteByte(',')
		}
		body.WriteString(strconv.Itoa(100_000_000 + i*7))
	}
	body.WriteString(`]}`)
	start := time.Now()
	r := b.postBroadcast(t, body.String(), nil)
	took := time.Since(start)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	t.Logf("POST /v1/broadcasts with 100,000 chat ids (%d bytes) answered in %v", body.Len(), took)
	if took > 5*time.Second {
		t.Errorf("accepting 100,000 recipients took %v, want under 5s", took)
	}
	var rec struct {
		ID            string
		Total, Chunks int
	}
	r.json(t, &rec)
	if rec.Total != 100_000 || rec.Chunks != 100 {
		t.Errorf("receipt %s", r.body)
	}
}

func TestOpenAPIDocumentsBroadcasts(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
		Comps struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	b.do(t, request{method: http.MethodGet, path: "/v1/openapi.json"}).json(t, &doc)
	for path, methods := range map[string][]string{
		"/v1/broadcasts": {"post"}, "/v1/broadcasts/{id}": {"get", "delete"}, "/v1/broadcasts/{id}/blocked": {"get"},
	} {
		for _, m := range methods {
			if _, ok := doc.Paths[path][m]; !ok {
				t.Errorf("document lacks %s %s", m, path)
			}
		}
	}
	for schema, fields := range map[string][]string{
		"BroadcastRequest":  {"chat_ids", "method", "text", "bot", "parse_mode", "reply_markup", "send_at", "send_in", "parallelism"},
		"BroadcastProgress": {"id", "state", "total", "sent", "failed", "blocked", "cancelled", "pending", "finished_at"},
		"BlockedPage":       {"chat_ids", "offset", "next_offset"},
	} {
		for _, f := range fields {
			if _, ok := doc.Comps.Schemas[schema].Properties[f]; !ok {
				t.Errorf("%s lacks %q", schema, f)
			}
		}
	}
}

// TestBroadcastAPIAnyMethod: a broadcast names any send-type method and its
// parameters; the worker sends that call to every recipient.
func TestBroadcastAPIAnyMethod(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	sb, err := sandbox.New(sandbox.Config{NoRecordParams: true})
	if err != nil {
		t.Fatal(err)
	}
	ids := []int64{3_000_001, 3_000_002, 3_000_003}
	r := b.postBroadcast(t, `{"method": "sendPhoto", "chat_ids": `+idsJSON(ids)+`, "photo": "https://example.com/offer.png", "caption": "50% off"}`, nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	var rec struct{ ID string }
	r.json(t, &rec)
	startBroadcastWorker(t, b, sb)
	if p := b.broadcastDone(t, rec.ID); p.Sent != len(ids) {
		t.Errorf("done: %+v", p)
	}
	if st := sb.Stats(); st.Methods["sendPhoto"].OK != len(ids) {
		t.Errorf("the sandbox got %+v photos, want %d", st.Methods["sendPhoto"], len(ids))
	}
	for _, tc := range []struct{ body, field string }{
		{`{"method": "deleteMessage", "chat_ids": [1], "message_id": 3}`, "method"},
		{`{"method": "sendPhoto", "chat_ids": [1], "chat_id": 5, "photo": "x"}`, "chat_id"},
		{`{"method": "sendPhoto", "chat_ids": [1], "photo": "x", "caption": "` + strings.Repeat("c", 1025) + `"}`, "caption"},
	} {
		r := b.postBroadcast(t, tc.body, nil)
		var e struct {
			Error struct{ Field string } `json:"error"`
		}
		r.json(t, &e)
		if r.status != http.StatusBadRequest || e.Error.Field != tc.field {
			t.Errorf("%s: %d %s, want 400 on %s", tc.body[:40], r.status, r.body, tc.field)
		}
	}
}
