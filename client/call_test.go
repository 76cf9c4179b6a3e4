package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
	tu "github.com/mymmrac/telego/telegoutil"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/tasks"
)

// queued returns the task of a receipt, decoded and validated as a worker
// decodes it, with its asynq info.
func (b *bundle) queued(t *testing.T, r *client.Receipt) (*tasks.Call, *asynq.TaskInfo) {
	t.Helper()
	info, err := b.inspa.GetTaskInfo(r.Queue, r.ID)
	if err != nil {
		t.Fatalf("task %s not in queue %s: %v", r.ID, r.Queue, err)
	}
	if info.Type != r.Type {
		t.Errorf("task type %s, receipt says %s", info.Type, r.Type)
	}
	c, err := tasks.ParseCall(info.Payload)
	if err != nil {
		t.Fatalf("ParseCall(%s): %v", info.Payload, err)
	}
	return c, info
}

// params decodes a call's parameters into a map of JSON values.
func params(t *testing.T, c *tasks.Call) map[string]any {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(c.Params, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// uploadKeys returns the upload store's keys in Redis, sorted.
func (b *bundle) uploadKeys(t *testing.T) []string {
	t.Helper()
	k, err := b.rdb.Keys(testCtx(t), keys.UploadPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(k)
	return k
}

// stored checks that content is stored once, held by exactly holders.
func (b *bundle) stored(t *testing.T, content []byte, holders ...string) tasks.Upload {
	t.Helper()
	ctx := testCtx(t)
	sum := sha256.Sum256(content)
	sha := hex.EncodeToString(sum[:])
	k := keys.UploadOf(sha)
	got, err := b.rdb.Get(ctx, k.Data()).Bytes()
	if err != nil || !bytes.Equal(got, content) {
		t.Errorf("stored bytes of %s…: %d bytes, err %v; want the %d bytes uploaded", sha[:8], len(got), err, len(content))
	}
	members, err := b.rdb.SMembers(ctx, k.Holders()).Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(members)
	want := slices.Sorted(slices.Values(holders))
	if !slices.Equal(members, want) {
		t.Errorf("holders of %s…: %v, want %v", sha[:8], members, want)
	}
	return tasks.Upload{SHA256: sha, Size: int64(len(content))}
}

func file(content []byte, name string) telego.InputFile {
	return tu.File(tu.NameBytes(content, name))
}

func TestCallUploads(t *testing.T) {
	t.Parallel()
	photo := []byte("\xff\xd8\xff a photo")
	video := []byte("a video, not really")
	thumb := []byte("a thumbnail")
	doc := []byte("%PDF-1.7 a document")
	tests := []struct {
		name     string
		call     func(context.Context, *client.Client) (*client.Receipt, error)
		wantType string
		// wantRefs maps a JSON path in the params to the attach name and
		// the content it uploads.
		wantRefs map[string]string
		content  map[string][]byte // by attach name
	}{
		{
			name: "photo by reader",
			call: func(ctx context.Context, c *client.Client) (*client.Receipt, error) {
				return c.SendPhoto(ctx, tu.Photo(tu.ID(42), file(photo, "/tmp/cat.jpg")).WithCaption("a cat"))
			},
			wantType: "telegram:send_photo",
			wantRefs: map[string]string{"photo": "photo"},
			content:  map[string][]byte{"photo": photo},
		},
		{
			name: "document by Call",
			call: func(ctx context.Context, c *client.Client) (*client.Receipt, error) {
				return c.Call(ctx, tu.Document(tu.ID(42), file(doc, "report.pdf")))
			},
			wantType: "telegram:send_document",
			wantRefs: map[string]string{"document": "document"},
			content:  map[string][]byte{"document": doc},
		},
		{
			name: "album with a thumbnail",
			call: func(ctx context.Context, c *client.Client) (*client.Receipt, error) {
				return c.SendMediaGroup(ctx, tu.MediaGroup(tu.ID(42),
					tu.MediaPhoto(file(photo, "a.jpg")).WithCaption("first"),
					tu.MediaVideo(file(video, "b.mp4")).WithThumbnail(ptr(file(thumb, "b.jpg"))),
					tu.MediaPhoto(tu.FileFromID("AgACAgIAAxkBAAIB")),
				))
			},
			wantType: "telegram:send_media_group",
			wantRefs: map[string]string{"media.0.media": "media0", "media.1.media": "media1", "media.1.thumbnail": "media1_thumbnail"},
			content:  map[string][]byte{"media0": photo, "media1": video, "media1_thumbnail": thumb},
		},
		{
			name: "edit media",
			call: func(ctx context.Context, c *client.Client) (*client.Receipt, error) {
				return c.EditMessageMedia(ctx, &telego.EditMessageMediaParams{ChatID: tu.ID(42), MessageID: 7,
					Media: tu.MediaDocument(file(doc, "v2.pdf"))})
			},
			wantType: "telegram:edit_message_media",
			wantRefs: map[string]string{"media.media": "media"},
			content:  map[string][]byte{"media": doc},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, client.Config{})
			r, err := tt.call(testCtx(t), b.c)
			if err != nil {
				t.Fatal(err)
			}
			if r.Type != tt.wantType || r.Queue != tasks.QueueDefault {
				t.Errorf("receipt %+v, want type %s in queue default", r, tt.wantType)
			}
			c, info := b.queued(t, r)
			if info.Type != tt.wantType || c.Bot != "" {
				t.Errorf("task type %s, bot %q; want %s, default bot", info.Type, c.Bot, tt.wantType)
			}
			p := params(t, c)
			for path, name := range tt.wantRefs {
				if got := lookup(p, path); got != "attach://"+name {
					t.Errorf("params %s = %v, want attach://%s (params %s)", path, got, name, c.Params)
				}
			}
			if len(c.Uploads) != len(tt.content) {
				t.Errorf("uploads %v, want %d", c.Uploads, len(tt.content))
			}
			for name, content := range tt.content {
				want := b.stored(t, content, r.ID)
				u := c.Uploads[name]
				if u.SHA256 != want.SHA256 || u.Size != want.Size || u.Name == "" {
					t.Errorf("upload %s = %+v, want sha256 %s, size %d, a name", name, u, want.SHA256, want.Size)
				}
			}
			// Each distinct content: its bytes and its holder set.
			if got := b.uploadKeys(t); len(got) != 2*len(tt.content) {
				t.Errorf("upload keys %v, want 2 per file", got)
			}
		})
	}
}

func TestCallUploadNameAndType(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	r, err := b.c.SendPhoto(testCtx(t), tu.Photo(tu.ID(42), file([]byte("jpeg"), "/srv/img/cat.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := b.queued(t, r)
	if u := c.Uploads["photo"]; u.Name != "cat.jpg" || u.ContentType != "image/jpeg" {
		t.Errorf("upload %+v: want name cat.jpg (no directory), content type image/jpeg", u)
	}
}

func ptr[T any](v T) *T { return &v }

// lookup follows a dotted path ("media.1.thumbnail") through decoded JSON.
func lookup(v any, path string) any {
	for part := range strings.SplitSeq(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func TestCallSameBytesStoredOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	ctx := testCtx(t)
	content := bytes.Repeat([]byte("same photo "), 1000)
	r1, err := b.c.SendPhoto(ctx, tu.Photo(tu.ID(1), file(content, "one.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := b.c.SendPhoto(ctx, tu.Photo(tu.ID(2), file(content, "two.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	b.stored(t, content, r1.ID, r2.ID)
	if got := b.uploadKeys(t); len(got) != 2 {
		t.Errorf("upload keys %v: want one content and its holders", got)
	}
	c1, _ := b.queued(t, r1)
	c2, _ := b.queued(t, r2)
	if c1.Uploads["photo"].SHA256 != c2.Uploads["photo"].SHA256 || c1.Uploads["photo"].Name != "one.jpg" || c2.Uploads["photo"].Name != "two.jpg" {
		t.Errorf("uploads %+v and %+v: want one content under each call's name", c1.Uploads, c2.Uploads)
	}
}

// zeros is a reader of n zero bytes that counts what was read.
type zeros struct {
	n, read int64
	name    string
}

func (z *zeros) Read(p []byte) (int, error) {
	if z.read >= z.n {
		return 0, io.EOF
	}
	k := min(int64(len(p)), z.n-z.read)
	clear(p[:k])
	z.read += k
	return int(k), nil
}

func (z *zeros) Name() string { return z.name }

func TestCallFileTooLarge(t *testing.T) {
	t.Parallel()
	small := []byte("small enough")
	tests := []struct {
		name      string
		cfg       client.Config
		params    func(big *zeros) any
		size      int64
		wantField string
		wantLimit int64
	}{
		{
			name:      "document over UploadMaxBytes",
			cfg:       client.Config{UploadMaxBytes: 1000},
			params:    func(big *zeros) any { return tu.Document(tu.ID(1), tu.File(big)) },
			size:      1001,
			wantField: "document",
			wantLimit: 1000,
		},
		{
			name:      "photo over Telegram's photo limit",
			params:    func(big *zeros) any { return tu.Photo(tu.ID(1), tu.File(big)) },
			size:      20 << 20,
			wantField: "photo",
			wantLimit: tasks.MaxPhotoBytes,
		},
		{
			name: "second album item, the first stored already",
			cfg:  client.Config{UploadMaxBytes: 100},
			params: func(big *zeros) any {
				return tu.MediaGroup(tu.ID(1), tu.MediaPhoto(file(small, "a.jpg")), tu.MediaVideo(tu.File(big)))
			},
			size:      101,
			wantField: "media[1].media",
			wantLimit: 100,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.cfg)
			big := &zeros{n: tt.size, name: "big.bin"}
			r, err := b.c.Call(testCtx(t), tt.params(big), client.IdempotencyKey("big-"+tt.name))
			if err == nil {
				t.Fatalf("queued %s, want an error", r.ID)
			}
			var tl *client.FileTooLargeError
			if !errors.As(err, &tl) || tl.Field != tt.wantField || tl.Limit != tt.wantLimit || !errors.Is(err, tasks.ErrFileTooLarge) {
				t.Fatalf("error %v (%#v): want a FileTooLargeError for %s, limit %d", err, tl, tt.wantField, tt.wantLimit)
			}
			if big.read > tt.wantLimit+1+64<<10 {
				t.Errorf("read %d bytes of a too large file, want about %d", big.read, tt.wantLimit+1)
			}
			if th, ik := b.taskKeys(t); len(th)+len(ik) != 0 {
				t.Errorf("refused call left keys: %v %v", th, ik)
			}
			if got := b.uploadKeys(t); len(got) != 0 {
				t.Errorf("refused call left uploads: %v", got)
			}
		})
	}
}

func TestCallRefusesInvalid(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	photo := file([]byte("jpeg"), "a.jpg")
	tests := []struct {
		name      string
		params    any
		opts      []client.Option
		wantField string
		wantIs    error
	}{
		{"caption too long", tu.Photo(tu.ID(1), photo).WithCaption(strings.Repeat("c", 1025)), nil, "caption", tasks.ErrTextTooLong},
		{"no photo", &telego.SendPhotoParams{ChatID: tu.ID(1)}, nil, "photo", tasks.ErrMissingField},
		{"no chat", &telego.SendPhotoParams{Photo: photo}, nil, "chat_id", tasks.ErrMissingChat},
		{"album of one", tu.MediaGroup(tu.ID(1), tu.MediaPhoto(photo)), nil, "media", tasks.ErrInvalidField},
		{"album item without type", tu.MediaGroup(tu.ID(1), tu.MediaPhoto(photo), &telego.InputMediaPhoto{Media: tu.FileFromID("x")}), nil, "media[1].type", tasks.ErrInvalidField},
		{"empty album media", tu.MediaGroup(tu.ID(1), tu.MediaPhoto(photo), &telego.InputMediaPhoto{Type: "photo"}), nil, "media[1].media", tasks.ErrMissingField},
		{"edit without text", &telego.EditMessageTextParams{ChatID: tu.ID(1), MessageID: 3}, nil, "text", tasks.ErrEmptyText},
		{"bad file_id", tu.Photo(tu.ID(1), tu.FileFromID("not a file id")), nil, "photo", tasks.ErrInvalidFile},
		{"not a queued method", &telego.SetWebhookParams{URL: "https://example.com"}, nil, "method", tasks.ErrUnknownMethod},
		{"unknown bot", tu.Photo(tu.ID(1), photo), []client.Option{client.Bot("marketing")}, "bot", tasks.ErrUnknownBot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := b.c.Call(testCtx(t), tt.params, tt.opts...)
			if err == nil {
				t.Fatalf("queued %s, want an error", r.ID)
			}
			var ve *tasks.ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.wantField || !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v: want a ValidationError naming %s, wrapping %v", err, tt.wantField, tt.wantIs)
			}
			if th, ik := b.taskKeys(t); len(th)+len(ik) != 0 {
				t.Errorf("refused call left keys: %v %v", th, ik)
			}
			if got := b.uploadKeys(t); len(got) != 0 {
				t.Errorf("refused call stored uploads: %v", got)
			}
		})
	}
}

func TestCallNeedsPointer(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	for _, p := range []any{telego.DeleteMessageParams{ChatID: tu.ID(1), MessageID: 2}, (*telego.DeleteMessageParams)(nil), nil} {
		r, err := b.c.Call(testCtx(t), p)
		if err == nil {
			t.Errorf("Call(%#v) queued %s, want an error", p, r.ID)
		}
	}
	if th, _ := b.taskKeys(t); len(th) != 0 {
		t.Errorf("tasks %v, want none", th)
	}
}

func TestCallOptions(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	answer := tu.CallbackQuery("query-1").WithText("Saved")
	tests := []struct {
		name       string
		params     any
		opts       []client.Option
		wantOption string // refused with an OptionError naming it
		wantQueue  string
		wantBot    string
	}{
		{"callback: priority", answer, []client.Option{client.Critical()}, "Priority", "", ""},
		{"callback: scheduled", answer, []client.Option{client.SendIn(time.Minute)}, "SendIn", "", ""},
		{"chat action: scheduled", tu.ChatAction(tu.ID(1), telego.ChatActionTyping), []client.Option{client.SendAt(time.Now().Add(time.Hour))}, "SendAt", "", ""},
		{"ordered callback answer", answer, []client.Option{client.Ordered()}, "Ordered", "", ""},
		{"broadcast option", tu.EditMessageText(tu.ID(1), 2, "x"), []client.Option{client.BroadcastChunkSize(10)}, "BroadcastChunkSize", "", ""},
		{"bulk edit by alerts", tu.EditMessageText(tu.ID(1), 2, "x"), []client.Option{client.Bulk(), client.Bot("alerts")}, "", tasks.QueueBulk, "alerts"},
		{"critical delete", tu.Delete(tu.ID(1), 2), []client.Option{client.Critical()}, "", tasks.QueueCritical, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := b.c.Call(testCtx(t), tt.params, tt.opts...)
			if tt.wantOption != "" {
				var oe *client.OptionError
				if !errors.As(err, &oe) || oe.Option != tt.wantOption {
					t.Fatalf("error %v: want an OptionError naming %s", err, tt.wantOption)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c, _ := b.queued(t, r)
			if r.Queue != tt.wantQueue || c.Bot != tt.wantBot {
				t.Errorf("queued in %s by bot %q, want %s, %q", r.Queue, c.Bot, tt.wantQueue, tt.wantBot)
			}
		})
	}
	// Bot is for calls: messages name their bot in the payload.
	var oe *client.OptionError
	if _, err := b.c.SendMessage(testCtx(t), msg(1, "hi"), client.Bot("alerts")); !errors.As(err, &oe) || oe.Option != "Bot" {
		t.Errorf("SendMessage with Bot: %v, want an OptionError naming Bot", err)
	}
}

func TestCallDeadlines(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	answer := tu.CallbackQuery("query-1")
	tests := []struct {
		name      string
		params    any
		opts      []client.Option
		wantQueue string
		wantIn    time.Duration // deadline header, from now; 0: none
	}{
		{"callback", answer, nil, tasks.QueueCallbacks, tasks.CallbackDeadline},
		{"callback, earlier client deadline", answer, []client.Option{client.Deadline(time.Now().Add(3 * time.Second))}, tasks.QueueCallbacks, 3 * time.Second},
		{"callback, later client deadline", answer, []client.Option{client.Deadline(time.Now().Add(time.Hour))}, tasks.QueueCallbacks, tasks.CallbackDeadline},
		{"callback with key", answer, []client.Option{client.IdempotencyKey("cb-1")}, tasks.QueueCallbacks, tasks.CallbackDeadline},
		{"chat action", tu.ChatAction(tu.ID(5), telego.ChatActionTyping), nil, tasks.QueueDefault, tasks.ChatActionDeadline},
		{"edit", tu.EditMessageText(tu.ID(5), 9, "new"), nil, tasks.QueueDefault, 0},
		{"edit, client deadline", tu.EditMessageText(tu.ID(5), 9, "new"), []client.Option{client.Deadline(time.Now().Add(time.Hour))}, tasks.QueueDefault, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			r, err := b.c.Call(testCtx(t), tt.params, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if r.Queue != tt.wantQueue {
				t.Errorf("queue %s, want %s", r.Queue, tt.wantQueue)
			}
			_, info := b.queued(t, r)
			h, ok := info.Headers[tasks.HeaderDeadline]
			if tt.wantIn == 0 {
				if ok {
					t.Errorf("deadline header %s, want none", h)
				}
				return
			}
			ms, err := strconv.ParseInt(h, 10, 64)
			if err != nil {
				t.Fatalf("deadline header %q: %v (headers %v)", h, err, info.Headers)
			}
			got := time.UnixMilli(ms).Sub(start)
			if got < tt.wantIn-time.Second || got > tt.wantIn+time.Second {
				t.Errorf("deadline %v after the call, want %v", got, tt.wantIn)
			}
			if strings.HasSuffix(tt.name, "with key") && info.Headers[tasks.HeaderIdempotencyKey] != "cb-1" {
				t.Errorf("headers %v: want the idempotency key", info.Headers)
			}
		})
	}
}

func TestCallIdempotencyKey(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	ctx := testCtx(t)
	content := []byte("the same invoice")
	doc := func() *telego.SendDocumentParams { return tu.Document(tu.ID(9), file(content, "invoice.pdf")) }
	first, err := b.c.SendDocument(ctx, doc(), client.IdempotencyKey("invoice-77"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.c.SendDocument(ctx, doc(), client.IdempotencyKey("invoice-77"))
	var dup *client.DuplicateError
	if !errors.As(err, &dup) || dup.ID != first.ID || dup.Queue != first.Queue {
		t.Fatalf("second call: %v, want a DuplicateError naming %s", err, first.ID)
	}
	// The repeat stored nothing and holds nothing.
	b.stored(t, content, first.ID)
	if th, _ := b.taskKeys(t); len(th) != 1 {
		t.Errorf("task hashes %v, want the first only", th)
	}
	_, info := b.queued(t, first)
	if info.Headers[tasks.HeaderIdempotencyKey] != "invoice-77" {
		t.Errorf("headers %v: want the idempotency key", info.Headers)
	}
	// The key is global: another method with it is a duplicate too.
	if _, err := b.c.EditMessageText(ctx, tu.EditMessageText(tu.ID(9), 1, "x"), client.IdempotencyKey("invoice-77")); !errors.Is(err, client.ErrDuplicate) {
		t.Errorf("edit with a used key: %v, want ErrDuplicate", err)
	}
	// A refused call releases its key.
	_, err = b.c.EditMessageText(ctx, tu.EditMessageText(tu.ID(9), 1, "x"), client.IdempotencyKey("edit-1"), client.Bot("nobody"))
	if !errors.Is(err, tasks.ErrUnknownBot) {
		t.Fatalf("unknown bot: %v", err)
	}
	if _, err := b.c.EditMessageText(ctx, tu.EditMessageText(tu.ID(9), 1, "x"), client.IdempotencyKey("edit-1")); err != nil {
		t.Errorf("key of a refused call: %v, want it free", err)
	}
}

func TestCallSendMessage(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	ctx := testCtx(t)
	r, err := b.c.Call(ctx, tu.Message(tu.ID(3), "hello").WithParseMode(telego.ModeHTML), client.Bot("alerts"), client.Ordered())
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != tasks.TypeSendMessageOrdered {
		t.Errorf("type %s, want %s", r.Type, tasks.TypeSendMessageOrdered)
	}
	st, err := b.c.Status(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Message == nil || st.Message.Text != "hello" || st.Message.Bot != "alerts" || st.Message.ParseMode != tasks.ParseModeHTML || st.Call != nil {
		t.Errorf("status %+v (message %+v): want the message of bot alerts, no Call", st, st.Message)
	}
}

func TestCallStatus(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	ctx := testCtx(t)
	photo := []byte("jpeg bytes")
	r, err := b.c.SendPhoto(ctx, tu.Photo(tu.ID(42), file(photo, "cat.jpg")), client.Bot("alerts"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := b.c.Status(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Type != "telegram:send_photo" || st.State != client.StatePending || st.Queue != tasks.QueueDefault ||
		st.Call == nil || st.Call.Method != "sendPhoto" || st.Call.Bot != "alerts" || st.Call.Uploads["photo"].Size != int64(len(photo)) ||
		st.CallResult != nil || st.Result != nil || st.Message != nil {
		t.Errorf("pending status %+v (call %+v)", st, st.Call)
	}

	// Sent: the worker wrote its marker; the task is not completed yet.
	res := tasks.CallResult{Method: "sendPhoto", MessageIDs: []int64{501}, ChatID: 42, FileIDs: []string{"AgACAgIAAxkB"}}
	data, _ := json.Marshal(res)
	if err := b.rdb.Set(ctx, keys.Sent(r.ID), data, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	st, err = b.c.Status(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.CallResult == nil || !reflect.DeepEqual(*st.CallResult, res) || st.Result != nil || st.Call == nil {
		t.Errorf("sent status: result %+v, want %+v with the call", st.CallResult, res)
	}

	// The task is gone (retention ended): the marker alone tells.
	if err := b.inspa.DeleteTask(r.Queue, r.ID); err != nil {
		t.Fatal(err)
	}
	st, err = b.c.Status(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Type != "telegram:send_photo" || st.State != client.StateCompleted || st.CallResult == nil ||
		!reflect.DeepEqual(*st.CallResult, res) || st.Result != nil {
		t.Errorf("status from the marker: %+v (result %+v)", st, st.CallResult)
	}

	// A callback answer waits in its own queue, which Status finds.
	cb, err := b.c.AnswerCallbackQuery(ctx, tu.CallbackQuery("q-9"))
	if err != nil {
		t.Fatal(err)
	}
	st, err = b.c.Status(ctx, cb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Queue != tasks.QueueCallbacks || st.Type != "telegram:answer_callback_query" || st.Call == nil {
		t.Errorf("callback status %+v", st)
	}
}

// TestTypedMethods checks that every typed call takes the parameters of
// the method it is named after.
func TestTypedMethods(t *testing.T) {
	t.Parallel()
	ct := reflect.TypeFor[*client.Client]()
	ctxType := reflect.TypeFor[context.Context]()
	receipt := reflect.TypeFor[*client.Receipt]()
	n := 0
	for i := range ct.NumMethod() {
		m := ct.Method(i)
		ft := m.Type // receiver first
		if ft.NumIn() != 4 || ft.In(1) != ctxType || ft.In(2).Kind() != reflect.Pointer || ft.In(2).Elem().PkgPath() != "github.com/mymmrac/telego" ||
			ft.NumOut() != 2 || ft.Out(0) != receipt {
			continue
		}
		n++
		method, ok := tasks.MethodOf(reflect.New(ft.In(2).Elem()).Interface())
		want := string(unicode.ToLower(rune(m.Name[0]))) + m.Name[1:]
		if !ok || method.Name != want {
			t.Errorf("Client.%s takes %v, the parameters of %v; want those of %s", m.Name, ft.In(2), method, want)
		}
	}
	if n < 18 {
		t.Errorf("%d typed calls, want at least 18", n)
	}
}

func TestCallJSON(t *testing.T) {
	t.Parallel()
	photo := []byte("jpeg bytes")
	doc := []byte("pdf bytes")
	f := func(content []byte, name string) client.File {
		return client.File{Reader: bytes.NewReader(content), Name: name}
	}
	tests := []struct {
		name      string
		method    string
		params    string
		files     map[string]client.File
		opts      []client.Option
		wantType  string
		wantQueue string
		content   map[string][]byte // stored, by attach name
		wantField string            // refused naming it
		wantIs    error
	}{
		{
			name: "photo upload", method: "sendPhoto", params: `{"chat_id":1,"photo":"attach://p1","caption":"hi"}`,
			files:    map[string]client.File{"p1": f(photo, "p.jpg")},
			wantType: "telegram:send_photo", wantQueue: tasks.QueueDefault, content: map[string][]byte{"p1": photo},
		},
		{
			name: "album of two uploads", method: "sendMediaGroup",
			params:   `{"chat_id":1,"media":[{"type":"photo","media":"attach://a"},{"type":"document","media":"attach://b"}]}`,
			files:    map[string]client.File{"a": f(photo, "a.jpg"), "b": f(doc, "b.pdf")},
			wantType: "telegram:send_media_group", wantQueue: tasks.QueueDefault, wantField: "media", wantIs: tasks.ErrInvalidField,
		},
		{
			name: "album of two documents", method: "sendMediaGroup",
			params:   `{"chat_id":1,"media":[{"type":"document","media":"attach://a"},{"type":"document","media":"attach://b"}]}`,
			files:    map[string]client.File{"a": f(photo, "a.txt"), "b": f(doc, "b.pdf")},
			wantType: "telegram:send_media_group", wantQueue: tasks.QueueDefault, content: map[string][]byte{"a": photo, "b": doc},
		},
		{
			name: "callback answer", method: "answerCallbackQuery", params: `{"callback_query_id":"q1","text":"ok"}`,
			wantType: "telegram:answer_callback_query", wantQueue: tasks.QueueCallbacks,
		},
		{
			name: "sendMessage", method: "sendMessage", params: `{"chat_id":1,"text":"hi"}`, opts: []client.Option{client.Bot("alerts")},
			wantType: tasks.TypeSendMessage, wantQueue: tasks.QueueDefault,
		},
		{name: "unknown method", method: "getMe", params: `{}`, wantField: "method", wantIs: tasks.ErrUnknownMethod},
		{name: "unknown parameter", method: "deleteMessage", params: `{"chat_id":1,"message_id":2,"text":"x"}`, wantField: "text", wantIs: tasks.ErrUnknownField},
		{
			name: "file attached by nothing", method: "sendPhoto", params: `{"chat_id":1,"photo":"AgACAgIAAxkB"}`,
			files: map[string]client.File{"p1": f(photo, "p.jpg")}, wantField: "uploads.p1", wantIs: tasks.ErrInvalidFile,
		},
		{
			name: "attach names no file", method: "sendPhoto", params: `{"chat_id":1,"photo":"attach://p2"}`,
			wantField: "photo", wantIs: tasks.ErrInvalidFile,
		},
		{
			name: "sendMessage with a file", method: "sendMessage", params: `{"chat_id":1,"text":"hi"}`,
			files: map[string]client.File{"p1": f(photo, "p.jpg")}, wantField: "uploads", wantIs: tasks.ErrInvalidFile,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, client.Config{})
			r, err := b.c.CallJSON(testCtx(t), tt.method, json.RawMessage(tt.params), tt.files, tt.opts...)
			if tt.wantField != "" {
				var ve *tasks.ValidationError
				if !errors.As(err, &ve) || ve.Field != tt.wantField || !errors.Is(err, tt.wantIs) {
					t.Fatalf("error %v: want a ValidationError naming %s, wrapping %v", err, tt.wantField, tt.wantIs)
				}
				if th, ik := b.taskKeys(t); len(th)+len(ik) != 0 || len(b.uploadKeys(t)) != 0 {
					t.Errorf("refused call left keys: %v %v %v", th, ik, b.uploadKeys(t))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Type != tt.wantType || r.Queue != tt.wantQueue {
				t.Errorf("receipt %+v, want type %s in %s", r, tt.wantType, tt.wantQueue)
			}
			if r.Type == tasks.TypeSendMessage {
				return
			}
			c, _ := b.queued(t, r)
			for name, content := range tt.content {
				want := b.stored(t, content, r.ID)
				if u := c.Uploads[name]; u.SHA256 != want.SHA256 || u.Name != tt.files[name].Name {
					t.Errorf("upload %s = %+v, want sha256 %s", name, u, want.SHA256)
				}
			}
			if len(c.Uploads) != len(tt.content) {
				t.Errorf("uploads %v, want %d", c.Uploads, len(tt.content))
			}
		})
	}
}

func TestCallJSONLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	tests := []struct {
		name      string
		method    string
		params    string
		wantField string
		wantLimit int64
	}{
		{"photo", "sendPhoto", `{"chat_id":1,"photo":"attach://f"}`, "photo", tasks.MaxPhotoBytes},
		{"album photo", "sendMediaGroup", `{"chat_id":1,"media":[{"type":"photo","media":"attach://f"},{"type":"photo","media":"x1"}]}`, "media[0].media", tasks.MaxPhotoBytes},
		{"edit media thumbnail", "editMessageMedia", `{"chat_id":1,"message_id":2,"media":{"type":"video","media":"x1","thumbnail":"attach://f"}}`, "media.thumbnail", tasks.MaxPhotoBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			big := &zeros{n: tasks.MaxPhotoBytes + 1}
			_, err := b.c.CallJSON(testCtx(t), tt.method, json.RawMessage(tt.params), map[string]client.File{"f": {Reader: big, Name: "big.jpg"}})
			var tl *client.FileTooLargeError
			if !errors.As(err, &tl) || tl.Field != tt.wantField || tl.Limit != tt.wantLimit {
				t.Fatalf("error %v: want a FileTooLargeError naming %s with limit %d", err, tt.wantField, tt.wantLimit)
			}
			if got := b.uploadKeys(t); len(got) != 0 {
				t.Errorf("uploads left: %v", got)
			}
		})
	}
}

// An upload lives at least as long as its task may wait: a week, or a
// scheduled call's delay plus the task retention.
func TestCallUploadRetention(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{Retention: time.Hour})
	tests := []struct {
		name    string
		opts    []client.Option
		wantMin time.Duration
		wantMax time.Duration
	}{
		{"now", nil, 7*24*time.Hour - time.Minute, 7 * 24 * time.Hour},
		{"in 30 days", []client.Option{client.SendIn(30 * 24 * time.Hour)}, 30*24*time.Hour + time.Hour - time.Minute, 30*24*time.Hour + time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := []byte("photo for " + tt.name)
			if _, err := b.c.SendPhoto(testCtx(t), tu.Photo(tu.ID(1), file(content, "a.jpg")), tt.opts...); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(content)
			k := keys.UploadOf(hex.EncodeToString(sum[:]))
			for _, key := range []string{k.Data(), k.Holders()} {
				ttl, err := b.rdb.PTTL(testCtx(t), key).Result()
				if err != nil || ttl < tt.wantMin || ttl > tt.wantMax {
					t.Errorf("TTL of %s: %v, %v; want %v to %v", key, ttl, err, tt.wantMin, tt.wantMax)
				}
			}
		})
	}
}
