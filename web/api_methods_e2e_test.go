package web_test

import (
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/internal/files"
	"github.com/telequeue/telequeue/tasks"
	"github.com/telequeue/telequeue/telegramtest"
)

// botAPI answers sendDocument as Telegram does, recording what each request
// carried as the document: "upload:<name>:<bytes>" or "id:<file_id>".
type botAPI struct {
	mu   sync.Mutex
	docs []string
}

func (a *botAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/sendDocument") {
		http.Error(w, `{"ok":false,"error_code":404,"description":"Not Found"}`, http.StatusNotFound)
		return
	}
	var got string
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			switch {
			case p.FileName() != "":
				got = "upload:" + p.FileName() + ":" + string(b)
			case p.FormName() == "document":
				got = "id:" + string(b)
			}
		}
	} else {
		b, _ := io.ReadAll(r.Body)
		got = "json:" + string(b)
	}
	a.mu.Lock()
	a.docs = append(a.docs, got)
	n := len(a.docs)
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true,"result":{"message_id":`+strconv.Itoa(100+n)+`,"date":1700000000,`+
		`"chat":{"id":42,"type":"private"},"document":{"file_id":"BQAC-doc","file_unique_id":"u"}}}`)
}

// TestPostMethodUploadEndToEnd sends a document uploaded to the HTTP API
// through the worker's CallHandler: the Bot API receives the bytes under
// their file name, GET reports the call's result, the upload is released,
// and a second upload of the same bytes goes as the file_id Telegram gave.
func TestPostMethodUploadEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t, methodsConfig())
	api := &botAPI{}
	tg := httptest.NewServer(api)
	t.Cleanup(tg.Close)

	bots, err := handlers.NewBots(handlers.BotsConfig{Tokens: map[string]string{tasks.DefaultBot: telegramtest.Token}, APIURL: tg.URL})
	if err != nil {
		t.Fatal(err)
	}
	rdb := b.redis.Client(t)
	send, err := handlers.NewSendMessageHandler(handlers.Config{Bots: bots, Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	store, err := files.NewStore(rdb, files.Config{})
	if err != nil {
		t.Fatal(err)
	}
	calls, err := handlers.NewCallHandler(send, store)
	if err != nil {
		t.Fatal(err)
	}
	mux := asynq.NewServeMux()
	mux.Handle("telegram:send_document", calls)
	srv := asynq.NewServer(b.opt, asynq.Config{Concurrency: 1, Queues: map[string]int{tasks.QueueDefault: 1},
		TaskCheckInterval: 20 * time.Millisecond, LogLevel: asynq.FatalLevel})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	report := []byte("%PDF-1.7 quarterly report")
	upload := func() map[string]any {
		t.Helper()
		r := b.postForm(t, "/v1/methods/sendDocument", []formPart{
			{name: "chat_id", value: "42"}, {name: "caption", value: "Q3"},
			{name: "document", file: "q3.pdf", data: report},
		}, nil)
		id, _, _ := b.queued(t, r, "default")
		return b.waitState(t, id, "completed")
	}

	st := upload()
	if st["method"] != "sendDocument" || st["message_id"] != 101.0 || st["chat_id"] != 42.0 {
		t.Errorf("status %v", st)
	}
	if ids, _ := st["file_ids"].([]any); len(ids) != 1 || ids[0] != "BQAC-doc" {
		t.Errorf("file_ids %v, want [BQAC-doc]", st["file_ids"])
	}
	eventually(t, "the upload to be released", func() bool { return b.uploadKeys(t) == 0 })

	upload()
	api.mu.Lock()
	defer api.mu.Unlock()
	want := []string{"upload:q3.pdf:" + string(report), "id:BQAC-doc"}
	if len(api.docs) != 2 || api.docs[0] != want[0] || !strings.Contains(api.docs[1], "BQAC-doc") {
		t.Errorf("the Bot API received %q, want %q", api.docs, want)
	}
}
