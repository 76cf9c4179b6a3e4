package client_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	tu "github.com/mymmrac/telego/telegoutil"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/internal/files"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/tasks"
	"github.com/telequeue/telequeue/telegramtest"
)

// photoAPI is a Bot API that answers sendPhoto, recording the photo each
// request carried: the uploaded bytes, or a file_id.
type photoAPI struct {
	mu     sync.Mutex
	photos []string // "upload:<bytes>" or "id:<file_id>"
}

func (a *photoAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/sendPhoto") {
		http.Error(w, `{"ok":false,"error_code":404,"description":"Not Found"}`, http.StatusNotFound)
		return
	}
	got := ""
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "multipart/form-data":
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			if p.FormName() == "photo" {
				got = "id:" + string(b) // a file_id, or attach://... if the part follows
			}
			if p.FileName() != "" {
				got = "upload:" + string(b)
			}
		}
	default:
		var body struct {
			Photo string `json:"photo"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		got = "id:" + body.Photo
	}
	a.mu.Lock()
	a.photos = append(a.photos, got)
	n := len(a.photos)
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true,"result":{"message_id":`+strconv.Itoa(n)+`,"date":1700000000,"chat":{"id":42,"type":"private"},`+
		`"photo":[{"file_id":"AgAD-small","file_unique_id":"s","width":90,"height":90},{"file_id":"AgAD-large","file_unique_id":"l","width":800,"height":800}]}}`)
}

// TestCallUploadEndToEnd runs a queued upload through the worker's
// CallHandler with the upload store: the photo reaches the Bot API as a
// multipart upload, Status reports the result, the upload is released, and
// a second send of the same photo goes by the file_id Telegram gave.
func TestCallUploadEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	ctx := testCtx(t)
	api := &photoAPI{}
	tg := httptest.NewServer(api)
	t.Cleanup(tg.Close)

	bots, err := handlers.NewBots(handlers.BotsConfig{Tokens: map[string]string{tasks.DefaultBot: telegramtest.Token}, APIURL: tg.URL})
	if err != nil {
		t.Fatal(err)
	}
	workerRedis := b.srv.Client(t)
	send, err := handlers.NewSendMessageHandler(handlers.Config{Bots: bots, Redis: workerRedis})
	if err != nil {
		t.Fatal(err)
	}
	store, err := files.NewStore(workerRedis, files.Config{})
	if err != nil {
		t.Fatal(err)
	}
	calls, err := handlers.NewCallHandler(send, store)
	if err != nil {
		t.Fatal(err)
	}
	types, err := calls.Handlers(handlers.OrderedConfig{Redis: workerRedis})
	if err != nil {
		t.Fatal(err)
	}
	mux := asynq.NewServeMux()
	for typ, h := range types {
		mux.Handle(typ, h)
	}
	srv := asynq.NewServer(b.opt, asynq.Config{Concurrency: 2, Queues: map[string]int{tasks.QueueDefault: 1},
		LogLevel: asynq.FatalLevel, DelayedTaskCheckInterval: 50 * time.Millisecond})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	photo := []byte("\xff\xd8\xff end to end")
	completed := func(r *client.Receipt) *client.Status {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			st, err := b.c.Status(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if st.State == client.StateCompleted {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("task %s still %s (last error %q)", r.ID, st.State, st.LastError)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	r1, err := b.c.SendPhoto(ctx, tu.Photo(tu.ID(42), file(photo, "cat.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	st := completed(r1)
	want := tasks.CallResult{Method: "sendPhoto", MessageIDs: []int64{1}, ChatID: 42, Date: 1700000000, FileIDs: []string{"AgAD-large"}}
	if st.CallResult == nil || !reflect.DeepEqual(*st.CallResult, want) {
		t.Errorf("result %+v, want %+v", st.CallResult, want)
	}
	// Released by its only holder: its bytes and holders are gone; the
	// bot's file_id for the content remains.
	if got := b.uploadKeys(t); len(got) != 0 {
		t.Errorf("upload keys after the send: %v, want none", got)
	}
	sum := sha256.Sum256(photo)
	if id, err := b.rdb.Get(ctx, keys.UploadOf(hex.EncodeToString(sum[:])).FileID(tasks.DefaultBot)).Result(); err != nil || id != "AgAD-large" {
		t.Errorf("file_id of the photo: %q, %v; want AgAD-large", id, err)
	}

	r2, err := b.c.SendPhoto(ctx, tu.Photo(tu.ID(42), file(photo, "cat.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	completed(r2)
	api.mu.Lock()
	defer api.mu.Unlock()
	if want := []string{"upload:" + string(photo), "id:AgAD-large"}; !reflect.DeepEqual(api.photos, want) {
		t.Errorf("the Bot API received %q, want %q", api.photos, want)
	}
}
