package cli_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/tasks"
)

// queuedCall finds task id in queue and decodes it with tasks.ParseCall.
func queuedCall(t *testing.T, s *redistest.Server, queue, id string) (*asynq.TaskInfo, *tasks.Call) {
	t.Helper()
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: s.Addr()})
	defer insp.Close()
	info, err := insp.GetTaskInfo(queue, id)
	if err != nil {
		t.Fatalf("task %s in %s: %v", id, queue, err)
	}
	c, err := tasks.ParseCall(info.Payload)
	if err != nil {
		t.Fatalf("ParseCall(%s): %v", info.Payload, err)
	}
	return info, c
}

// wantUpload checks that upload name of c has data's content, stored and
// held by the task id.
func wantUpload(t *testing.T, s *redistest.Server, id string, c *tasks.Call, name string, data []byte) {
	t.Helper()
	u, ok := c.Uploads[name]
	sum := sha256.Sum256(data)
	if !ok || u.SHA256 != hex.EncodeToString(sum[:]) || u.Size != int64(len(data)) {
		t.Fatalf("upload %q = %+v (%v), want %d bytes of sha %x", name, u, ok, len(data), sum)
	}
	rdb := s.Client(t)
	got, err := rdb.Get(context.Background(), keys.UploadOf(u.SHA256).Data()).Bytes()
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("stored %q (%v)", got, err)
	}
	if held, _ := rdb.SIsMember(context.Background(), keys.UploadOf(u.SHA256).Holders(), id).Result(); !held {
		t.Errorf("task %s does not hold %s", id, name)
	}
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCall(t *testing.T) {
	t.Parallel()
	vars, s := setup(t)
	cat, dog := []byte("cat-jpeg-bytes"), []byte("dog-jpeg-bytes")
	catPath, dogPath := writeFile(t, "cat.jpg", cat), writeFile(t, "dog.jpg", dog)

	t.Run("a photo from a file", func(t *testing.T) {
		r := run(t, vars, "", "call", "--bot", "alerts", "--priority", "critical", "sendPhoto",
			`{"chat_id": 42, "photo": "@`+catPath+`", "caption": "Cat"}`)
		id := mustID(t, r)
		info, c := queuedCall(t, s, "critical", id)
		if info.Type != "telegram:send_photo" || c.Bot != "alerts" || !strings.Contains(string(c.Params), `"photo":"attach://photo"`) {
			t.Errorf("type %s bot %q params %s", info.Type, c.Bot, c.Params)
		}
		if c.Uploads["photo"].Name != "cat.jpg" {
			t.Errorf("upload name %q", c.Uploads["photo"].Name)
		}
		wantUpload(t, s, id, c, "photo", cat)
	})
	t.Run("an album of two files, from standard input", func(t *testing.T) {
		in := `{"chat_id": 42, "media": [{"type": "photo", "media": "@` + catPath + `", "caption": "cat"}, {"type": "photo", "media": "@` + dogPath + `"}], "bot": "news"}`
		id := mustID(t, run(t, vars, in, "call", "sendMediaGroup", "-"))
		_, c := queuedCall(t, s, "default", id)
		if c.Bot != "news" || c.Cost() != 2 {
			t.Errorf("bot %q cost %d", c.Bot, c.Cost())
		}
		wantUpload(t, s, id, c, "media0", cat)
		wantUpload(t, s, id, c, "media1", dog)
	})
	t.Run("an edit", func(t *testing.T) {
		id := mustID(t, run(t, vars, "", "call", "editMessageText", `{"chat_id": 42, "message_id": 7, "text": "v2"}`))
		if info, _ := queuedCall(t, s, "default", id); info.Type != "telegram:edit_message_text" {
			t.Errorf("type %s", info.Type)
		}
	})
	t.Run("a callback answer", func(t *testing.T) {
		id := mustID(t, run(t, vars, "", "call", "answerCallbackQuery", `{"callback_query_id": "q1", "text": "Saved"}`))
		if info, _ := queuedCall(t, s, tasks.QueueCallbacks, id); info.Headers[tasks.HeaderDeadline] == "" {
			t.Errorf("no deadline header: %v", info.Headers)
		}
	})
	t.Run("an idempotency key", func(t *testing.T) {
		first := mustID(t, run(t, vars, "", "call", "--key", "dice-1", "sendDice", `{"chat_id": 42}`))
		r := run(t, vars, "", "call", "sendDice", `{"chat_id": 43, "idempotency_key": "dice-1"}`)
		if r.code != 0 || strings.TrimSpace(r.stdout) != first || !strings.Contains(r.stderr, "already used") {
			t.Errorf("repeat: exit %d stdout %q stderr %q; want 0 and %s", r.code, r.stdout, r.stderr, first)
		}
	})
}

