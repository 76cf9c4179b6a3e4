package web_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/tasks"
	"github.com/telequeue/telequeue/web"
)

func (b *bundle) postReply(t *testing.T, body string, header map[string]string) *response {
	t.Helper()
	return b.postJSON(t, "/v1/replies", body, header)
}

func TestPostReply(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	insp := asynq.NewInspector(b.opt)
	t.Cleanup(func() { _ = insp.Close() })
	paras := strings.Repeat(strings.Repeat("word ", 600)+"\n\n", 4) // 4 paragraphs of 3000 characters
	html := `"<b>` + strings.Repeat("bold ", 1000) + `</b>"`        // 5000 visible characters
	tests := []struct {
		name        string
		body        string
		header      map[string]string
		want        int
		code, field string
		parts       int
		typ         string
	}{
		{"parts", `{"chat_id": 42, "parts": [{"text": "one"}, {"text": "<b>two</b>", "parse_mode": "HTML"}, {"text": "three", "reply_markup": {"inline_keyboard": [[{"text": "ok", "callback_data": "ok"}]]}}]}`,
			nil, http.StatusAccepted, "", "", 3, tasks.TypeSendMessages},
		{"parts with the reply's bot and chat repeated", `{"bot": "alerts", "chat_id": "@news", "parts": [{"text": "a", "chat_id": "@news", "bot": "alerts"}]}`,
			nil, http.StatusAccepted, "", "", 1, tasks.TypeSendMessages},
		{"long text split at paragraphs", `{"chat_id": 42, "text": ` + jsonString(paras) + `}`, nil, http.StatusAccepted, "", "", 4, tasks.TypeSendMessages},
		{"long HTML split and reopened", `{"chat_id": 42, "parse_mode": "HTML", "text": ` + html + `}`, nil, http.StatusAccepted, "", "", 2, tasks.TypeSendMessages},
		{"short text: one part", `{"chat_id": 42, "text": "hi", "priority": "critical"}`, nil, http.StatusAccepted, "", "", 1, tasks.TypeSendMessages},
		{"ordered", `{"chat_id": 42, "ordered": true, "parts": [{"text": "a"}, {"text": "b"}]}`, nil, http.StatusAccepted, "", "", 2, tasks.TypeSendMessagesOrdered},

		{"message fields next to parts", `{"chat_id": 42, "text": "x", "parts": [{"text": "a"}]}`, nil, http.StatusBadRequest, web.CodeInvalidField, "text", 0, ""},
		{"no parts", `{"chat_id": 42, "parts": []}`, nil, http.StatusBadRequest, web.CodeInvalidField, "parts", 0, ""},
		{"part too long", `{"chat_id": 42, "parts": [{"text": "a"}, {"text": "` + strings.Repeat("x", 4097) + `"}]}`, nil, http.StatusBadRequest, web.CodeInvalidField, "parts[1].text", 0, ""},
		{"unknown field in a part", `{"chat_id": 42, "parts": [{"text": "a", "colour": "red"}]}`, nil, http.StatusBadRequest, web.CodeInvalidField, "parts[0].colour", 0, ""},
		{"part to another chat", `{"chat_id": 42, "parts": [{"text": "a", "chat_id": 43}]}`, nil, http.StatusBadRequest, web.CodeInvalidField, "parts[0].chat_id", 0, ""},
		{"long MarkdownV2 cannot be split", `{"chat_id": 42, "parse_mode": "MarkdownV2", "text": "` + strings.Repeat("*a* ", 3000) + `"}`, nil, http.StatusBadRequest, web.CodeInvalidField, "text", 0, ""},
		{"malformed HTML", `{"chat_id": 42, "parse_mode": "HTML", "text": "<b>` + strings.Repeat("x ", 3000) + `"}`, nil, http.StatusBadRequest, web.CodeInvalidField, "text", 0, ""},
		{"empty text", `{"chat_id": 42, "text": " "}`, nil, http.StatusBadRequest, web.CodeInvalidField, "parts[0].text", 0, ""},
		{"no chat", `{"parts": [{"text": "a"}]}`, nil, http.StatusBadRequest, web.CodeInvalidField, "chat_id", 0, ""},
		{"ordered and scheduled", `{"chat_id": 42, "ordered": true, "send_in": "1h", "parts": [{"text": "a"}]}`, nil, http.StatusBadRequest, web.CodeInvalidField, "ordered", 0, ""},
		{"unknown bot", `{"bot": "nobody", "chat_id": 42, "parts": [{"text": "a"}]}`, nil, http.StatusBadRequest, web.CodeInvalidField, "bot", 0, ""},
		{"not JSON", `parts`, nil, http.StatusBadRequest, web.CodeMalformedJSON, "", 0, ""},
		{"text content type", `{}`, map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType, web.CodeUnsupportedMedia, "", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.postReply(t, tt.body, tt.header)
			r.wantAnswer(t, tt.want, tt.code, tt.field)
			if tt.want != http.StatusAccepted {
				return
			}
			var rc struct {
				ID    string `json:"id"`
				Queue string `json:"queue"`
				Parts int    `json:"parts"`
			}
			r.json(t, &rc)
			if rc.Parts != tt.parts || r.header.Get("Location") != "/v1/messages/"+rc.ID {
				t.Fatalf("receipt %s (Location %q), want %d parts", r.body, r.header.Get("Location"), tt.parts)
			}
			info, err := insp.GetTaskInfo(rc.Queue, rc.ID)
			if err != nil {
				t.Fatal(err)
			}
			reply, err := tasks.ParseSendMessages(info.Payload)
			if err != nil || info.Type != tt.typ || len(reply.Parts) != tt.parts {
				t.Fatalf("task %s: %v, %d parts, %v", info.Type, reply, len(reply.Parts), err)
			}
			for i, p := range reply.Parts {
				if n := tasks.VisibleLength(p.Text, p.ParseMode); n > tasks.MaxTextLength {
					t.Errorf("part %d has %d characters", i, n)
				}
			}
			if st := b.get(t, "/v1/messages/"+rc.ID); st.status != http.StatusOK {
				t.Errorf("GET /v1/messages/%s: %d", rc.ID, st.status)
			}
		})
	}
}

