package tasks_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/tasks"
)

// validateCase is a message and what its Validate must say: nil, or an
// error wrapping wantErr on field.
type validateCase struct {
	name    string
	msg     tasks.SendMessage
	wantErr error
	field   string
}

func TestSendMessageValidate(t *testing.T) {
	t.Parallel()
	ok := func(m tasks.SendMessage) tasks.SendMessage { return m }
	base := tasks.SendMessage{ChatID: telego.ChatID{ID: 42}, Text: "hi"}
	with := func(f func(*tasks.SendMessage)) tasks.SendMessage { m := base; f(&m); return m }
	tests := []validateCase{
		{"minimal", ok(base), nil, ""},
		{"channel username", with(func(m *tasks.SendMessage) { m.ChatID = telego.ChatID{Username: "@my_channel"} }), nil, ""},
		{"supergroup id", with(func(m *tasks.SendMessage) { m.ChatID = telego.ChatID{ID: -1001234567890} }), nil, ""},
		{"exactly 4096", with(func(m *tasks.SendMessage) { m.Text = strings.Repeat("a", 4096) }), nil, ""},
		{"4096 cyrillic", with(func(m *tasks.SendMessage) { m.Text = strings.Repeat("я", 4096) }), nil, ""},
		{"html markup not counted", with(func(m *tasks.SendMessage) {
			m.ParseMode = "HTML"
			m.Text = "<b>" + strings.Repeat("a", 4096) + "</b>"
		}), nil, ""},
		{"empty text", with(func(m *tasks.SendMessage) { m.Text = "" }), tasks.ErrEmptyText, "text"},
		{"blank text", with(func(m *tasks.SendMessage) { m.Text = " \n\t" }), tasks.ErrEmptyText, "text"},
		{"only tags", with(func(m *tasks.SendMessage) { m.ParseMode = "HTML"; m.Text = "<b></b>" }), tasks.ErrEmptyText, "text"},
		{"4097", with(func(m *tasks.SendMessage) { m.Text = strings.Repeat("a", 4097) }), tasks.ErrTextTooLong, "text"},
		{"emoji count as two units", with(func(m *tasks.SendMessage) { m.Text = strings.Repeat("😀", 2049) }), tasks.ErrTextTooLong, "text"},
		{"invalid utf8", with(func(m *tasks.SendMessage) { m.Text = "a\xffb" }), tasks.ErrInvalidText, "text"},
		{"missing chat", with(func(m *tasks.SendMessage) { m.ChatID = telego.ChatID{} }), tasks.ErrMissingChat, "chat_id"},
		{"bad username", with(func(m *tasks.SendMessage) { m.ChatID = telego.ChatID{Username: "channel"} }), tasks.ErrInvalidChat, "chat_id"},
		{"absurd id", with(func(m *tasks.SendMessage) { m.ChatID = telego.ChatID{ID: 1 << 62} }), tasks.ErrInvalidChat, "chat_id"},
		{"unknown parse mode", with(func(m *tasks.SendMessage) { m.ParseMode = "html" }), tasks.ErrUnknownParseMode, "parse_mode"},
		{"bad bot name", with(func(m *tasks.SendMessage) { m.Bot = "123:token" }), tasks.ErrInvalidBot, "bot"},
		{"future version", with(func(m *tasks.SendMessage) { m.Version = 99 }), tasks.ErrUnsupportedVersion, "v"},
		{"entity outside text", with(func(m *tasks.SendMessage) {
			m.Entities = []telego.MessageEntity{{Type: "bold", Offset: 1, Length: 5}}
		}), tasks.ErrInvalidEntities, "entities"},
		{"entities and parse mode", with(func(m *tasks.SendMessage) {
			m.ParseMode = "HTML"
			m.Entities = []telego.MessageEntity{{Type: "bold", Offset: 0, Length: 1}}
		}), tasks.ErrInvalidEntities, "entities"},
		{"inline keyboard", with(func(m *tasks.SendMessage) {
			m.ReplyMarkup = json.RawMessage(`{"inline_keyboard":[[{"text":"Open","url":"https://example.com"}]]}`)
		}), nil, ""},
		{"button without text", with(func(m *tasks.SendMessage) {
			m.ReplyMarkup = json.RawMessage(`{"inline_keyboard":[[{"url":"https://example.com"}]]}`)
		}), tasks.ErrInvalidReplyMarkup, "reply_markup"},
		{"unknown markup", with(func(m *tasks.SendMessage) { m.ReplyMarkup = json.RawMessage(`{"foo":1}`) }), tasks.ErrInvalidReplyMarkup, "reply_markup"},
		{"markup not object", with(func(m *tasks.SendMessage) { m.ReplyMarkup = json.RawMessage(`[1]`) }), tasks.ErrInvalidReplyMarkup, "reply_markup"},
		{"negative thread", with(func(m *tasks.SendMessage) { m.MessageThreadID = -1 }), tasks.ErrInvalidField, "message_thread_id"},
	}
	tests = append(tests, entityTests(with)...)
	tests = append(tests, replyTests(with)...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.msg.Validate()
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			var ve *tasks.ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("error %v: want a ValidationError on field %q", err, tt.field)
			}
		})
	}
}