func TestCallRefused(t *testing.T) {
	t.Parallel()
	vars, s := setup(t)
	small := writeFile(t, "a.bin", []byte("abc"))
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown method", []string{"call", "sendFax", `{}`}, 2, `method "sendFax"`},
		{"not an object", []string{"call", "sendDice", `[1]`}, 2, "JSON object"},
		{"missing argument", []string{"call", "sendDice"}, 2, "METHOD and JSON"},
		{"missing parameter", []string{"call", "sendPhoto", `{"chat_id": 1}`}, 1, "photo: required parameter is missing"},
		{"no such file", []string{"call", "sendDocument", `{"chat_id": 1, "document": "@/nonexistent/x.pdf"}`}, 1, "document: open /nonexistent/x.pdf"},
		{"invalid after an upload", []string{"call", "sendDocument", `{"chat_id": 1, "document": "@` + small + `", "message_id": 1}`}, 1, "message_id: "},
		{"bad priority", []string{"call", "sendDice", `{"chat_id": 1, "priority": "urgent"}`}, 1, "priority"},
		{"bot no worker serves", []string{"call", "sendDice", `{"chat_id": 1, "bot": "ghost"}`}, 1, "bot: unknown bot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, vars, "", tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("exit %d stdout %q stderr %q; want %d and %q", r.code, r.stdout, r.stderr, tt.code, tt.want)
			}
		})
	}
	rdb := s.Client(t)
	if n, _ := rdb.Keys(context.Background(), keys.UploadPrefix+"*").Result(); len(n) != 0 {
		t.Errorf("upload keys left: %v", n)
	}
	if n, _ := rdb.Keys(context.Background(), "asynq:{*}:t:*").Result(); len(n) != 0 {
		t.Errorf("tasks queued: %v", n)
	}
}

// TestCallUploadLimit: a file over UPLOAD_MAX_BYTES, or an album item's
// photo over it, is refused naming the field; nothing is stored or queued.
func TestCallUploadLimit(t *testing.T) {
	t.Parallel()
	vars, s := setup(t, "UPLOAD_MAX_BYTES", "10")
	small, big := writeFile(t, "small.jpg", []byte("0123456789")), writeFile(t, "big.jpg", []byte("0123456789a"))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a document", []string{"call", "sendDocument", `{"chat_id": 1, "document": "@` + big + `"}`}, "document: file is too large: more than 10 bytes"},
		{"the second photo of an album", []string{"call", "sendMediaGroup",
			`{"chat_id": 1, "media": [{"type": "photo", "media": "@` + small + `"}, {"type": "photo", "media": "@` + big + `"}]}`},
			"media[1].media: file is too large: more than 10 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, vars, "", tt.args...)
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("exit %d stdout %q stderr %q; want 1 and %q", r.code, r.stdout, r.stderr, tt.want)
			}
		})
	}
	rdb := s.Client(t)
	if n, _ := rdb.Keys(context.Background(), keys.UploadPrefix+"*").Result(); len(n) != 0 {
		t.Errorf("upload keys left: %v", n)
	}
	if n, _ := rdb.Keys(context.Background(), "asynq:{*}:t:*").Result(); len(n) != 0 {
		t.Errorf("tasks queued: %v", n)
	}
}

func TestSendJSONLMethods(t *testing.T) {
	t.Parallel()
	vars, s := setup(t)
	cat := []byte("cat")
	catPath := writeFile(t, "cat.jpg", cat)
	in := strings.Join([]string{
		`{"chat_id": 1, "text": "plain"}`,
		`{"method": "sendMessage", "chat_id": 1, "text": "named"}`,
		`{"method": "sendPhoto", "chat_id": 1, "photo": "@` + catPath + `", "priority": "bulk"}`,
		`{"method": "deleteMessage", "chat_id": 1, "message_id": 5, "send_in": "1h"}`,
		`{"method": "sendFax", "chat_id": 1}`,
		`{"method": "sendDice", "chat_id": 1, "ordered": true}`,
		`{"method": "sendDice", "chat_id": 1, "colour": "red"}`,
	}, "\n")
	r := run(t, vars, in, "send", "--jsonl", "-", "--bot", "alerts")
	if r.code != 1 {
		t.Errorf("exit %d, want 1 (three bad lines)", r.code)
	}
	ids := strings.Fields(r.stdout)
	if len(ids) != 4 {
		t.Fatalf("ids %q, want 4; stderr %s", r.stdout, r.stderr)
	}
	for _, want := range []string{"line 5: method: unknown method", "line 6: ordered:", "line 7: colour:"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	_, photo := queuedCall(t, s, "bulk", ids[2])
	if photo.Bot != "alerts" {
		t.Errorf("the --bot default: bot %q", photo.Bot)
	}
	wantUpload(t, s, ids[2], photo, "photo", cat)
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: s.Addr()})
	defer insp.Close()
	if info, err := insp.GetTaskInfo("default", ids[3]); err != nil || info.State != asynq.TaskStateScheduled || info.Type != "telegram:delete_message" {
		t.Errorf("delete: %+v %v", info, err)
	}
	for _, id := range ids[:2] {
		if info, err := insp.GetTaskInfo("default", id); err != nil || info.Type != tasks.TypeSendMessage {
			t.Errorf("message %s: %v", id, err)
		}
	}
}
