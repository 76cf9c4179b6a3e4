package tasks_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/tasks"
)

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func upload(size int64) tasks.Upload { return tasks.Upload{SHA256: sha, Size: size, Name: "cat.jpg"} }

// TestCallValidate is the validation table of every method: a valid call of
// each, and the errors the Bot API's rules give, with the field named.
func TestCallValidate(t *testing.T) {
	t.Parallel()
	album := func(items ...string) string { return `[` + strings.Join(items, ",") + `]` }
	photo := func(media string) string { return `{"type":"photo","media":"` + media + `"}` }
	ids := func(n int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = strconv.Itoa(i + 1)
		}
		return "[" + strings.Join(s, ",") + "]"
	}
	tests := []struct {
		method, params string
		uploads        map[string]tasks.Upload
		wantErr        error
		field          string
		cost           int
	}{
		// sends
		{method: "sendPhoto", params: `{"chat_id":1,"photo":"AgACAgIAAxkBAAIB"}`, cost: 1},
		{method: "sendPhoto", params: `{"chat_id":1,"photo":"https://example.com/cat.jpg","caption":"a cat"}`, cost: 1},
		{method: "sendPhoto", params: `{"chat_id":1,"photo":"attach://cat"}`, uploads: map[string]tasks.Upload{"cat": upload(1000)}, cost: 1},
		{method: "sendPhoto", params: `{"chat_id":1,"photo":"attach://cat"}`, uploads: map[string]tasks.Upload{"cat": upload(tasks.MaxPhotoBytes + 1)}, wantErr: tasks.ErrFileTooLarge, field: "photo"},
		{method: "sendDocument", params: `{"chat_id":1,"document":"attach://cat"}`, uploads: map[string]tasks.Upload{"cat": upload(tasks.MaxPhotoBytes + 1)}, cost: 1},
		{method: "sendPhoto", params: `{"chat_id":1,"photo":"attach://dog"}`, uploads: map[string]tasks.Upload{"cat": upload(1)}, wantErr: tasks.ErrInvalidFile, field: "photo"},
		{method: "sendPhoto", params: `{"chat_id":1,"photo":"AgAC"}`, uploads: map[string]tasks.Upload{"cat": upload(1)}, wantErr: tasks.ErrInvalidFile, field: "uploads.cat"},
		{method: "sendPhoto", params: `{"chat_id":1}`, wantErr: tasks.ErrMissingField, field: "photo"},
		{method: "sendPhoto", params: `{"photo":"x"}`, wantErr: tasks.ErrMissingChat, field: "chat_id"},
		{method: "sendPhoto", params: `{"chat_id":1,"photo":"not a file id"}`, wantErr: tasks.ErrInvalidFile, field: "photo"},
		{method: "sendPhoto", params: `{"chat_id":1,"photo":"x","caption":"` + strings.Repeat("a", 1025) + `"}`, wantErr: tasks.ErrTextTooLong, field: "caption"},
		{method: "sendPhoto", params: `{"chat_id":1,"photo":"x","caption":"<b>` + strings.Repeat("a", 1024) + `</b>","parse_mode":"HTML"}`, cost: 1},
		{method: "sendPhoto", params: `{"chat_id":1,"photo":"x","text":"hi"}`, wantErr: tasks.ErrUnknownField, field: "text"},
		{method: "sendPhoto", params: `{"chat_id":1,"photo":"x","has_spoiler":"yes"}`, wantErr: tasks.ErrInvalidField, field: "has_spoiler"},
		{method: "sendPhoto", params: `{"chat_id":1,"photo":"x","reply_markup":{"inline_keyboard":[[{"text":""}]]}}`, wantErr: tasks.ErrInvalidReplyMarkup, field: "reply_markup"},
		{method: "sendPhoto", params: `{"chat_id":1,"photo":"x","allow_paid_broadcast":true}`, cost: 1},
		{method: "sendVideo", params: `{"chat_id":-1001234567890,"video":"BAACAgIAAxk","supports_streaming":true}`, cost: 1},
		{method: "sendVideo", params: `{"chat_id":1,"video":"BAAC","thumbnail":"attach://th","cover":"https://example.com/c.jpg"}`, uploads: map[string]tasks.Upload{"th": upload(2000)}, cost: 1},
		{method: "sendVideo", params: `{"chat_id":1,"video":"BAAC","thumbnail":"not a file"}`, wantErr: tasks.ErrInvalidFile, field: "thumbnail"},
		{method: "sendMediaGroup", params: `{"chat_id":1,"media":[{"type":"video","media":"a","cover":"attach://c"},{"type":"photo","media":"b"}]}`, uploads: map[string]tasks.Upload{"c": upload(10)}, cost: 2},
		{method: "sendAnimation", params: `{"chat_id":"@my_channel","animation":"CgACAgIAAxk"}`, cost: 1},
		{method: "sendAudio", params: `{"chat_id":1,"audio":"CQACAgIAAxk","title":"song"}`, cost: 1},
		{method: "sendVoice", params: `{"chat_id":1,"voice":"AwACAgIAAxk"}`, cost: 1},
		{method: "sendVideoNote", params: `{"chat_id":1,"video_note":"DQACAgIAAxk"}`, cost: 1},
		{method: "sendSticker", params: `{"chat_id":1,"sticker":"CAACAgIAAxk","emoji":"👍"}`, cost: 1},
		// albums
		{method: "sendMediaGroup", params: `{"chat_id":1,"media":` + album(photo("a1"), photo("a2"), photo("a3")) + `}`, cost: 3},
		{method: "sendMediaGroup", params: `{"chat_id":1,"media":` + album(photo("a1")) + `}`, wantErr: tasks.ErrInvalidField, field: "media"},
		{method: "sendMediaGroup", params: `{"chat_id":1,"media":` + album(photo("1"), photo("2"), photo("3"), photo("4"), photo("5"), photo("6"), photo("7"), photo("8"), photo("9"), photo("10"), photo("11")) + `}`, wantErr: tasks.ErrInvalidField, field: "media"},
		{method: "sendMediaGroup", params: `{"chat_id":1,"media":[{"type":"photo","media":"a"},{"type":"video","media":"b"}]}`, cost: 2},
		{method: "sendMediaGroup", params: `{"chat_id":1,"media":[{"type":"photo","media":"a"},{"type":"document","media":"b"}]}`, wantErr: tasks.ErrInvalidField, field: "media"},
		{method: "sendMediaGroup", params: `{"chat_id":1,"media":[{"type":"animation","media":"a"},{"type":"photo","media":"b"}]}`, wantErr: tasks.ErrInvalidField, field: "media[0].type"},
		{method: "sendMediaGroup", params: `{"chat_id":1,"media":[{"type":"photo","media":"a","caption":"` + strings.Repeat("b", 1025) + `"},{"type":"photo","media":"b"}]}`, wantErr: tasks.ErrTextTooLong, field: "media[0].caption"},
		{method: "sendMediaGroup", params: `{"chat_id":1,"media":[{"type":"photo","media":"attach://p1"},{"type":"photo","media":"attach://p2"}]}`,
			uploads: map[string]tasks.Upload{"p1": upload(10), "p2": upload(20)}, cost: 2},
		{method: "sendMediaGroup", params: `{"chat_id":1,"media":[{"type":"photo","media":"attach://p1"},{"type":"photo","media":"b"}]}`,
			uploads: map[string]tasks.Upload{"p1": upload(tasks.MaxPhotoBytes + 1)}, wantErr: tasks.ErrFileTooLarge, field: "media[0].media"},
		{method: "sendMediaGroup", params: `{"chat_id":1,"media":[{"type":"photo","media":"a"},{"type":"photo","media":"b"}],"allow_paid_broadcast":true}`, cost: 2},
		// other sends
		{method: "sendLocation", params: `{"chat_id":1,"latitude":52.5,"longitude":13.4}`, cost: 1},
		{method: "sendLocation", params: `{"chat_id":1,"latitude":91,"longitude":13.4}`, wantErr: tasks.ErrInvalidField, field: "latitude"},
		{method: "sendVenue", params: `{"chat_id":1,"latitude":1,"longitude":2,"title":"Cafe","address":"Main St 1"}`, cost: 1},
		{method: "sendVenue", params: `{"chat_id":1,"latitude":1,"longitude":2,"title":" ","address":"Main St 1"}`, wantErr: tasks.ErrEmptyText, field: "title"},
		{method: "sendContact", params: `{"chat_id":1,"phone_number":"+100","first_name":"Ann"}`, cost: 1},
		{method: "sendContact", params: `{"chat_id":1,"first_name":"Ann"}`, wantErr: tasks.ErrMissingField, field: "phone_number"},
		{method: "sendPoll", params: `{"chat_id":1,"question":"Lunch?","options":[{"text":"yes"},{"text":"no"}]}`, cost: 1},
		{method: "sendPoll", params: `{"chat_id":1,"question":"Lunch?","options":[{"text":"yes"}]}`, wantErr: tasks.ErrInvalidField, field: "options"},
		{method: "sendPoll", params: `{"chat_id":1,"question":"Lunch?","options":[{"text":"yes"},{"text":"` + strings.Repeat("n", 101) + `"}]}`, wantErr: tasks.ErrTextTooLong, field: "options[1].text"},
		{method: "sendPoll", params: `{"chat_id":1,"question":"` + strings.Repeat("q", 301) + `","options":[{"text":"a"},{"text":"b"}]}`, wantErr: tasks.ErrTextTooLong, field: "question"},
		{method: "sendPoll", params: `{"chat_id":1,"question":"2+2?","options":[{"text":"4"},{"text":"5"}],"type":"quiz","correct_option_id":0}`, cost: 1},
		{method: "sendPoll", params: `{"chat_id":1,"question":"2+2?","options":[{"text":"4"},{"text":"5"}],"type":"quiz"}`, wantErr: tasks.ErrInvalidField, field: "correct_option_id"},
		{method: "sendDice", params: `{"chat_id":1,"emoji":"🎯"}`, cost: 1},
		{method: "sendDice", params: `{"chat_id":1,"emoji":"🍕"}`, wantErr: tasks.ErrInvalidField, field: "emoji"},
		// copies and forwards
		{method: "copyMessage", params: `{"chat_id":1,"from_chat_id":-1001,"message_id":7}`, cost: 1},
		{method: "copyMessage", params: `{"chat_id":1,"from_chat_id":-1001}`, wantErr: tasks.ErrMissingField, field: "message_id"},
		{method: "copyMessage", params: `{"chat_id":1,"from_chat_id":-1001,"message_id":0}`, wantErr: tasks.ErrInvalidField, field: "message_id"},
		{method: "copyMessages", params: `{"chat_id":1,"from_chat_id":2,"message_ids":[3,5,9]}`, cost: 3},
		{method: "copyMessages", params: `{"chat_id":1,"from_chat_id":2,"message_ids":[3,3]}`, wantErr: tasks.ErrInvalidField, field: "message_ids"},
		{method: "copyMessages", params: `{"chat_id":1,"from_chat_id":2,"message_ids":[]}`, wantErr: tasks.ErrInvalidField, field: "message_ids"},
		{method: "copyMessages", params: `{"chat_id":1,"from_chat_id":2,"message_ids":` + ids(101) + `}`, wantErr: tasks.ErrInvalidField, field: "message_ids"},
		{method: "copyMessages", params: `{"chat_id":1,"from_chat_id":2,"message_ids":[1],"allow_paid_broadcast":true}`, wantErr: tasks.ErrInvalidField, field: "allow_paid_broadcast"},
		{method: "forwardMessage", params: `{"chat_id":1,"from_chat_id":2,"message_id":3}`, cost: 1},
		{method: "forwardMessage", params: `{"chat_id":1,"from_chat_id":2,"message_id":3,"allow_paid_broadcast":true}`, wantErr: tasks.ErrInvalidField, field: "allow_paid_broadcast"},
		{method: "forwardMessages", params: `{"chat_id":1,"from_chat_id":2,"message_ids":` + ids(100) + `}`, cost: 100},
		{method: "forwardMessages", params: `{"chat_id":1,"from_chat_id":2,"message_ids":[2,1]}`, wantErr: tasks.ErrInvalidField, field: "message_ids"},
		// changes
		{method: "editMessageText", params: `{"chat_id":1,"message_id":2,"text":"new"}`, cost: 1},
		{method: "editMessageText", params: `{"inline_message_id":"AAAA","text":"new"}`, cost: 1},
		{method: "editMessageText", params: `{"chat_id":1,"text":"new"}`, wantErr: tasks.ErrMissingField, field: "message_id"},
		{method: "editMessageText", params: `{"message_id":2,"text":"new"}`, wantErr: tasks.ErrMissingChat, field: "chat_id"},
		{method: "editMessageText", params: `{"chat_id":1,"message_id":2,"text":""}`, wantErr: tasks.ErrEmptyText, field: "text"},
		{method: "editMessageText", params: `{"chat_id":1,"message_id":2,"text":"` + strings.Repeat("x", 4097) + `"}`, wantErr: tasks.ErrTextTooLong, field: "text"},
		{method: "editMessageText", params: `{"chat_id":1,"message_id":2,"text":"x","allow_paid_broadcast":true}`, wantErr: tasks.ErrInvalidField, field: "allow_paid_broadcast"},
		{method: "editMessageText", params: `{"chat_id":1,"message_id":2,"text":"x","reply_markup":{"keyboard":[[{"text":"a"}]]}}`, wantErr: tasks.ErrInvalidReplyMarkup, field: "reply_markup"},
		{method: "editMessageCaption", params: `{"chat_id":1,"message_id":2,"caption":"new"}`, cost: 1},
		{method: "editMessageCaption", params: `{"chat_id":1,"message_id":2,"caption":"` + strings.Repeat("c", 1025) + `"}`, wantErr: tasks.ErrTextTooLong, field: "caption"},
		{method: "editMessageMedia", params: `{"chat_id":1,"message_id":2,"media":{"type":"photo","media":"attach://p"}}`, uploads: map[string]tasks.Upload{"p": upload(5)}, cost: 1},
		{method: "editMessageMedia", params: `{"chat_id":1,"message_id":2,"media":{"type":"sticker","media":"x"}}`, wantErr: tasks.ErrInvalidField, field: "media.type"},
		{method: "editMessageReplyMarkup", params: `{"chat_id":1,"message_id":2,"reply_markup":{"inline_keyboard":[[{"text":"ok","callback_data":"ok"}]]}}`, cost: 1},
		{method: "deleteMessage", params: `{"chat_id":1,"message_id":2}`, cost: 1},
		{method: "deleteMessage", params: `{"chat_id":1}`, wantErr: tasks.ErrMissingField, field: "message_id"},
		{method: "deleteMessages", params: `{"chat_id":1,"message_ids":[1,2,3]}`, cost: 1},
		{method: "deleteMessages", params: `{"chat_id":1,"message_ids":[3,2]}`, wantErr: tasks.ErrInvalidField, field: "message_ids"},
		{method: "pinChatMessage", params: `{"chat_id":1,"message_id":2,"disable_notification":true}`, cost: 1},
		{method: "unpinChatMessage", params: `{"chat_id":1}`, cost: 1},
		// interaction
		{method: "answerCallbackQuery", params: `{"callback_query_id":"123","text":"done"}`, cost: 1},
		{method: "answerCallbackQuery", params: `{"text":"done"}`, wantErr: tasks.ErrMissingField, field: "callback_query_id"},
		{method: "answerCallbackQuery", params: `{"callback_query_id":"1","text":"` + strings.Repeat("t", 201) + `"}`, wantErr: tasks.ErrTextTooLong, field: "text"},
		{method: "sendChatAction", params: `{"chat_id":1,"action":"typing"}`, cost: 1},
		{method: "sendChatAction", params: `{"chat_id":1,"action":"dancing"}`, wantErr: tasks.ErrInvalidField, field: "action"},
		{method: "sendMessageDraft", params: `{"chat_id":1,"draft_id":7,"text":"Thinking…"}`, cost: 1},
		{method: "sendMessageDraft", params: `{"chat_id":-100,"draft_id":7,"text":"x"}`, wantErr: tasks.ErrInvalidChat, field: "chat_id"},
		{method: "sendMessageDraft", params: `{"chat_id":1,"draft_id":0,"text":"x"}`, wantErr: tasks.ErrInvalidField, field: "draft_id"},
		{method: "sendMessageDraft", params: `{"chat_id":1,"draft_id":7,"text":""}`, wantErr: tasks.ErrEmptyText, field: "text"},
		// references to queued messages
		{method: "editMessageText", params: `{"message_task_id":"abc123","text":"done"}`, cost: 1},
		{method: "editMessageText", params: `{"message_task_id":"abc123","message_task_part":2,"chat_id":5,"text":"done"}`, cost: 1},
		{method: "editMessageText", params: `{"message_task_id":"abc123","message_id":4,"text":"x"}`, wantErr: tasks.ErrInvalidField, field: "message_task_id"},
		{method: "editMessageText", params: `{"message_task_id":"has space","text":"x"}`, wantErr: tasks.ErrInvalidField, field: "message_task_id"},
		{method: "editMessageText", params: `{"message_task_part":1,"chat_id":1,"message_id":2,"text":"x"}`, wantErr: tasks.ErrMissingField, field: "message_task_id"},
		{method: "deleteMessage", params: `{"message_task_id":"abc123"}`, cost: 1},
		{method: "pinChatMessage", params: `{"message_task_id":"abc123"}`, cost: 1},
		{method: "copyMessage", params: `{"chat_id":7,"message_task_id":"abc123"}`, cost: 1},
		{method: "copyMessage", params: `{"message_task_id":"abc123"}`, wantErr: tasks.ErrMissingChat, field: "chat_id"},
		{method: "forwardMessage", params: `{"chat_id":7,"message_task_id":"abc123"}`, cost: 1},
		{method: "sendPhoto", params: `{"chat_id":7,"photo":"x","message_task_id":"abc123"}`, wantErr: tasks.ErrUnknownField, field: "message_task_id"},
		{method: "sendPhoto", params: `{"chat_id":7,"photo":"x","reply_parameters":{"message_task_id":"abc123"}}`, cost: 1},
		{method: "sendPhoto", params: `{"chat_id":7,"photo":"x","reply_parameters":{"message_task_id":"abc123","message_id":3}}`, wantErr: tasks.ErrInvalidField, field: "reply_parameters.message_task_id"},
		// the payload itself
		{method: "sendTelepathy", params: `{}`, wantErr: tasks.ErrUnknownMethod, field: "method"},
		{method: "sendPhoto", params: `[1]`, wantErr: tasks.ErrMalformedPayload, field: "params"},
		{method: "sendPhoto", params: `{"chat_id":1,"photo":"x","chat_id":2}`, wantErr: tasks.ErrMalformedPayload, field: "params"},
		{method: "sendMessage", params: `{"chat_id":1,"text":"hi"}`},
		{method: "sendMessage", params: `{"chat_id":1,"text":""}`, wantErr: tasks.ErrEmptyText, field: "text"},
	}
	for _, tc := range tests {
		name := tc.method + " " + tc.params
		if len(name) > 90 {
			name = name[:90]
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := &tasks.Call{Method: tc.method, Params: json.RawMessage(tc.params), Uploads: tc.uploads}
			err := c.Validate()
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if tc.method != "sendMessage" && c.Cost() != tc.cost {
					t.Errorf("cost %d, want %d", c.Cost(), tc.cost)
				}
				return
			}
			var ve *tasks.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, tc.wantErr) || ve.Field != tc.field {
				t.Fatalf("Validate = %v; want a *ValidationError on %q wrapping %v", err, tc.field, tc.wantErr)
			}
		})
	}
}

