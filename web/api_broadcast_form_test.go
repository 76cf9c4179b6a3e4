package web_test

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/web"
)

// TestBroadcastAPIFormUpload: a multipart/form-data broadcast of an
// uploaded photo reaches every chat, and the photo is stored once and
// uploaded to Telegram once (the other chats get its file_id); once the
// broadcast is done, the upload is released.
func TestBroadcastAPIFormUpload(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	sb, err := sandbox.New(sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ids := []int64{4_000_001, 4_000_002, 4_000_003, 4_000_004}
	photo := []byte("\xff\xd8\xff\xe0 promo photo")
	r := b.postForm(t, "/v1/broadcasts", []formPart{
		{name: "method", value: "sendPhoto"},
		{name: "chat_ids", value: idsJSON(ids)},
		{name: "parallelism", value: "2"},
		{name: "caption", value: "42"}, // text, though it reads as a number
		{name: "photo", file: "promo.jpg", data: photo},
	}, nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	var rec struct {
		ID    string
		Total int
	}
	r.json(t, &rec)
	if rec.Total != len(ids) || r.header.Get("Location") != "/v1/broadcasts/"+rec.ID {
		t.Errorf("receipt %s, Location %q", r.body, r.header.Get("Location"))
	}
	if n := b.uploadKeys(t); n == 0 {
		t.Errorf("no upload stored for the broadcast")
	}
	startBroadcastWorker(t, b, sb)
	if p := b.broadcastDone(t, rec.ID); p.Sent != len(ids) {
		t.Errorf("done: %+v", p)
	}
	var got []int64
	for _, m := range sb.Messages() {
		if m.Method != "sendPhoto" || m.Caption != "42" || len(m.Media) != 1 {
			t.Errorf("the sandbox got %+v", m)
			continue
		}
		id, _ := strconv.ParseInt(m.ChatID, 10, 64)
		got = append(got, id)
	}
	slices.Sort(got)
	if !slices.Equal(got, ids) {
		t.Errorf("photos went to %v, want %v", got, ids)
	}
	if st := sb.Stats(); st.Uploads != 1 || st.UploadBytes != int64(len(photo)) {
		t.Errorf("the sandbox saw %d uploads (%d bytes), want 1 of %d bytes", st.Uploads, st.UploadBytes, len(photo))
	}
	eventually(t, "the upload to be released", func() bool { return b.uploadKeys(t) == 0 })
}

// TestBroadcastAPIFormRefused: a file over its limit answers 413 naming
// its field, a bad field 400 naming it; nothing is stored or queued.
func TestBroadcastAPIFormRefused(t *testing.T) {
	t.Parallel()
	const max = 1 << 10
	b := setup(t, fullConfig(), func(c *client.Config) { c.UploadMaxBytes = max })
	photo := func(n int) formPart {
		return formPart{name: "photo", file: "p.jpg", data: bytes.Repeat([]byte("p"), n)}
	}
	for _, tc := range []struct {
		name   string
		parts  []formPart
		status int
		code   string
		field  string
	}{
		{"oversize", []formPart{{name: "method", value: "sendPhoto"}, {name: "chat_ids", value: "[1,2]"}, photo(max + 1)},
			http.StatusRequestEntityTooLarge, web.CodeTooLarge, "photo"},
		{"chat_ids not JSON", []formPart{{name: "method", value: "sendPhoto"}, {name: "chat_ids", value: "1,2"}, photo(10)},
			http.StatusBadRequest, web.CodeInvalidField, "chat_ids"},
		{"no method before the file", []formPart{{name: "chat_ids", value: "[1]"}, photo(10)},
			http.StatusBadRequest, web.CodeInvalidField, "method"},
		{"chat_id", []formPart{{name: "method", value: "sendPhoto"}, {name: "chat_ids", value: "[1]"}, {name: "chat_id", value: "5"}, photo(10)},
			http.StatusBadRequest, web.CodeInvalidField, "chat_id"},
		{"parallelism", []formPart{{name: "method", value: "sendPhoto"}, {name: "chat_ids", value: "[1]"}, {name: "parallelism", value: "many"}, photo(10)},
			http.StatusBadRequest, web.CodeInvalidField, "parallelism"},
		{"sendMessage with a file", []formPart{{name: "method", value: "sendMessage"}, {name: "chat_ids", value: "[1]"}, {name: "text", value: "hi"}, photo(10)},
			http.StatusBadRequest, web.CodeInvalidField, "method"},
	} {
		r := b.postForm(t, "/v1/broadcasts", tc.parts, nil)
		if r.status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.status)
			continue
		}
		r.wantAnswer(t, tc.status, tc.code, tc.field)
	}
	if n, m := b.uploadKeys(t), b.taskCount(t); n != 0 || m != 0 {
		t.Errorf("%d upload keys and %d tasks left, want none", n, m)
	}
}
