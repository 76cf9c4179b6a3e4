package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/tasks"
	"github.com/telequeue/telequeue/web"
)

// methodsConfig is fullConfig; the client of setup knows the bots the
// calls name.
func methodsConfig() web.Config { return fullConfig() }

// formPart is one part of a multipart body: a value, or a file when file
// (its file name) is set.
type formPart struct {
	name, value string
	file        string
	data        []byte
}

// postForm sends a multipart/form-data body to path with the API token.
func (b *bundle) postForm(t *testing.T, path string, parts []formPart, header map[string]string) *response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range parts {
		if p.file == "" {
			if err := mw.WriteField(p.name, p.value); err != nil {
				t.Fatal(err)
			}
			continue
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, p.name, p.file))
		h.Set("Content-Type", "image/jpeg")
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(p.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	h := map[string]string{"Content-Type": mw.FormDataContentType()}
	for k, v := range header {
		h[k] = v
	}
	return b.do(t, request{method: http.MethodPost, path: path, body: &body, header: h, token: testToken})
}

// queued returns the task id of a 202 answer and its task, decoded with
// tasks.ParseCall (or as a sendMessage for that method).
func (b *bundle) queued(t *testing.T, r *response, wantQueue string) (string, *asynq.TaskInfo, *tasks.Call) {
	t.Helper()
	if r.status != http.StatusAccepted {
		t.Fatalf("status %d, want 202: %s", r.status, r.body)
	}
	var rc struct{ ID, Queue, Method string }
	r.json(t, &rc)
	if rc.Queue != wantQueue {
		t.Errorf("receipt queue %q, want %q", rc.Queue, wantQueue)
	}
	if got := r.header.Get("Location"); got != "/v1/messages/"+rc.ID {
		t.Errorf("Location %q", got)
	}
	insp := asynq.NewInspector(b.opt)
	t.Cleanup(func() { _ = insp.Close() })
	info, err := insp.GetTaskInfo(wantQueue, rc.ID)
	if err != nil {
		t.Fatalf("task %s in queue %s: %v", rc.ID, wantQueue, err)
	}
	if info.Type == tasks.TypeSendMessage {
		return rc.ID, info, nil
	}
	c, err := tasks.ParseCall(info.Payload)
	if err != nil {
		t.Fatalf("ParseCall(%s): %v", info.Payload, err)
	}
	if c.Method != rc.Method {
		t.Errorf("receipt method %q, task's %q", rc.Method, c.Method)
	}
	return rc.ID, info, c
}