// TestEveryMethodInTable checks the table against the list: every
// method is there, once, with a task type of its own and its kind.
func TestEveryMethodInTable(t *testing.T) {
	t.Parallel()
	want := map[string]tasks.Kind{
		"sendMessage": tasks.KindSend, "sendPhoto": tasks.KindSend, "sendVideo": tasks.KindSend, "sendAnimation": tasks.KindSend,
		"sendAudio": tasks.KindSend, "sendDocument": tasks.KindSend, "sendVoice": tasks.KindSend, "sendVideoNote": tasks.KindSend,
		"sendSticker": tasks.KindSend, "sendMediaGroup": tasks.KindSend, "sendLocation": tasks.KindSend, "sendVenue": tasks.KindSend,
		"sendContact": tasks.KindSend, "sendPoll": tasks.KindSend, "sendDice": tasks.KindSend, "copyMessage": tasks.KindSend,
		"copyMessages": tasks.KindSend, "forwardMessage": tasks.KindSend, "forwardMessages": tasks.KindSend,
		"editMessageText": tasks.KindChange, "editMessageCaption": tasks.KindChange, "editMessageMedia": tasks.KindChange,
		"editMessageReplyMarkup": tasks.KindChange, "deleteMessage": tasks.KindChange, "deleteMessages": tasks.KindChange,
		"pinChatMessage": tasks.KindChange, "unpinChatMessage": tasks.KindChange,
		"answerCallbackQuery": tasks.KindCallback, "sendChatAction": tasks.KindChatAction,
		"sendMessageDraft": tasks.KindDraft,
	}
	types := map[string]bool{}
	for _, m := range tasks.Methods() {
		kind, ok := want[m.Name]
		if !ok {
			t.Errorf("unexpected method %s", m.Name)
			continue
		}
		delete(want, m.Name)
		if m.Kind != kind {
			t.Errorf("%s: kind %v, want %v", m.Name, m.Kind, kind)
		}
		if types[m.Type] || !strings.HasPrefix(m.Type, "telegram:") {
			t.Errorf("%s: type %q is not unique or not telegram:*", m.Name, m.Type)
		}
		types[m.Type] = true
		if got, ok := tasks.MethodByType(m.Type); !ok || got.Name != m.Name {
			t.Errorf("MethodByType(%q) = %v", m.Type, got)
		}
		if name, ok := tasks.MethodNameOf(m.Type); !ok || name != m.Name {
			t.Errorf("MethodNameOf(%q) = %q, %v", m.Type, name, ok)
		}
	}
	for name := range want {
		t.Errorf("method %s missing from the table", name)
	}
	for _, tc := range []struct{ name, typ string }{
		{"sendPhoto", "telegram:send_photo"}, {"sendMediaGroup", "telegram:send_media_group"},
		{"answerCallbackQuery", "telegram:answer_callback_query"}, {"sendMessage", tasks.TypeSendMessage},
	} {
		if m, _ := tasks.MethodByName(tc.name); m == nil || m.Type != tc.typ {
			t.Errorf("%s: type %v, want %q", tc.name, m, tc.typ)
		}
	}
	if m, ok := tasks.MethodOf(&telego.EditMessageCaptionParams{}); !ok || m.Name != "editMessageCaption" {
		t.Errorf("MethodOf(*EditMessageCaptionParams) = %v, %v", m, ok)
	}
	// A copy: changing it changes nothing else.
	m, _ := tasks.MethodByName("sendPhoto")
	m.Kind = tasks.KindCallback
	if again, _ := tasks.MethodByName("sendPhoto"); again.Kind != tasks.KindSend {
		t.Error("MethodByName returned the table's own entry")
	}
}

