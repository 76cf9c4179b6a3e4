package client_test

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/tasks"
)

func TestAttachments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		params string
		want   map[string]client.Attachment
	}{
		{"top level and an album",
			`{"chat_id": 1, "photo": "attach://p", "document": "attach://d", "caption": "attach://c", "thumbnail": "BQAC",
			  "media": [{"type": "video", "media": "attach://v", "thumbnail": "attach://vt", "cover": "attach://vc"},
			            {"type": "photo", "media": "attach://m1"}, {"type": "photo", "media": "https://x/y.jpg"}]}`,
			map[string]client.Attachment{
				"p":  {Field: "photo", Limit: tasks.MaxPhotoBytes},
				"d":  {Field: "document", Limit: tasks.MaxFileBytes},
				"c":  {Field: "caption", Limit: tasks.MaxFileBytes},
				"v":  {Field: "media[0].media", Limit: tasks.MaxFileBytes},
				"vt": {Field: "media[0].thumbnail", Limit: tasks.MaxPhotoBytes},
				"vc": {Field: "media[0].cover", Limit: tasks.MaxPhotoBytes},
				"m1": {Field: "media[1].media", Limit: tasks.MaxPhotoBytes},
			}},
		{"one InputMedia (editMessageMedia)", `{"media": {"type": "photo", "media": "attach://x"}}`,
			map[string]client.Attachment{"x": {Field: "media.media", Limit: tasks.MaxPhotoBytes}}},
		{"malformed media", `{"media": "nope"}`, map[string]client.Attachment{}},
		{"not an object", `[1]`, map[string]client.Attachment{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := client.Attachments(json.RawMessage(tt.params)); !maps.Equal(got, tt.want) {
				t.Errorf("Attachments = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFileParams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method string
		want   []string
	}{
		{"sendPhoto", []string{"photo"}},
		{"sendVideo", []string{"video", "thumbnail", "cover"}},
		{"sendDice", nil},
		{"sendFax", nil},
	}
	for _, tt := range tests {
		got := client.FileParams(tt.method)
		slices.Sort(got)
		want := slices.Sorted(slices.Values(tt.want))
		if !slices.Equal(got, want) {
			t.Errorf("FileParams(%s) = %v, want %v", tt.method, got, want)
		}
	}
}

func TestTaskID(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	ctx := testCtx(t)
	msg := &tasks.SendMessage{ChatID: telego.ChatID{ID: 42}, Text: "hi"}
	for _, id := range []string{"", "a b", "ü", "a/b", strings.Repeat("x", client.MaxTaskIDLength+1)} {
		_, err := b.c.SendMessage(ctx, msg, client.TaskID(id))
		var oe *client.OptionError
		if !errors.As(err, &oe) || oe.Option != "TaskID" {
			t.Errorf("TaskID(%q): err %v, want an OptionError of TaskID", id, err)
		}
	}
	if _, errs := b.c.SendBatch(ctx, []*tasks.SendMessage{msg}, client.TaskID("x")); len(errs) != 1 || !errors.Is(errs[0], client.ErrInvalidOption) {
		t.Errorf("SendBatch with TaskID: %v, want refused", errs)
	}
	id := client.NewTaskID()
	r, err := b.c.SendMessage(ctx, msg, client.TaskID(id))
	if err != nil || r.ID != id {
		t.Fatalf("SendMessage = %+v, %v; want id %s", r, err, id)
	}
	r, err = b.c.CallJSON(ctx, "sendDice", json.RawMessage(`{"chat_id": 1}`), nil, client.TaskID("my-call_1"))
	if err != nil || r.ID != "my-call_1" {
		t.Fatalf("CallJSON = %+v, %v; want id my-call_1", r, err)
	}
	if _, err := b.c.CallJSON(ctx, "sendDice", json.RawMessage(`{"chat_id": 1}`), nil, client.TaskID("my-call_1")); err == nil {
		t.Error("a second call under the same id queued")
	}
}

// TestPutFileStored: files stored before the call (as web stores a
// multipart body's) are sent as they are, held by the task id, and
// released when the call is refused.
func TestPutFileStored(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{UploadMaxBytes: 100})
	ctx := testCtx(t)
	doc := client.Attachment{Field: "document", Limit: tasks.MaxFileBytes}
	put := func(id, content string) map[string]client.File {
		t.Helper()
		u, err := b.c.PutFile(ctx, id, doc, client.File{Reader: strings.NewReader(content), Name: "a.txt"})
		if err != nil {
			t.Fatalf("PutFile: %v", err)
		}
		if u.ContentType != "text/plain; charset=utf-8" || u.Name != "a.txt" {
			t.Errorf("upload %+v", u)
		}
		return map[string]client.File{"document": {Stored: &u}}
	}
	params := json.RawMessage(`{"chat_id": 1, "document": "attach://document"}`)

	first := client.NewTaskID()
	r, err := b.c.CallJSON(ctx, "sendDocument", params, put(first, "kept"), client.TaskID(first), client.IdempotencyKey("k1"))
	if err != nil || r.ID != first {
		t.Fatalf("CallJSON = %+v, %v", r, err)
	}
	c, _ := b.queued(t, r)
	if u, want := c.Uploads["document"], b.stored(t, []byte("kept"), first); u.SHA256 != want.SHA256 || u.Size != want.Size {
		t.Errorf("uploads %+v", c.Uploads)
	}

	refused := []struct {
		name   string
		params json.RawMessage
		opts   func(id string) []client.Option
		want   func(error) bool
	}{
		{"a used idempotency key", params,
			func(id string) []client.Option {
				return []client.Option{client.TaskID(id), client.IdempotencyKey("k1")}
			},
			func(err error) bool { return errors.Is(err, client.ErrDuplicate) }},
		{"an invalid parameter", json.RawMessage(`{"chat_id": 1, "document": "attach://document", "caption_entities": "x"}`),
			func(id string) []client.Option { return []client.Option{client.TaskID(id)} },
			func(err error) bool {
				var ve *tasks.ValidationError
				return errors.As(err, &ve) && ve.Field == "caption_entities"
			}},
		{"a bad option", params,
			func(id string) []client.Option { return []client.Option{client.TaskID(id), client.Priority("urgent")} },
			func(err error) bool { return errors.Is(err, client.ErrInvalidOption) }},
		{"an unknown method", params,
			func(id string) []client.Option { return []client.Option{client.TaskID(id)} },
			func(err error) bool { return errors.Is(err, tasks.ErrUnknownMethod) }},
	}
	for _, tt := range refused {
		id := client.NewTaskID()
		method := "sendDocument"
		if tt.name == "an unknown method" {
			method = "sendFax"
		}
		_, err := b.c.CallJSON(ctx, method, tt.params, put(id, "refused "+tt.name), tt.opts(id)...)
		if !tt.want(err) {
			t.Errorf("%s: err %v", tt.name, err)
		}
	}
	// A stored file without the id that holds it.
	if _, err := b.c.CallJSON(ctx, "sendDocument", params, put("orphan", "orphan")); !errors.Is(err, client.ErrInvalidOption) {
		t.Errorf("stored file without TaskID: %v", err)
	}
	b.c.ReleaseFiles(ctx, "orphan", map[string]tasks.Upload{"document": *put("orphan", "orphan")["document"].Stored})
	if n := len(b.uploadKeys(t)); n != 2 {
		t.Errorf("%d upload keys, want the first call's 2 only: %v", n, b.uploadKeys(t))
	}
	if taskHashes, _ := b.taskKeys(t); len(taskHashes) != 1 {
		t.Errorf("%d tasks, want 1", len(taskHashes))
	}

	// Over UploadMaxBytes, or empty: refused naming the field, nothing stored.
	_, err = b.c.PutFile(ctx, "big", client.Attachment{Field: "media[1].media", Limit: tasks.MaxPhotoBytes},
		client.File{Reader: strings.NewReader(strings.Repeat("x", 101))})
	var tl *client.FileTooLargeError
	if !errors.As(err, &tl) || tl.Field != "media[1].media" || tl.Limit != 100 || !errors.Is(err, tasks.ErrFileTooLarge) {
		t.Errorf("too large: %v, want a FileTooLargeError of media[1].media, limit 100", err)
	}
	_, err = b.c.PutFile(ctx, "empty", doc, client.File{Reader: strings.NewReader("")})
	var ve *tasks.ValidationError
	if !errors.As(err, &ve) || ve.Field != "document" {
		t.Errorf("empty: %v, want a ValidationError of document", err)
	}
	if _, err := b.c.PutFile(ctx, "bad id", doc, client.File{Reader: strings.NewReader("x")}); !errors.Is(err, client.ErrInvalidOption) {
		t.Errorf("bad id: %v", err)
	}
	if n := len(b.uploadKeys(t)); n != 2 {
		t.Errorf("%d upload keys after refused puts, want 2", n)
	}

	// A scheduled call keeps its stored files as long as it waits.
	later := client.NewTaskID()
	if _, err := b.c.CallJSON(ctx, "sendDocument", params, put(later, "later"), client.TaskID(later), client.SendIn(30*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	u := b.stored(t, []byte("later"), later)
	ttl, err := b.rdb.PTTL(ctx, keys.UploadOf(u.SHA256).Data()).Result()
	if err != nil || ttl < 30*24*time.Hour {
		t.Errorf("a scheduled call's file lives %v (%v), want at least 30 days", ttl, err)
	}
}