// params decodes a call's parameters.
func params(t *testing.T, c *tasks.Call) map[string]any {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(c.Params, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// uploadKeys counts the upload store's keys in Redis.
func (b *bundle) uploadKeys(t *testing.T) int {
	t.Helper()
	n, err := b.redis.Client(t).Keys(context.Background(), keys.UploadPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return len(n)
}

// taskCount is the number of tasks in every queue.
func (b *bundle) taskCount(t *testing.T) int {
	t.Helper()
	n, err := b.redis.Client(t).Keys(context.Background(), "asynq:{*}:t:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return len(n)
}

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// wantStored checks that upload u of the call's task holds data, and that
// the task id holds it.
func (b *bundle) wantStored(t *testing.T, id string, u tasks.Upload, data []byte) {
	t.Helper()
	if u.SHA256 != sha(data) || u.Size != int64(len(data)) {
		t.Errorf("upload %+v, want sha %s size %d", u, sha(data), len(data))
	}
	rdb := b.redis.Client(t)
	got, err := rdb.Get(context.Background(), keys.UploadOf(u.SHA256).Data()).Bytes()
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("stored bytes %q (%v), want %q", got, err, data)
	}
	if ok, err := rdb.SIsMember(context.Background(), keys.UploadOf(u.SHA256).Holders(), id).Result(); err != nil || !ok {
		t.Errorf("task %s does not hold the upload (%v)", id, err)
	}
}

func TestPostMethodJSON(t *testing.T) {
	t.Parallel()
	b := setup(t, methodsConfig())
	tests := []struct {
		name, method, body string
		queue              string
		check              func(t *testing.T, info *asynq.TaskInfo, c *tasks.Call)
	}{
		{
			name: "a photo by file_id, bot and priority taken out", method: "sendPhoto", queue: "critical",
			body: `{"chat_id": -1001234567890, "photo": "AgACAgIAAxkBAAIB", "caption": "<b>cat</b>", "parse_mode": "HTML",
				"bot": "alerts", "priority": "critical"}`,
			check: func(t *testing.T, info *asynq.TaskInfo, c *tasks.Call) {
				if info.Type != "telegram:send_photo" || c.Bot != "alerts" || c.Chat().ID != -1001234567890 {
					t.Errorf("type %s bot %q chat %v", info.Type, c.Bot, c.Chat())
				}
				p := params(t, c)
				if p["photo"] != "AgACAgIAAxkBAAIB" || p["caption"] != "<b>cat</b>" || len(p) != 4 {
					t.Errorf("params %v: want chat_id, photo, caption, parse_mode only", p)
				}
			},
		},
		{
			name: "an edit of a queued message, every edit kept", method: "editMessageText", queue: "default",
			body: `{"message_task_id": "thinking-1", "text": "The answer", "coalesce": false}`,
			check: func(t *testing.T, info *asynq.TaskInfo, c *tasks.Call) {
				if p := params(t, c); p[tasks.FieldMessageTaskID] != "thinking-1" || p["coalesce"] != nil || len(p) != 2 {
					t.Errorf("params %v", p)
				}
				if info.Headers[tasks.HeaderNoCoalesce] == "" {
					t.Error(`"coalesce": false did not opt out of coalescing`)
				}
			},
		},
		{
			name: "an ordered photo", method: "sendPhoto", queue: "default",
			body: `{"chat_id": 42, "photo": "AgAC", "ordered": true}`,
			check: func(t *testing.T, info *asynq.TaskInfo, c *tasks.Call) {
				if info.Type != tasks.OrderedType("telegram:send_photo") {
					t.Errorf("type %s, want the ordered variant", info.Type)
				}
			},
		},
		{
			name: "an edit", method: "editMessageText", queue: "default",
			body: `{"chat_id": 42, "message_id": 7, "text": "v2", "reply_markup": {"inline_keyboard": [[{"text": "ok", "callback_data": "ok"}]]}}`,
			check: func(t *testing.T, info *asynq.TaskInfo, c *tasks.Call) {
				if info.Type != "telegram:edit_message_text" || c.MethodInfo().Kind != tasks.KindChange {
					t.Errorf("type %s kind %v", info.Type, c.MethodInfo().Kind)
				}
			},
		},
		{
			name: "a callback answer in its own queue, with a deadline", method: "answerCallbackQuery", queue: tasks.QueueCallbacks,
			body: `{"callback_query_id": "4382bfdwdsb323b2d9", "text": "Saved"}`,
			check: func(t *testing.T, info *asynq.TaskInfo, _ *tasks.Call) {
				ms, err := time.ParseDuration(info.Headers[tasks.HeaderDeadline] + "ms")
				if err != nil {
					t.Fatalf("deadline header %q: %v", info.Headers[tasks.HeaderDeadline], err)
				}
				if left := time.Until(time.UnixMilli(ms.Milliseconds())); left <= 0 || left > tasks.CallbackDeadline {
					t.Errorf("deadline in %v, want within %v", left, tasks.CallbackDeadline)
				}
			},
		},
		{
			name: "an album of URLs", method: "sendMediaGroup", queue: "default",
			body: `{"chat_id": 42, "media": [{"type": "photo", "media": "https://example.com/a.jpg"}, {"type": "photo", "media": "https://example.com/b.jpg", "caption": "b"}]}`,
			check: func(t *testing.T, _ *asynq.TaskInfo, c *tasks.Call) {
				if c.Cost() != 2 {
					t.Errorf("cost %d, want 2", c.Cost())
				}
			},
		},
		{
			name: "a scheduled delete", method: "deleteMessage", queue: "default",
			body: `{"chat_id": "@news", "message_id": 9, "send_in": "1h"}`,
			check: func(t *testing.T, info *asynq.TaskInfo, _ *tasks.Call) {
				if info.State != asynq.TaskStateScheduled || time.Until(info.NextProcessAt) < 59*time.Minute {
					t.Errorf("state %v next %v, want scheduled in 1h", info.State, info.NextProcessAt)
				}
			},
		},
		{
			name: "sendMessage keeps its own task type", method: "sendMessage", queue: "default",
			body: `{"chat_id": 42, "text": "hi"}`,
			check: func(t *testing.T, info *asynq.TaskInfo, _ *tasks.Call) {
				if _, err := tasks.ParseSendMessage(info.Payload); err != nil || info.Type != tasks.TypeSendMessage {
					t.Errorf("type %s payload %s: %v", info.Type, info.Payload, err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.postJSON(t, "/v1/methods/"+tt.method, tt.body, nil)
			_, info, c := b.queued(t, r, tt.queue)
			tt.check(t, info, c)
		})
	}
}

func TestPostMethodRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, methodsConfig())
	tests := []struct {
		name, path, contentType, body string
		status                        int
		code, field                   string
	}{
		{"unknown method", "/v1/methods/sendFax", "application/json", `{"chat_id": 1}`, 404, web.CodeNotFound, "method"},
		{"missing file", "/v1/methods/sendPhoto", "application/json", `{"chat_id": 1}`, 400, web.CodeInvalidField, "photo"},
		{"unknown field", "/v1/methods/sendPhoto", "application/json", `{"chat_id": 1, "photo": "x", "colour": "red"}`, 400, web.CodeInvalidField, "colour"},
		{"wrong type", "/v1/methods/deleteMessage", "application/json", `{"chat_id": 1, "message_id": "seven"}`, 400, web.CodeInvalidField, "message_id"},
		{"album item", "/v1/methods/sendMediaGroup", "application/json",
			`{"chat_id": 1, "media": [{"type": "photo", "media": "attach://a"}, {"type": "photo", "media": "x"}]}`, 400, web.CodeInvalidField, "media[0].media"},
		{"paid broadcast of an edit", "/v1/methods/editMessageText", "application/json",
			`{"chat_id": 1, "message_id": 2, "text": "x", "allow_paid_broadcast": true}`, 400, web.CodeInvalidField, "allow_paid_broadcast"},
		{"bot no worker serves", "/v1/methods/sendDice", "application/json", `{"chat_id": 1, "bot": "nobody"}`, 400, web.CodeInvalidField, "bot"},
		{"priority of a callback", "/v1/methods/answerCallbackQuery", "application/json", `{"callback_query_id": "q", "priority": "bulk"}`, 400, web.CodeInvalidField, "priority"},
		{"scheduled chat action", "/v1/methods/sendChatAction", "application/json", `{"chat_id": 1, "action": "typing", "send_in": "1m"}`, 400, web.CodeInvalidField, "send_in"},
		{"bad priority", "/v1/methods/sendDice", "application/json", `{"chat_id": 1, "priority": "urgent"}`, 400, web.CodeInvalidField, "priority"},
		{"not JSON", "/v1/methods/sendDice", "application/json", `{"chat_id": 1`, 400, web.CodeMalformedJSON, ""},
		{"wrong content type", "/v1/methods/sendDice", "text/plain", `chat_id=1`, 415, web.CodeUnsupportedMedia, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.postJSON(t, tt.path, tt.body, map[string]string{"Content-Type": tt.contentType})
			r.wantAnswer(t, tt.status, tt.code, tt.field)
		})
	}
	if r := b.get(t, "/v1/methods/sendPhoto"); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", r.status)
	}
	if n := b.taskCount(t); n != 0 {
		t.Errorf("%d tasks queued, want none", n)
	}
}

func TestPostMethodDuplicate(t *testing.T) {
	t.Parallel()
	b := setup(t, methodsConfig())
	key := map[string]string{"Idempotency-Key": "poll-2026-05"}
	first := b.postJSON(t, "/v1/methods/sendPoll", `{"chat_id": 42, "question": "Lunch?", "options": [{"text": "yes"}, {"text": "no"}], "priority": "bulk"}`, key)
	id, _, _ := b.queued(t, first, "bulk")

	// The key is taken for calls and messages alike, whatever the body.
	for _, try := range []func() *response{
		func() *response { return b.postJSON(t, "/v1/methods/sendDice", `{"chat_id": 42}`, key) },
		func() *response { return b.post(t, `{"chat_id": 42, "text": "x"}`, key) },
	} {
		r := try()
		r.wantAnswer(t, http.StatusConflict, web.CodeDuplicate, "")
		if _, _, got := r.apiError(t); got != id {
			t.Errorf("409 names %q, want the first task %s", got, id)
		}
	}
	// A message's key is a call's duplicate too.
	msgKey := map[string]string{"Idempotency-Key": "msg-1"}
	mid, _, _ := b.queued(t, b.post(t, `{"chat_id": 42, "text": "x"}`, msgKey), "default")
	r := b.postJSON(t, "/v1/methods/sendDice", `{"chat_id": 42}`, msgKey)
	r.wantAnswer(t, http.StatusConflict, web.CodeDuplicate, "")
	if _, _, got := r.apiError(t); got != mid {
		t.Errorf("409 names %q, want %s", got, mid)
	}
	if n := b.taskCount(t); n != 2 {
		t.Errorf("%d tasks, want 2", n)
	}
}

func TestPostMethodMultipart(t *testing.T) {
	t.Parallel()
	b := setup(t, methodsConfig())
	cat, dog := []byte("\xff\xd8\xffcat-jpeg"), []byte("\xff\xd8\xffdog-jpeg")
	tests := []struct {
		name, method string
		parts        []formPart
		check        func(t *testing.T, id string, c *tasks.Call)
	}{
		{
			name: "a photo by its field's part; values typed by the method", method: "sendPhoto",
			parts: []formPart{
				{name: "chat_id", value: "42"}, {name: "caption", value: "123"}, {name: "disable_notification", value: "true"},
				{name: "reply_markup", value: `{"inline_keyboard": [[{"text": "ok", "callback_data": "ok"}]]}`},
				{name: "bot", value: "alerts"}, {name: "photo", file: "cat.jpg", data: cat},
			},
			check: func(t *testing.T, id string, c *tasks.Call) {
				p := params(t, c)
				if p["photo"] != "attach://photo" || p["chat_id"] != 42.0 || p["caption"] != "123" || p["disable_notification"] != true {
					t.Errorf("params %v", p)
				}
				if _, ok := p["reply_markup"].(map[string]any); !ok {
					t.Errorf("reply_markup %v: want an object", p["reply_markup"])
				}
				if c.Bot != "alerts" || len(c.Uploads) != 1 || c.Uploads["photo"].Name != "cat.jpg" || c.Uploads["photo"].ContentType != "image/jpeg" {
					t.Errorf("bot %q uploads %+v", c.Bot, c.Uploads)
				}
				b.wantStored(t, id, c.Uploads["photo"], cat)
			},
		},
		{
			name: "a photo by attach://", method: "sendPhoto",
			parts: []formPart{{name: "chat_id", value: "@news"}, {name: "photo", value: "attach://pic"}, {name: "pic", file: "cat.jpg", data: cat}},
			check: func(t *testing.T, id string, c *tasks.Call) {
				if p := params(t, c); p["photo"] != "attach://pic" || p["chat_id"] != "@news" {
					t.Errorf("params %v", p)
				}
				b.wantStored(t, id, c.Uploads["pic"], cat)
			},
		},
		{
			name: "an album of two uploads", method: "sendMediaGroup",
			parts: []formPart{
				{name: "chat_id", value: "42"},
				{name: "media", value: `[{"type": "photo", "media": "attach://a", "caption": "cat"}, {"type": "photo", "media": "attach://b"}]`},
				{name: "a", file: "cat.jpg", data: cat}, {name: "b", file: "dog.jpg", data: dog},
			},
			check: func(t *testing.T, id string, c *tasks.Call) {
				if len(c.Uploads) != 2 || c.Cost() != 2 {
					t.Fatalf("uploads %+v cost %d", c.Uploads, c.Cost())
				}
				b.wantStored(t, id, c.Uploads["a"], cat)
				b.wantStored(t, id, c.Uploads["b"], dog)
			},
		},
		{
			name: "an edit's media", method: "editMessageMedia",
			parts: []formPart{
				{name: "chat_id", value: "42"}, {name: "message_id", value: "7"},
				{name: "media", value: `{"type": "document", "media": "attach://doc"}`},
				{name: "doc", file: "report.pdf", data: dog},
			},
			check: func(t *testing.T, id string, c *tasks.Call) {
				b.wantStored(t, id, c.Uploads["doc"], dog)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.postForm(t, "/v1/methods/"+tt.method, tt.parts, nil)
			id, _, c := b.queued(t, r, "default")
			tt.check(t, id, c)
		})
	}
}

func TestPostMethodMultipartRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, methodsConfig(), func(cc *client.Config) { cc.UploadMaxBytes = 1000 })
	small, big := bytes.Repeat([]byte("a"), 1000), bytes.Repeat([]byte("b"), 1001)
	tests := []struct {
		name, method string
		parts        []formPart
		status       int
		code, field  string
	}{
		{"a file over UPLOAD_MAX_BYTES", "sendDocument",
			[]formPart{{name: "chat_id", value: "1"}, {name: "document", file: "big.bin", data: big}},
			413, web.CodeTooLarge, "document"},
		{"the second file of an album over the limit, the first stored", "sendMediaGroup",
			[]formPart{{name: "chat_id", value: "1"}, {name: "media", value: `[{"type": "document", "media": "attach://a"}, {"type": "document", "media": "attach://b"}]`},
				{name: "a", file: "a.bin", data: small}, {name: "b", file: "b.bin", data: big}},
			413, web.CodeTooLarge, "media[1].media"},
		{"an invalid field after an upload", "sendDocument",
			[]formPart{{name: "document", file: "a.bin", data: small}, {name: "chat_id", value: "1"}, {name: "caption_entities", value: "[{}]"}},
			400, web.CodeInvalidField, "caption_entities"},
		{"an upload nothing attaches", "sendDocument",
			[]formPart{{name: "chat_id", value: "1"}, {name: "document", value: "BQACAgIAAx"}, {name: "extra", file: "a.bin", data: small}},
			400, web.CodeInvalidField, "uploads.extra"},
		{"a part twice", "sendDocument",
			[]formPart{{name: "chat_id", value: "1"}, {name: "document", file: "a.bin", data: small}, {name: "document", file: "b.bin", data: small}},
			400, web.CodeInvalidField, "document"},
		{"text parts over 1 MiB together", "sendDocument",
			[]formPart{{name: "chat_id", value: "1"}, {name: "document", file: "a.bin", data: small}, {name: "caption", value: strings.Repeat("x", web.MaxMethodBodyBytes)}},
			413, web.CodeTooLarge, "caption"},
		{"an empty file", "sendDocument",
			[]formPart{{name: "chat_id", value: "1"}, {name: "document", file: "a.bin"}},
			400, web.CodeInvalidField, "document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.postForm(t, "/v1/methods/"+tt.method, tt.parts, nil)
			r.wantAnswer(t, tt.status, tt.code, tt.field)
			if n := b.uploadKeys(t); n != 0 {
				t.Errorf("%d upload keys left, want none", n)
			}
		})
	}
	if n := b.taskCount(t); n != 0 {
		t.Errorf("%d tasks queued, want none", n)
	}
}