func TestNewCallTask(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method, params, typ, queue string
		deadline                   time.Duration
	}{
		{"sendPhoto", `{"chat_id":1,"photo":"x"}`, "telegram:send_photo", tasks.QueueDefault, 0},
		{"answerCallbackQuery", `{"callback_query_id":"1"}`, "telegram:answer_callback_query", tasks.QueueCallbacks, tasks.CallbackDeadline},
		{"sendChatAction", `{"chat_id":1,"action":"typing"}`, "telegram:send_chat_action", tasks.QueueDefault, tasks.ChatActionDeadline},
		{"sendMessage", `{"chat_id":1,"text":"hi"}`, tasks.TypeSendMessage, tasks.QueueDefault, 0},
	} {
		t.Run(tc.method, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			task, err := tasks.NewCallTask(&tasks.Call{Bot: "shop", Method: tc.method, Params: json.RawMessage(tc.params)})
			if err != nil {
				t.Fatal(err)
			}
			if task.Type() != tc.typ {
				t.Errorf("type %q, want %q", task.Type(), tc.typ)
			}
			d, hasDeadline := task.Headers()[tasks.HeaderDeadline]
			if (tc.deadline != 0) != hasDeadline {
				t.Fatalf("deadline header %q, want one: %v", d, tc.deadline != 0)
			}
			if hasDeadline {
				ms, _ := strconv.ParseInt(d, 10, 64)
				if at := time.UnixMilli(ms); at.Before(start.Add(tc.deadline-time.Second)) || at.After(time.Now().Add(tc.deadline)) {
					t.Errorf("deadline %v, want about %v from now", at.Sub(start), tc.deadline)
				}
			}
			if tc.method == "sendMessage" {
				m, err := tasks.ParseSendMessage(task.Payload())
				if err != nil || m.Bot != "shop" || m.Text != "hi" {
					t.Fatalf("sendMessage payload %+v, %v", m, err)
				}
				return
			}
			c, err := tasks.ParseCall(task.Payload())
			if err != nil {
				t.Fatal(err)
			}
			if c.Version != tasks.CallVersion || c.Bot != "shop" || c.Method != tc.method {
				t.Errorf("payload %+v", c)
			}
		})
	}
	// Options given to the constructor win over the defaults, and a
	// deadline header survives them.
	task, err := tasks.NewCallTask(&tasks.Call{Method: "answerCallbackQuery", Params: json.RawMessage(`{"callback_query_id":"1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	later := tasks.WithDeadline(task, time.Now().Add(time.Hour))
	if later.Headers()[tasks.HeaderDeadline] != task.Headers()[tasks.HeaderDeadline] {
		t.Error("WithDeadline replaced an earlier deadline with a later one")
	}
	sooner := tasks.WithDeadline(task, time.Now().Add(time.Second))
	if sooner.Headers()[tasks.HeaderDeadline] == task.Headers()[tasks.HeaderDeadline] {
		t.Error("WithDeadline kept a later deadline")
	}
}

func TestParseCallStrict(t *testing.T) {
	t.Parallel()
	for _, payload := range []string{
		`{"method":"sendPhoto","params":{"chat_id":1,"photo":"x"}}}`,
		`{"method":"sendPhoto","params":{"chat_id":1,"photo":"x"},"extra":1}`,
		"{\"method\":\"sendPhoto\",\"params\":{\"chat_id\":1,\"photo\":\"\xff\"}}",
		`{"v":2,"method":"sendPhoto","params":{"chat_id":1,"photo":"x"}}`,
	} {
		if _, err := tasks.ParseCall([]byte(payload)); err == nil {
			t.Errorf("ParseCall(%q) accepted it", payload)
		}
	}
	c, err := tasks.ParseCall([]byte(`{"v":1,"bot":"b","method":"sendPhoto","params":{"chat_id":-100123,"photo":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsGroup() || c.Chat().ID != -100123 || c.BotName() != "b" || c.MethodInfo().Name != "sendPhoto" {
		t.Errorf("parsed %+v", c)
	}
	_ = fmt.Sprint(c.Uploads)
}

func TestCoalesceKey(t *testing.T) {
	t.Parallel()
	key := func(method, params string) string {
		t.Helper()
		c := &tasks.Call{Bot: "b", Method: method, Params: json.RawMessage(params)}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		return c.CoalesceKey()
	}
	text1 := key("editMessageText", `{"chat_id":1,"message_id":5,"text":"a"}`)
	for _, tc := range []struct {
		name string
		got  string
		same bool
	}{
		{"same message, newer text", key("editMessageText", `{"chat_id":1,"message_id":5,"text":"ab"}`), true},
		{"another message", key("editMessageText", `{"chat_id":1,"message_id":6,"text":"a"}`), false},
		{"another chat", key("editMessageText", `{"chat_id":2,"message_id":5,"text":"a"}`), false},
		{"the caption, not the text", key("editMessageCaption", `{"chat_id":1,"message_id":5,"caption":"a"}`), false},
		{"the keyboard", key("editMessageReplyMarkup", `{"chat_id":1,"message_id":5}`), false},
	} {
		if (tc.got == text1) != tc.same {
			t.Errorf("%s: key %q vs %q, want same=%v", tc.name, tc.got, text1, tc.same)
		}
	}
	if k := key("sendMessageDraft", `{"chat_id":1,"draft_id":3,"text":"a"}`); k == "" || k != key("sendMessageDraft", `{"chat_id":1,"draft_id":3,"text":"abc"}`) ||
		k == key("sendMessageDraft", `{"chat_id":1,"draft_id":4,"text":"a"}`) {
		t.Errorf("draft keys: %q", k)
	}
	if k := key("editMessageText", `{"inline_message_id":"AB","text":"a"}`); k == "" || k == text1 {
		t.Errorf("inline edit key %q", k)
	}
	for _, m := range []string{"sendPhoto", "deleteMessage"} {
		params := `{"chat_id":1,"photo":"x"}`
		if m == "deleteMessage" {
			params = `{"chat_id":1,"message_id":5}`
		}
		if k := key(m, params); k != "" {
			t.Errorf("%s coalesces under %q; only edits and drafts do", m, k)
		}
	}
}

func TestResolveRefs(t *testing.T) {
	t.Parallel()
	targets := map[string]tasks.RefTarget{"t1": {ChatID: -100555, MessageIDs: []int64{10, 11, 12}}}
	for _, tc := range []struct {
		method, params, want string
	}{
		{"editMessageText", `{"message_task_id":"t1","text":"done"}`, `{"chat_id":-100555,"message_id":10,"text":"done"}`},
		{"editMessageText", `{"message_task_id":"t1","message_task_part":2,"text":"done"}`, `{"chat_id":-100555,"message_id":12,"text":"done"}`},
		{"deleteMessage", `{"message_task_id":"t1"}`, `{"chat_id":-100555,"message_id":10}`},
		{"copyMessage", `{"chat_id":7,"message_task_id":"t1","message_task_part":1}`, `{"chat_id":7,"from_chat_id":-100555,"message_id":11}`},
		{"sendPhoto", `{"chat_id":-100555,"photo":"x","reply_parameters":{"message_task_id":"t1"}}`, `{"chat_id":-100555,"photo":"x","reply_parameters":{"message_id":10}}`},
		{"sendPhoto", `{"chat_id":9,"photo":"x","reply_parameters":{"message_task_id":"t1"}}`, `{"chat_id":9,"photo":"x","reply_parameters":{"chat_id":-100555,"message_id":10}}`},
	} {
		c := &tasks.Call{Method: tc.method, Params: json.RawMessage(tc.params)}
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: %v", tc.params, err)
		}
		r, err := c.Resolve(targets)
		if err != nil {
			t.Fatalf("%s: %v", tc.params, err)
		}
		var got, want any
		_ = json.Unmarshal(r.Params, &got)
		_ = json.Unmarshal([]byte(tc.want), &want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s resolved to %s, want %s", tc.params, r.Params, tc.want)
		}
		if ref, reply := r.Refs(); ref != nil || reply != nil {
			t.Errorf("%s: references left after Resolve", tc.params)
		}
	}
	c := &tasks.Call{Method: "editMessageText", Params: json.RawMessage(`{"message_task_id":"t1","message_task_part":3,"text":"x"}`)}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve(targets); !errors.Is(err, tasks.ErrInvalidField) {
		t.Errorf("a part the reply does not have: %v", err)
	}
	// Edits of one referenced message coalesce, whatever chat they name.
	a := &tasks.Call{Method: "editMessageText", Params: json.RawMessage(`{"message_task_id":"t1","text":"a"}`)}
	b := &tasks.Call{Method: "editMessageText", Params: json.RawMessage(`{"message_task_id":"t1","text":"ab"}`)}
	if a.Validate() != nil || b.Validate() != nil || a.CoalesceKey() == "" || a.CoalesceKey() != b.CoalesceKey() {
		t.Errorf("coalesce keys of edits of one referenced message: %q, %q", a.CoalesceKey(), b.CoalesceKey())
	}
}