// entityTests: entities must lie within the text, whatever their offset
// and length, including pairs whose sum overflows an int.
func entityTests(with func(func(*tasks.SendMessage)) tasks.SendMessage) []validateCase {
	entity := func(off, n int) tasks.SendMessage {
		return with(func(m *tasks.SendMessage) {
			m.Text = "hello"
			m.Entities = []telego.MessageEntity{{Type: "bold", Offset: off, Length: n}}
		})
	}
	bad := func(name string, off, n int) validateCase {
		return validateCase{name, entity(off, n), tasks.ErrInvalidEntities, "entities"}
	}
	return []validateCase{
		{"entity covering the text", entity(0, 5), nil, ""},
		{"entity at the end", entity(4, 1), nil, ""},
		bad("entity one past the end", 4, 2),
		bad("entity starting at the end", 5, 1),
		bad("entity zero length", 0, 0),
		bad("entity max offset and length", math.MaxInt, math.MaxInt),
		bad("entity offset 1, max length", 1, math.MaxInt),
		bad("entity max offset, length 1", math.MaxInt, 1),
		bad("entity length wrapping to offset 0", math.MinInt+1, math.MaxInt),
		bad("entity negative offset", -1, 2),
		bad("entity negative length", 2, -1),
		bad("entity min offset and length", math.MinInt, math.MinInt),
	}
}