// TestPostMethodMultipartScheduled: a scheduled call's file, stored as its
// part arrived, is kept for as long as the call waits.
func TestPostMethodMultipartScheduled(t *testing.T) {
	t.Parallel()
	b := setup(t, methodsConfig())
	doc := []byte("a document for later")
	r := b.postForm(t, "/v1/methods/sendDocument", []formPart{{name: "document", file: "later.txt", data: doc},
		{name: "chat_id", value: "1"}, {name: "send_in", value: "720h"}}, nil)
	id, info, c := b.queued(t, r, "default")
	if info.State != asynq.TaskStateScheduled {
		t.Errorf("state %v, want scheduled", info.State)
	}
	b.wantStored(t, id, c.Uploads["document"], doc)
	ttl, err := b.redis.Client(t).PTTL(context.Background(), keys.UploadOf(sha(doc)).Data()).Result()
	if err != nil || ttl < 720*time.Hour {
		t.Errorf("the file lives %v (%v), want at least the 720h the call waits", ttl, err)
	}
}

// TestPostMethodPhotoLimit checks Telegram's 10 MB limit of a photo, by
// its field's part and by attach:// in an album.
func TestPostMethodPhotoLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 10 MB twice")
	}
	t.Parallel()
	b := setup(t, methodsConfig())
	big := bytes.Repeat([]byte("p"), tasks.MaxPhotoBytes+1)
	r := b.postForm(t, "/v1/methods/sendPhoto", []formPart{{name: "chat_id", value: "1"}, {name: "photo", file: "big.jpg", data: big}}, nil)
	r.wantAnswer(t, http.StatusRequestEntityTooLarge, web.CodeTooLarge, "photo")
	r = b.postForm(t, "/v1/methods/sendMediaGroup", []formPart{
		{name: "chat_id", value: "1"}, {name: "media", value: `[{"type": "photo", "media": "attach://a"}, {"type": "photo", "media": "x"}]`},
		{name: "a", file: "big.jpg", data: big},
	}, nil)
	r.wantAnswer(t, http.StatusRequestEntityTooLarge, web.CodeTooLarge, "media[0].media")
	if n, m := b.uploadKeys(t), b.taskCount(t); n != 0 || m != 0 {
		t.Errorf("%d upload keys and %d tasks left, want none", n, m)
	}
}

