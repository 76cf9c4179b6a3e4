package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/internal/files"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/server"
	"github.com/telequeue/telequeue/tasks"
)

const testBotID = 123456789 // the numeric part of testToken

// callEnv is a redis-server, the sandbox and one worker with the
// sendMessage and call handlers and the upload store.
type callEnv struct {
	rdb       *redis.Client
	sandbox   *sandbox.Sandbox
	client    *asynq.Client
	inspector *asynq.Inspector
	uploads   handlers.Uploads
}

func setupCalls(t *testing.T) *callEnv {
	t.Helper()
	return setupCallsWith(t, sandbox.Config{}, 4)
}

// setupCallsWith is setupCalls with the sandbox's cfg and concurrency
// senders.
func setupCallsWith(t *testing.T, cfg sandbox.Config, concurrency int) *callEnv {
	t.Helper()
	rs := redistest.Start(t)
	e := &callEnv{rdb: rs.Client(t)}
	sb, url := startSandbox(t, cfg)
	e.sandbox = sb
	var err error
	if e.uploads, err = handlers.NewUploadStore(e.rdb, 0); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	send, err := handlers.NewSendMessageHandler(handlers.Config{
		Bots: testBots(t, url, 2*time.Second), Redis: e.rdb, Logger: log,
		Outcomes: handlers.NewOutcomeStream(e.rdb, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	calls, err := handlers.NewCallHandler(send, e.uploads)
	if err != nil {
		t.Fatal(err)
	}
	types, err := calls.Handlers(handlers.OrderedConfig{Redis: e.rdb, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	bh, err := handlers.NewBroadcastHandler(handlers.BroadcastConfig{
		Bots: testBots(t, url, 2*time.Second), Uploads: e.uploads, Redis: e.rdb, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	types[tasks.TypeBroadcastChunk] = bh
	opt := asynq.RedisClientOpt{Addr: rs.Addr()}
	startServer(t, server.Config{Redis: opt, Concurrency: concurrency, SendMessage: send, Handlers: types, Logger: log})
	e.client, e.inspector = asynqClients(t, opt)
	return e
}

// call enqueues a call and waits until it is final; it returns the task's
// info.
func (e *callEnv) call(t *testing.T, method, params string, uploads map[string]tasks.Upload, opts ...asynq.Option) *asynq.TaskInfo {
	t.Helper()
	task, err := tasks.NewCallTask(&tasks.Call{Method: method, Params: json.RawMessage(params), Uploads: uploads},
		append([]asynq.Option{asynq.Retention(time.Hour), asynq.MaxRetry(2)}, opts...)...)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	info, err := e.client.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}
	return e.final(t, info.Queue, info.ID)
}

func (e *callEnv) final(t *testing.T, queue, id string) *asynq.TaskInfo {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		info, err := e.inspector.GetTaskInfo(queue, id)
		if err == nil && (info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived) {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s not final within 15s: %v", id, stateOf(info))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// result decodes a completed call's result.
func result(t *testing.T, info *asynq.TaskInfo) tasks.CallResult {
	t.Helper()
	if info.State != asynq.TaskStateCompleted {
		t.Fatalf("task %s (%s): %v", info.ID, info.Type, stateOf(info))
	}
	var r tasks.CallResult
	if err := json.Unmarshal(info.Result, &r); err != nil {
		t.Fatalf("result %q: %v", info.Result, err)
	}
	return r
}

func (e *callEnv) put(t *testing.T, holder string, data []byte, name string) tasks.Upload {
	t.Helper()
	u, err := e.uploads.(*files.Store).Put(context.Background(), holder, bytes.NewReader(data), name, "image/png", tasks.MaxPhotoBytes)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestEveryMethodRoundTrip sends every method of the table through the one
// pipeline to the sandbox and checks what Telegram (the sandbox) holds and
// what the task's result says.
func TestEveryMethodRoundTrip(t *testing.T) {
	t.Parallel()
	e := setupCalls(t)
	const chat = "1001"

	// A text message to work with.
	first := e.call(t, "sendMessage", `{"chat_id":1001,"text":"hello"}`, nil)
	if first.State != asynq.TaskStateCompleted {
		t.Fatalf("sendMessage: %v", stateOf(first))
	}
	var sent tasks.SendResult
	_ = json.Unmarshal(first.Result, &sent)
	textID := sent.MessageID

	// A photo upload: uploaded once, then by file_id.
	png := bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 1000)
	up := e.put(t, "photo-1", png, "cat.png")
	photo := result(t, e.call(t, "sendPhoto", `{"chat_id":1001,"photo":"attach://cat","caption":"a cat"}`, map[string]tasks.Upload{"cat": up}, asynq.TaskID("photo-1")))
	if len(photo.MessageIDs) != 1 || len(photo.FileIDs) != 1 || photo.FileIDs[0] == "" {
		t.Fatalf("sendPhoto result %+v", photo)
	}
	up2 := e.put(t, "photo-2", png, "cat.png")
	again := result(t, e.call(t, "sendPhoto", `{"chat_id":1002,"photo":"attach://cat"}`, map[string]tasks.Upload{"cat": up2}, asynq.TaskID("photo-2")))
	if st := e.sandbox.Stats(); st.Uploads != 1 {
		t.Errorf("the same upload sent twice was uploaded %d times; want once, then by its file_id", st.Uploads)
	}
	if again.FileIDs[0] != photo.FileIDs[0] {
		t.Errorf("second send file_id %q, want %q", again.FileIDs[0], photo.FileIDs[0])
	}
	// Both tasks are final: the upload's bytes are gone from Redis.
	if _, err := e.uploads.Open(context.Background(), up); err == nil {
		t.Error("the upload is still stored after every task using it completed")
	}

	album := result(t, e.call(t, "sendMediaGroup", `{"chat_id":1001,"media":[{"type":"photo","media":"`+photo.FileIDs[0]+`"},{"type":"photo","media":"https://example.com/b.png","caption":"b"}]}`, nil))
	if len(album.MessageIDs) != 2 {
		t.Errorf("album result %+v: want 2 message ids", album)
	}

	for _, tc := range []struct{ method, params string }{
		{"sendLocation", `{"chat_id":1001,"latitude":52.5,"longitude":13.4}`},
		{"sendVenue", `{"chat_id":1001,"latitude":52.5,"longitude":13.4,"title":"Cafe","address":"Main St 1"}`},
		{"sendContact", `{"chat_id":1001,"phone_number":"+100","first_name":"Ann"}`},
		{"sendPoll", `{"chat_id":1001,"question":"Lunch?","options":[{"text":"yes"},{"text":"no"}]}`},
		{"sendDice", `{"chat_id":1001}`},
		{"sendDocument", `{"chat_id":1001,"document":"https://example.com/a.pdf"}`},
		{"sendVideo", `{"chat_id":1001,"video":"https://example.com/a.mp4","caption":"v"}`},
		{"sendAnimation", `{"chat_id":1001,"animation":"https://example.com/a.gif"}`},
		{"sendAudio", `{"chat_id":1001,"audio":"https://example.com/a.mp3"}`},
		{"sendVoice", `{"chat_id":1001,"voice":"https://example.com/a.ogg"}`},
		{"sendVideoNote", `{"chat_id":1001,"video_note":"https://example.com/n.mp4"}`},
		{"sendSticker", `{"chat_id":1001,"sticker":"https://example.com/s.webp"}`},
		{"copyMessage", fmt.Sprintf(`{"chat_id":1003,"from_chat_id":1001,"message_id":%d}`, textID)},
		{"forwardMessage", fmt.Sprintf(`{"chat_id":1003,"from_chat_id":1001,"message_id":%d}`, textID)},
		{"copyMessages", fmt.Sprintf(`{"chat_id":1003,"from_chat_id":1001,"message_ids":[%d,%d]}`, textID, photo.MessageIDs[0])},
		{"forwardMessages", fmt.Sprintf(`{"chat_id":1003,"from_chat_id":1001,"message_ids":[%d]}`, textID)},
	} {
		r := result(t, e.call(t, tc.method, tc.params, nil))
		if len(r.MessageIDs) == 0 || r.Method != tc.method {
			t.Errorf("%s: result %+v, want the new message ids", tc.method, r)
		}
	}

	// Changes.
	edit := fmt.Sprintf(`{"chat_id":1001,"message_id":%d,"text":"hello, edited"}`, textID)
	if r := result(t, e.call(t, "editMessageText", edit, nil)); r.NotModified || len(r.MessageIDs) != 1 {
		t.Errorf("edit result %+v", r)
	}
	if r := result(t, e.call(t, "editMessageText", edit, nil)); !r.NotModified {
		t.Errorf("the same edit again: %+v, want completed as not modified", r)
	}
	result(t, e.call(t, "editMessageCaption", fmt.Sprintf(`{"chat_id":1001,"message_id":%d,"caption":"a cat, edited"}`, photo.MessageIDs[0]), nil))
	result(t, e.call(t, "editMessageReplyMarkup", fmt.Sprintf(`{"chat_id":1001,"message_id":%d,"reply_markup":{"inline_keyboard":[[{"text":"ok","callback_data":"ok"}]]}}`, textID), nil))
	// editMessageMedia with a new upload: multipart with attach://.
	dog := e.put(t, "media-1", bytes.Repeat([]byte("dog"), 500), "dog.png")
	media := result(t, e.call(t, "editMessageMedia", fmt.Sprintf(`{"chat_id":1001,"message_id":%d,"media":{"type":"photo","media":"attach://dog"}}`, album.MessageIDs[1]),
		map[string]tasks.Upload{"dog": dog}, asynq.TaskID("media-1")))
	if st, _ := e.sandbox.Message(testBotID, chat, album.MessageIDs[1]); len(media.FileIDs) != 1 || st.FileID != media.FileIDs[0] {
		t.Errorf("editMessageMedia result %+v, message %+v", media, st)
	}
	if n := e.sandbox.Stats().Uploads; n != 2 {
		t.Errorf("%d uploads, want 2 (the photo once, the new media)", n)
	}
	result(t, e.call(t, "pinChatMessage", fmt.Sprintf(`{"chat_id":1001,"message_id":%d}`, textID), nil))
	if st, _ := e.sandbox.Message(testBotID, chat, textID); st.Text != "hello, edited" || !st.Pinned || len(st.ReplyMarkup) == 0 {
		t.Errorf("message after edits and pin: %+v", st)
	}
	if st, _ := e.sandbox.Message(testBotID, chat, photo.MessageIDs[0]); st.Caption != "a cat, edited" {
		t.Errorf("photo caption %q after editMessageCaption", st.Caption)
	}
	result(t, e.call(t, "unpinChatMessage", `{"chat_id":1001}`, nil))
	del := fmt.Sprintf(`{"chat_id":1001,"message_id":%d}`, textID)
	result(t, e.call(t, "deleteMessage", del, nil))
	if r := result(t, e.call(t, "deleteMessage", del, nil)); !r.AlreadyGone {
		t.Errorf("deleting a deleted message: %+v, want completed as already gone", r)
	}
	if st, _ := e.sandbox.Message(testBotID, chat, textID); !st.Deleted {
		t.Errorf("message not deleted: %+v", st)
	}
	result(t, e.call(t, "deleteMessages", fmt.Sprintf(`{"chat_id":1001,"message_ids":[%d]}`, album.MessageIDs[0]), nil))

	// Interaction.
	cb := e.call(t, "answerCallbackQuery", `{"callback_query_id":"42","text":"done"}`, nil)
	if cb.Queue != tasks.QueueCallbacks {
		t.Errorf("callback answer in queue %q", cb.Queue)
	}
	result(t, cb)
	result(t, e.call(t, "sendChatAction", `{"chat_id":1001,"action":"typing"}`, nil))
	result(t, e.call(t, "sendMessageDraft", `{"chat_id":1001,"draft_id":5,"text":"Thinking…"}`, nil))

	st := e.sandbox.Stats()
	for _, m := range tasks.Methods() {
		if ms := st.Methods[m.Name]; ms.OK == 0 {
			t.Errorf("the sandbox saw no successful %s", m.Name)
		}
	}
}

// TestCallErrorClasses: Telegram's refusals of calls are archived with its
// reason, migrations are followed, a late callback answer is dropped unsent.
func TestCallErrorClasses(t *testing.T) {
	t.Parallel()
	e := setupCalls(t)
	for _, tc := range []struct {
		name, method, params, lastErr string
	}{
		{"edit of an unknown message", "editMessageText", `{"chat_id":2001,"message_id":999,"text":"x"}`, "message to edit not found"},
		{"copy of an unknown message", "copyMessage", `{"chat_id":2001,"from_chat_id":2002,"message_id":999}`, "message to copy not found"},
		{"forward of an unknown message", "forwardMessage", `{"chat_id":2001,"from_chat_id":2002,"message_id":999}`, "message to forward not found"},
		{"unknown file_id", "sendPhoto", `{"chat_id":2001,"photo":"AgACunknown"}`, "wrong file identifier"},
	} {
		info := e.call(t, tc.method, tc.params, nil)
		if info.State != asynq.TaskStateArchived || !strings.Contains(info.LastErr, tc.lastErr) || info.Retried != 0 {
			t.Errorf("%s: %v after %d retries; want archived at once with %q", tc.name, stateOf(info), info.Retried, tc.lastErr)
		}
	}

	e.sandbox.AddRule(sandbox.Rule{Chat: "-2003", Kind: sandbox.KindMigrate, MigrateTo: -1002003})
	r := result(t, e.call(t, "sendPhoto", `{"chat_id":-2003,"photo":"https://example.com/a.png"}`, nil))
	if r.ChatID != -1002003 || r.MigratedFrom != -2003 {
		t.Errorf("migrated send result %+v", r)
	}

	e.sandbox.AddRule(sandbox.Rule{Chat: "2004", Kind: sandbox.KindBlocked})
	if info := e.call(t, "sendDice", `{"chat_id":2004}`, nil); info.State != asynq.TaskStateArchived || !strings.Contains(info.LastErr, "403") {
		t.Errorf("blocked: %v", stateOf(info))
	}

	e.sandbox.AddRule(sandbox.Rule{Chat: "2005", Kind: sandbox.KindServerError, Times: 1})
	result(t, e.call(t, "sendContact", `{"chat_id":2005,"phone_number":"+1","first_name":"A"}`, nil))

	// A callback answer past its deadline is dropped without a call.
	task, err := tasks.NewCallTask(&tasks.Call{Method: "answerCallbackQuery", Params: json.RawMessage(`{"callback_query_id":"late"}`)})
	if err != nil {
		t.Fatal(err)
	}
	late := tasks.WithDeadline(task, time.Now().Add(-time.Second), asynq.Retention(time.Hour))
	info, err := e.client.Enqueue(late)
	if err != nil {
		t.Fatal(err)
	}
	info = e.final(t, info.Queue, info.ID)
	if info.State != asynq.TaskStateArchived || !strings.Contains(info.LastErr, "dropped") {
		t.Errorf("late callback answer: %v", stateOf(info))
	}
	if n := e.sandbox.Stats().Methods["answerCallbackQuery"].Requests; n != 0 {
		t.Errorf("the sandbox got %d callback answers; want none past the deadline", n)
	}
}

// TestConcurrentSendsOfOneUploadUploadOnce: 40 sendPhoto tasks of one
// stored file, started together by 20 senders, reach Telegram with the
// bytes once: the first sender claims the upload, the others wait for the
// file_id it stores and send that.
func TestConcurrentSendsOfOneUploadUploadOnce(t *testing.T) {
	t.Parallel()
	e := setupCallsWith(t, sandbox.Config{Latency: 30 * time.Millisecond}, 20)
	if err := e.inspector.PauseQueue(tasks.QueueDefault); err != nil {
		t.Fatal(err)
	}
	png := bytes.Repeat([]byte{0x89, 'P', 'N', 'G', 1}, 2000)
	var ids []string
	for i := range 40 {
		id := fmt.Sprintf("fan-%d", i)
		up := e.put(t, id, png, "cat.png")
		task, err := tasks.NewCallTask(&tasks.Call{Method: "sendPhoto", Params: json.RawMessage(fmt.Sprintf(`{"chat_id":%d,"photo":"attach://p"}`, 3000+i)), Uploads: map[string]tasks.Upload{"p": up}},
			asynq.TaskID(id), asynq.Retention(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.Enqueue(task); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := e.inspector.UnpauseQueue(tasks.QueueDefault); err != nil {
		t.Fatal(err)
	}
	fileIDs := map[string]bool{}
	for _, id := range ids {
		r := result(t, e.final(t, tasks.QueueDefault, id))
		if len(r.FileIDs) != 1 {
			t.Fatalf("%s: result %+v", id, r)
		}
		fileIDs[r.FileIDs[0]] = true
	}
	if st := e.sandbox.Stats(); st.Uploads != 1 || st.Methods["sendPhoto"].OK != len(ids) {
		t.Errorf("%d sends of one file: %d uploads, %d successful sendPhoto; want 1 upload", len(ids), st.Uploads, st.Methods["sendPhoto"].OK)
	}
	if len(fileIDs) != 1 {
		t.Errorf("%d distinct file_ids in the results, want 1", len(fileIDs))
	}
}

// TestUploadClaimWaits: a sender finding another's claim on its upload
// waits: for the file_id the claimant stores (and sends that, uploading
// nothing), or, when the claimant dies and its claim expires, until it can
// claim the upload itself and upload it.
func TestUploadClaimWaits(t *testing.T) {
	t.Parallel()
	e := setupCalls(t)
	ctx := context.Background()
	store := e.uploads.(*files.Store)
	// A file_id the sandbox issued, for the claimant to "get".
	first := result(t, e.call(t, "sendPhoto", `{"chat_id":4000,"photo":"https://example.com/x.png"}`, nil))

	t.Run("claimant stores the file_id", func(t *testing.T) {
		before := e.sandbox.Stats().Uploads
		up := e.put(t, "wait-1", []byte("a file another sender is uploading"), "x.png")
		release, ok, err := store.ClaimUpload(ctx, "default", up, time.Minute)
		if err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		go func() {
			time.Sleep(300 * time.Millisecond)
			_ = store.SetFileID(ctx, "default", up, first.FileIDs[0])
			release()
		}()
		start := time.Now()
		r := result(t, e.call(t, "sendPhoto", `{"chat_id":4001,"photo":"attach://x"}`, map[string]tasks.Upload{"x": up}, asynq.TaskID("wait-1")))
		if took := time.Since(start); took < 250*time.Millisecond {
			t.Errorf("sent %s after enqueue: did not wait for the claimant", took)
		}
		if len(r.FileIDs) != 1 || r.FileIDs[0] != first.FileIDs[0] {
			t.Errorf("result %+v: want the claimant's file_id %s", r, first.FileIDs[0])
		}
		if n := e.sandbox.Stats().Uploads - before; n != 0 {
			t.Errorf("%d uploads; want none (sent by the claimant's file_id)", n)
		}
	})
	t.Run("claimant dies", func(t *testing.T) {
		up := e.put(t, "wait-2", []byte("a file whose uploader died"), "y.png")
		if _, ok, err := store.ClaimUpload(ctx, "default", up, 400*time.Millisecond); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		before := e.sandbox.Stats().Uploads
		start := time.Now()
		r := result(t, e.call(t, "sendPhoto", `{"chat_id":4002,"photo":"attach://y"}`, map[string]tasks.Upload{"y": up}, asynq.TaskID("wait-2")))
		if took := time.Since(start); took < 350*time.Millisecond {
			t.Errorf("sent %s after enqueue: did not wait for the claim to expire", took)
		}
		if n := e.sandbox.Stats().Uploads - before; n != 1 || len(r.FileIDs) != 1 {
			t.Errorf("%d uploads, result %+v; want the file uploaded once", n, r)
		}
		if id, _ := store.FileID(ctx, "default", up); id != r.FileIDs[0] {
			t.Errorf("stored file_id %q, want %q", id, r.FileIDs[0])
		}
	})
}
