package calls

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/files"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/tasks"
)

func TestSchedule(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	photo, _ := tasks.MethodByName("sendPhoto")
	callback, _ := tasks.MethodByName("answerCallbackQuery")
	action, _ := tasks.MethodByName("sendChatAction")
	tests := []struct {
		name      string
		m         *tasks.Method
		opts      Options
		queue     string
		at        time.Time
		wantField string
	}{
		{name: "defaults", m: photo},
		{name: "priority", m: photo, opts: Options{Priority: client.PriorityBulk}, queue: "bulk"},
		{name: "send_in", m: photo, opts: Options{SendIn: time.Hour}, at: now.Add(time.Hour)},
		{name: "send_at", m: photo, opts: Options{SendAt: now.Add(time.Minute)}, at: now.Add(time.Minute)},
		{name: "send_at past is now", m: photo, opts: Options{SendAt: now.Add(-time.Minute)}},
		{name: "both", m: photo, opts: Options{SendAt: now.Add(time.Minute), SendIn: time.Minute}, wantField: "send_in"},
		{name: "too far", m: photo, opts: Options{SendIn: client.MaxScheduleAhead + time.Hour}, wantField: "send_in"},
		{name: "negative", m: photo, opts: Options{SendIn: -time.Second}, wantField: "send_in"},
		{name: "bad priority", m: photo, opts: Options{Priority: "urgent"}, wantField: "priority"},
		{name: "callback priority", m: callback, opts: Options{Priority: client.PriorityCritical}, wantField: "priority"},
		{name: "callback scheduled", m: callback, opts: Options{SendIn: time.Second}, wantField: "send_in"},
		{name: "chat action scheduled", m: action, opts: Options{SendAt: now.Add(time.Hour)}, wantField: "send_at"},
		{name: "key too long", m: photo, opts: Options{Key: strings.Repeat("k", client.MaxIdempotencyKeyLength+1)}, wantField: "idempotency_key"},
		{name: "key not printable", m: photo, opts: Options{Key: "a\nb"}, wantField: "idempotency_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			queue, at, err := schedule(tt.m, tt.opts, now)
			var ve *tasks.ValidationError
			switch {
			case tt.wantField != "":
				if !errors.As(err, &ve) || ve.Field != tt.wantField {
					t.Errorf("err %v, want a ValidationError of %s", err, tt.wantField)
				}
			case err != nil:
				t.Errorf("err %v", err)
			case queue != tt.queue || !at.Equal(tt.at):
				t.Errorf("queue %q at %v, want %q %v", queue, at, tt.queue, tt.at)
			}
		})
	}
}