func TestCallStatus(t *testing.T) {
	t.Parallel()
	b := setup(t, methodsConfig())
	result := tasks.CallResult{Method: "sendPhoto", MessageIDs: []int64{501}, ChatID: 42, FileIDs: []string{"AgAC-big"}}
	srv := asynq.NewServer(b.opt, asynq.Config{
		Concurrency: 1, Queues: map[string]int{tasks.QueueDefault: 1},
		TaskCheckInterval: 20 * time.Millisecond, LogLevel: asynq.FatalLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("telegram:send_photo", func(_ context.Context, task *asynq.Task) error {
		data, _ := json.Marshal(result)
		_, err := task.ResultWriter().Write(data)
		return err
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	id, _, _ := b.queued(t, b.postJSON(t, "/v1/methods/sendPhoto", `{"chat_id": 42, "photo": "AgAC", "bot": "alerts"}`, nil), "default")
	got := b.waitState(t, id, "completed")
	want := map[string]any{"method": "sendPhoto", "bot": "alerts", "chat_id": 42.0, "message_id": 501.0,
		"message_ids": []any{501.0}, "file_ids": []any{"AgAC-big"}, "queue": "default"}
	for k, v := range want {
		if fmt.Sprint(got[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if _, ok := got["sent_chat_id"]; ok {
		t.Errorf("sent_chat_id set for the chat called: %v", got)
	}

	// A callback answer waits in its own queue, which GET finds too.
	cid, _, _ := b.queued(t, b.postJSON(t, "/v1/methods/answerCallbackQuery", `{"callback_query_id": "q1"}`, nil), tasks.QueueCallbacks)
	r := b.get(t, "/v1/messages/"+cid)
	var st map[string]any
	r.json(t, &st)
	if r.status != http.StatusOK || st["queue"] != tasks.QueueCallbacks || st["method"] != "answerCallbackQuery" || st["state"] != "pending" {
		t.Errorf("callback status %d %v", r.status, st)
	}
	// Once the task is gone, the worker's sent marker tells.
	gone, _ := json.Marshal(tasks.CallResult{Method: "deleteMessage", ChatID: 42, AlreadyGone: true})
	if err := b.redis.Client(t).Set(context.Background(), keys.Sent("markeronly"), gone, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	r = b.get(t, "/v1/messages/markeronly")
	st = map[string]any{}
	r.json(t, &st)
	if r.status != http.StatusOK || st["state"] != "completed" || st["method"] != "deleteMessage" || st["already_gone"] != true {
		t.Errorf("marker status %d %v", r.status, st)
	}
	if r := b.get(t, "/v1/messages/nosuchid"); r.status != http.StatusNotFound {
		t.Errorf("unknown id: %d", r.status)
	}
}