// replyTests: reply_parameters as the Bot API documents them, each error
// naming its field.
func replyTests(with func(func(*tasks.SendMessage)) tasks.SendMessage) []validateCase {
	reply := func(r telego.ReplyParameters) tasks.SendMessage {
		return with(func(m *tasks.SendMessage) { m.ReplyParameters = &r })
	}
	const f = "reply_parameters."
	return []validateCase{
		{"reply", reply(telego.ReplyParameters{MessageID: 7}), nil, ""},
		{"reply in another chat", reply(telego.ReplyParameters{MessageID: 7, ChatID: telego.ChatID{ID: -1001234567890}}), nil, ""},
		{"reply in a channel", reply(telego.ReplyParameters{MessageID: 7, ChatID: telego.ChatID{Username: "@my_channel"}}), nil, ""},
		{"reply with a quote", reply(telego.ReplyParameters{MessageID: 7, Quote: "<b>hi</b>", QuoteParseMode: "HTML", QuotePosition: 3}), nil, ""},
		{"reply with quote entities", reply(telego.ReplyParameters{MessageID: 7, Quote: "hi", QuoteEntities: []telego.MessageEntity{{Type: "bold", Offset: 0, Length: 2}}}), nil, ""},
		{"reply with a 1024 quote", reply(telego.ReplyParameters{MessageID: 7, Quote: strings.Repeat("q", 1024)}), nil, ""},
		{"reply to the largest message id", reply(telego.ReplyParameters{MessageID: math.MaxInt32}), nil, ""},
		{"reply without message id", reply(telego.ReplyParameters{}), tasks.ErrInvalidField, f + "message_id"},
		{"reply to a negative message id", reply(telego.ReplyParameters{MessageID: -5}), tasks.ErrInvalidField, f + "message_id"},
		{"reply to an int64-max message id", reply(telego.ReplyParameters{MessageID: math.MaxInt64}), tasks.ErrInvalidField, f + "message_id"},
		{"reply in an int64-max chat", reply(telego.ReplyParameters{MessageID: 7, ChatID: telego.ChatID{ID: math.MaxInt64}}), tasks.ErrInvalidChat, f + "chat_id"},
		{"reply in an int64-min chat", reply(telego.ReplyParameters{MessageID: 7, ChatID: telego.ChatID{ID: math.MinInt64}}), tasks.ErrInvalidChat, f + "chat_id"},
		{"reply in a bad username", reply(telego.ReplyParameters{MessageID: 7, ChatID: telego.ChatID{Username: "nochannel"}}), tasks.ErrInvalidChat, f + "chat_id"},
		{"reply quote too long", reply(telego.ReplyParameters{MessageID: 7, Quote: strings.Repeat("q", 1025)}), tasks.ErrTextTooLong, f + "quote"},
		{"reply quote not UTF-8", reply(telego.ReplyParameters{MessageID: 7, Quote: "a\xffb"}), tasks.ErrInvalidText, f + "quote"},
		{"reply quote parse mode unknown", reply(telego.ReplyParameters{MessageID: 7, Quote: "hi", QuoteParseMode: "html"}), tasks.ErrUnknownParseMode, f + "quote_parse_mode"},
		{"reply quote entities and parse mode", reply(telego.ReplyParameters{MessageID: 7, Quote: "hi", QuoteParseMode: "HTML",
			QuoteEntities: []telego.MessageEntity{{Type: "bold", Offset: 0, Length: 2}}}), tasks.ErrInvalidEntities, f + "quote_entities"},
		{"reply quote entity outside the quote", reply(telego.ReplyParameters{MessageID: 7, Quote: "hi",
			QuoteEntities: []telego.MessageEntity{{Type: "bold", Offset: 1, Length: math.MaxInt}}}), tasks.ErrInvalidEntities, f + "quote_entities"},
		{"reply quote entities without a quote", reply(telego.ReplyParameters{MessageID: 7,
			QuoteEntities: []telego.MessageEntity{{Type: "bold", Offset: 0, Length: 1}}}), tasks.ErrEmptyText, f + "quote"},
		{"reply negative quote position", reply(telego.ReplyParameters{MessageID: 7, Quote: "hi", QuotePosition: -1}), tasks.ErrInvalidField, f + "quote_position"},
		{"reply negative checklist task", reply(telego.ReplyParameters{MessageID: 7, ChecklistTaskID: -1}), tasks.ErrInvalidField, f + "checklist_task_id"},
	}
}

// TestReplyParametersEverywhere: a part of a multi-part reply and a
// broadcast's message are checked as a message is, and the error names the
// field within them.
func TestReplyParametersEverywhere(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		parse   func([]byte) error
		field   string
	}{
		{"message", `{"chat_id":1,"text":"a","reply_parameters":{"message_id":-1}}`,
			func(b []byte) error { _, err := tasks.ParseSendMessage(b); return err }, "reply_parameters.message_id"},
		{"part", `{"chat_id":1,"parts":[{"text":"a"},{"text":"b","reply_parameters":{"message_id":1,"chat_id":9223372036854775807}}]}`,
			func(b []byte) error { _, err := tasks.ParseSendMessages(b); return err }, "parts[1].reply_parameters.chat_id"},
		{"broadcast", `{"text":"a","reply_parameters":{"message_id":0}}`,
			func(b []byte) error { _, err := tasks.ParseBroadcastMessage(b); return err }, "reply_parameters.message_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ve *tasks.ValidationError
			if err := tt.parse([]byte(tt.payload)); !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("%s: %v, want a ValidationError on %s", tt.payload, err, tt.field)
			}
		})
	}
}