func newQueue(t *testing.T) (*Queue, *redis.Client) {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	store, err := files.NewStore(rdb, files.Config{MaxBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	q, err := New(rdb, store, Config{Bots: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	return q, rdb
}

func countKeys(t *testing.T, rdb *redis.Client, pattern string) int {
	t.Helper()
	n, err := rdb.Keys(context.Background(), pattern).Result()
	if err != nil {
		t.Fatal(err)
	}
	return len(n)
}

// TestSendReleasesOnFailure: whatever stops a call after its upload was
// stored (an invalid parameter, a used idempotency key), the upload is
// released and nothing is queued; a queued call keeps it.
func TestSendReleasesOnFailure(t *testing.T) {
	t.Parallel()
	q, rdb := newQueue(t)
	ctx := context.Background()
	doc, _ := tasks.MethodByName("sendDocument")
	put := func(id, content string) *tasks.Call {
		t.Helper()
		u, err := q.Put(ctx, id, doc, "document", strings.NewReader(content), "a.txt", "text/plain")
		if err != nil {
			t.Fatal(err)
		}
		return &tasks.Call{Method: "sendDocument", Params: []byte(`{"chat_id": 1, "document": "attach://document"}`),
			Uploads: map[string]tasks.Upload{"document": u}}
	}

	first := q.NewID()
	r, err := q.Send(ctx, first, put(first, "kept"), Options{Key: "k1"})
	if err != nil || r.ID != first || r.Queue != "default" {
		t.Fatalf("Send = %+v, %v", r, err)
	}
	if n := countKeys(t, rdb, keys.UploadPrefix+"*"); n != 2 {
		t.Fatalf("%d upload keys, want data and holders", n)
	}

	// The same key: a duplicate; its own upload is released.
	dup := q.NewID()
	_, err = q.Send(ctx, dup, put(dup, "other"), Options{Key: "k1"})
	var de *client.DuplicateError
	if !errors.As(err, &de) || de.ID != first || de.Queue != "default" {
		t.Fatalf("err %v, want a duplicate of %s", err, first)
	}
	// Invalid: released as well.
	bad := q.NewID()
	c := put(bad, "bad")
	c.Params = []byte(`{"chat_id": 1, "document": "attach://document", "caption_entities": "x"}`)
	if _, err := q.Send(ctx, bad, c, Options{}); err == nil {
		t.Fatal("invalid call queued")
	}
	if n := countKeys(t, rdb, keys.UploadPrefix+"*"); n != 2 {
		t.Errorf("%d upload keys, want the first call's 2 only", n)
	}
	if n := countKeys(t, rdb, "asynq:{*}:t:*"); n != 1 {
		t.Errorf("%d tasks, want 1", n)
	}

	// Over the store's limit: an UploadError naming the field, nothing stored.
	_, err = q.Put(ctx, q.NewID(), doc, "document", strings.NewReader(strings.Repeat("x", 101)), "big", "")
	var ue *UploadError
	if !errors.As(err, &ue) || ue.Field != "document" || ue.Limit != 100 || !errors.Is(err, files.ErrTooLarge) {
		t.Errorf("err %v, want a too-large UploadError of document, limit 100", err)
	}
}

func TestFieldLimit(t *testing.T) {
	t.Parallel()
	photo, _ := tasks.MethodByName("sendPhoto")
	video, _ := tasks.MethodByName("sendVideo")
	for _, tt := range []struct {
		m     *tasks.Method
		field string
		want  int64
	}{
		{photo, "photo", tasks.MaxPhotoBytes},
		{video, "video", tasks.MaxFileBytes},
		{video, "thumbnail", tasks.MaxPhotoBytes},
		{photo, "some_attach_name", tasks.MaxFileBytes},
	} {
		if got := FieldLimit(tt.m, tt.field); got != tt.want {
			t.Errorf("FieldLimit(%s, %s) = %d, want %d", tt.m.Name, tt.field, got, tt.want)
		}
	}
}

func TestAttachments(t *testing.T) {
	t.Parallel()
	params := map[string]json.RawMessage{
		"chat_id":   json.RawMessage(`1`),
		"photo":     json.RawMessage(`"attach://p"`),
		"document":  json.RawMessage(`"attach://d"`),
		"caption":   json.RawMessage(`"attach://not-a-file-but-still-a-name"`),
		"thumbnail": json.RawMessage(`"BQAC"`),
		"media": json.RawMessage(`[{"type": "video", "media": "attach://v", "thumbnail": "attach://vt"},
			{"type": "photo", "media": "attach://m1"}, {"type": "photo", "media": "https://x/y.jpg"}]`),
	}
	want := map[string]Attachment{
		"p":                           {"photo", tasks.MaxPhotoBytes},
		"d":                           {"document", tasks.MaxFileBytes},
		"not-a-file-but-still-a-name": {"caption", tasks.MaxFileBytes},
		"v":                           {"media[0].media", tasks.MaxFileBytes},
		"vt":                          {"media[0].thumbnail", tasks.MaxPhotoBytes},
		"m1":                          {"media[1].media", tasks.MaxPhotoBytes},
	}
	if got := Attachments(params); !maps.Equal(got, want) {
		t.Errorf("Attachments = %v, want %v", got, want)
	}
	single := map[string]json.RawMessage{"media": json.RawMessage(`{"type": "photo", "media": "attach://x"}`)}
	if got := Attachments(single); got["x"] != (Attachment{"media.media", tasks.MaxPhotoBytes}) {
		t.Errorf("editMessageMedia's media: %v", got)
	}
	if got := Attachments(map[string]json.RawMessage{"media": json.RawMessage(`"nope"`)}); len(got) != 0 {
		t.Errorf("malformed media: %v", got)
	}
}