func TestPostMessageOrdered(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	insp := asynq.NewInspector(b.opt)
	t.Cleanup(func() { _ = insp.Close() })
	var ids []string
	for _, text := range []string{"step 1", "step 2"} {
		r := b.post(t, `{"chat_id": 42, "text": "`+text+`", "ordered": true}`, nil)
		if r.status != http.StatusAccepted {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var rc struct{ ID string }
		r.json(t, &rc)
		ids = append(ids, rc.ID)
	}
	first, _ := insp.GetTaskInfo(tasks.QueueDefault, ids[0])
	second, _ := insp.GetTaskInfo(tasks.QueueDefault, ids[1])
	if first.Type != tasks.TypeSendMessageOrdered || first.State != asynq.TaskStatePending {
		t.Errorf("first: %s %s, want the head of its order, due", first.Type, first.State)
	}
	if second.State != asynq.TaskStateScheduled {
		t.Errorf("second: %s, want parked behind the first", second.State)
	}
	// GET shows an ordered message like any other.
	var st map[string]any
	b.get(t, "/v1/messages/"+ids[1]).json(t, &st)
	if st["chat_id"] != float64(42) || st["bot"] != "default" {
		t.Errorf("status %v", st)
	}
	for _, bad := range []string{`"yes"`, `1`} {
		r := b.post(t, `{"chat_id": 42, "text": "x", "ordered": `+bad+`}`, nil)
		if code, field, _ := r.apiError(t); r.status != http.StatusBadRequest || code != web.CodeInvalidField || field != "ordered" {
			t.Errorf("ordered %s: %d %s", bad, r.status, r.body)
		}
	}
}

func TestOpenAPIDocumentsRepliesAndOrdered(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
		Comps map[string]map[string]any `json:"components"`
	}
	b.do(t, request{method: http.MethodGet, path: "/v1/openapi.json"}).json(t, &doc)
	if _, ok := doc.Paths["/v1/replies"]["post"]; !ok {
		t.Error("document lacks post /v1/replies")
	}
	props := doc.Comps["schemas"]["MessageRequest"].(map[string]any)["properties"].(map[string]any)
	if _, ok := props["ordered"]; !ok {
		t.Error("MessageRequest lacks ordered")
	}
	reply := doc.Comps["schemas"]["ReplyRequest"].(map[string]any)["properties"].(map[string]any)
	for _, f := range []string{"parts", "chat_id", "bot", "text", "parse_mode", "ordered", "priority"} {
		if _, ok := reply[f]; !ok {
			t.Errorf("ReplyRequest lacks %q", f)
		}
	}
	status := doc.Comps["schemas"]["MessageStatus"].(map[string]any)["properties"].(map[string]any)
	if _, ok := status["message_ids"]; !ok {
		t.Error("MessageStatus lacks message_ids")
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestDashboardShowsOrderedAndReplies(t *testing.T) {
	t.Parallel()
	f := web.PayloadFormatter(5)
	ordered, err := tasks.NewOrderedSendMessageTask(&tasks.SendMessage{ChatID: telego.ChatID{ID: 42}, Text: "hello world"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.FormatPayload(ordered.Type(), ordered.Payload()), `{"type":"telegram:send_message:ordered","bot":"default","chat":"42","text":"hello…"}`; got != want {
		t.Errorf("ordered: %s, want %s", got, want)
	}
	reply, err := tasks.NewSendMessagesTask(&tasks.SendMessages{Bot: "alerts", ChatID: telego.ChatID{ID: 42}, Parts: []tasks.SendMessage{{Text: "first part"}, {Text: "second"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.FormatPayload(reply.Type(), reply.Payload()), `{"type":"telegram:send_messages","bot":"alerts","chat":"42","text":"first…","parts":2}`; got != want {
		t.Errorf("reply: %s, want %s", got, want)
	}
	res := web.ResultFormatter().FormatResult(tasks.TypeSendMessages, []byte(`{"message_id":7,"message_ids":[7,8]}`))
	if res != `{"message_id":7}` {
		t.Errorf("reply result: %s", res)
	}
}