func TestCheckBot(t *testing.T) {
	t.Parallel()
	if err := tasks.CheckBot("", []string{"default"}); err != nil {
		t.Fatalf("default bot: %v", err)
	}
	if err := tasks.CheckBot("promo", nil); err != nil {
		t.Fatalf("no known list: %v", err)
	}
	err := tasks.CheckBot("promo", []string{"default"})
	if !errors.Is(err, tasks.ErrUnknownBot) || !strings.Contains(err.Error(), `"promo"`) {
		t.Fatalf("unknown bot: %v", err)
	}
}

func TestParseSendMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		wantErr error
		field   string
	}{
		{"integer chat", `{"chat_id":42,"text":"hi"}`, nil, ""},
		{"channel chat", `{"chat_id":"@news_channel","text":"hi"}`, nil, ""},
		{"unknown field", `{"chat_id":42,"text":"hi","txt":"x"}`, tasks.ErrInvalidField, "txt"},
		{"wrong type", `{"chat_id":42,"text":7}`, tasks.ErrInvalidField, "text"},
		{"not json", `chat_id=42`, tasks.ErrMalformedPayload, ""},
		{"trailing data", `{"chat_id":42,"text":"hi"} {}`, tasks.ErrMalformedPayload, ""},
		{"trailing bracket", `{"chat_id":42,"text":"hi"}]`, tasks.ErrMalformedPayload, ""},
		{"invalid utf8", "{\"chat_id\":42,\"text\":\"h\xffi\"}", tasks.ErrMalformedPayload, ""},
		{"newer version", `{"v":2,"chat_id":42,"text":"hi"}`, tasks.ErrUnsupportedVersion, "v"},
		{"missing text", `{"chat_id":42}`, tasks.ErrEmptyText, "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := tasks.ParseSendMessage([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("ParseSendMessage() = %v, want %v", err, tt.wantErr)
			}
			if err == nil && m.Text != "hi" {
				t.Fatalf("text = %q", m.Text)
			}
			var ve *tasks.ValidationError
			if tt.field != "" && (!errors.As(err, &ve) || ve.Field != tt.field) {
				t.Fatalf("error %v: want field %q", err, tt.field)
			}
		})
	}
}

func TestNewSendMessageTask(t *testing.T) {
	t.Parallel()
	task, err := tasks.NewSendMessageTask(&tasks.SendMessage{ChatID: telego.ChatID{ID: 42}, Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if task.Type() != tasks.TypeSendMessage {
		t.Fatalf("type %q", task.Type())
	}
	m, err := tasks.ParseSendMessage(task.Payload())
	if err != nil || m.Version != tasks.SendMessageVersion {
		t.Fatalf("round trip: %+v, %v", m, err)
	}
	if strings.Contains(string(task.Payload()), "token") {
		t.Fatalf("payload mentions a token: %s", task.Payload())
	}
	if _, err := tasks.NewSendMessageTask(&tasks.SendMessage{ChatID: telego.ChatID{ID: 42}}, asynq.Queue("bulk")); !errors.Is(err, tasks.ErrEmptyText) {
		t.Fatalf("invalid message: %v", err)
	}
}

func TestVisibleLength(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text, mode string
		want       int
	}{
		{"hello", "", 5},
		{"<b>hi</b> &amp; <a href=\"https://x.y\">link</a>", "HTML", 9},
		{`<a href="https://x.y/?q=a>b">link</a>`, "HTML", 4},
		{`<a href='x"y'>it's</a> "q"`, "HTML", 8},
		{"<b>unclosed", "HTML", 8},
		{"*bold* and \\*star\\*", "MarkdownV2", 15},
		{"[link](https://example.com)", "MarkdownV2", 4},
		{"😀", "", 2},
	}
	for _, tt := range tests {
		if got := tasks.VisibleLength(tt.text, tt.mode); got != tt.want {
			t.Errorf("VisibleLength(%q, %q) = %d, want %d", tt.text, tt.mode, got, tt.want)
		}
	}
}
