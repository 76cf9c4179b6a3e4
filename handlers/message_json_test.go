package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mymmrac/telego"
	ta "github.com/mymmrac/telego/telegoapi"

	"github.com/telequeue/telequeue/internal/jsonscan"
)

// TestSendMessageAnswers sends to a Bot API that gives each of Telegram's
// answers, and some it never gives, and checks what SendMessage returns:
// the message, or the error with its text, its *telegoapi.Error or
// *TransportError, and how classify sorts it.
func TestSendMessageAnswers(t *testing.T) {
	t.Parallel()
	msg := func(id int, date, chat int64, typ string) *telego.Message {
		return &telego.Message{MessageID: id, Date: date, Chat: telego.Chat{ID: chat, Type: typ}}
	}
	notMessage := "internal execution: telegram: unreadable response"
	tests := []struct {
		name   string
		status int
		body   string
		want   *telego.Message
		text   string          // the error's text
		api    *ta.Error       // the refused call's error
		trans  *TransportError // the transport error's Kind and StatusCode
		class  class           // classify's verdict of the error
	}{
		{name: "message", status: 200, body: sentMessageAnswer, want: msg(48213, 1764856800, 123456789, "private")},
		{name: "message with a 5xx", status: 500, body: `{"ok":true,"result":{"message_id":1,"chat":{"id":-5,"type":"group"},"date":2}}`,
			want: msg(1, 2, -5, "group")},
		{name: "keys in another case", status: 200, body: `{"OK":true,"Result":{"Message_ID":7,"chat":{"ID":1,"Type":"channel"}}}`,
			want: msg(7, 0, 1, "channel")},
		{name: "escaped chat type", status: 200, body: `{"ok":true,"result":{"message_id":7,"chat":{"id":1,"type":"priv\u0061te"}}}`,
			want: msg(7, 0, 1, "private")},
		{name: "message_id 0", status: 200, body: `{"ok":true,"result":{"message_id":0,"chat":{"id":1,"type":"private"}}}`,
			text: notMessage, trans: &TransportError{Kind: "response"}, class: classTransient},
		{name: "no result", status: 200, body: `{"ok":true}`, text: notMessage, trans: &TransportError{Kind: "response"}, class: classTransient},
		{name: "null result", status: 200, body: `{"ok":true,"result":null}`, text: notMessage, trans: &TransportError{Kind: "response"}, class: classTransient},
		{name: "message_id a string", status: 200, body: `{"ok":true,"result":{"message_id":"7"}}`,
			text: notMessage, trans: &TransportError{Kind: "response"}, class: classTransient},
		{name: "result given twice", status: 200, body: `{"ok":true,"result":{"message_id":5},"result":{"date":1}}`,
			text: notMessage, trans: &TransportError{Kind: "response"}, class: classTransient},
		{name: "refused", status: 400, body: `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`,
			text: `api: 400 "Bad Request: chat not found"`, api: &ta.Error{ErrorCode: 400, Description: "Bad Request: chat not found"}, class: classPermanent},
		{name: "unauthorized", status: 401, body: `{"ok":false,"error_code":401,"description":"Unauthorized"}`,
			text: `api: 401 "Unauthorized"`, api: &ta.Error{ErrorCode: 401, Description: "Unauthorized"}, class: classUnauthorized},
		{name: "flood", status: 429, body: `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}`,
			text: `api: 429 "Too Many Requests: retry after 3", migrate to chat ID: 0, retry after: 3`,
			api:  &ta.Error{ErrorCode: 429, Description: "Too Many Requests: retry after 3", Parameters: &ta.ResponseParameters{RetryAfter: 3}}, class: classRateLimited},
		{name: "migrated", status: 400, body: `{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1001234567890}}`,
			text: `api: 400 "Bad Request: group chat was upgraded to a supergroup chat", migrate to chat ID: -1001234567890, retry after: 0`,
			api: &ta.Error{ErrorCode: 400, Description: "Bad Request: group chat was upgraded to a supergroup chat",
				Parameters: &ta.ResponseParameters{MigrateToChatID: -1001234567890}}, class: classMigrated},
		{name: "error without code", status: 200, body: `{"ok":false,"description":"odd"}`,
			text: `api: 0 "odd"`, api: &ta.Error{Description: "odd"}, class: classPermanent},
		{name: "5xx with an API error", status: 502, body: `{"ok":false,"error_code":502,"description":"Bad Gateway"}`,
			text: "internal execution: telegram: server error 502", trans: &TransportError{Kind: "server", StatusCode: 502}, class: classTransient},
		{name: "5xx without an API error", status: 503, body: `<html>unavailable</html>`,
			text: "internal execution: telegram: server error 503", trans: &TransportError{Kind: "server", StatusCode: 503}, class: classTransient},
		{name: "5xx not ok without error", status: 500, body: `{"ok":false}`,
			text: "internal execution: telegram: server error 500", trans: &TransportError{Kind: "server", StatusCode: 500}, class: classTransient},
		{name: "not ok without error", status: 200, body: `{"ok":false}`,
			text: "internal execution: telegram: unreadable response", trans: &TransportError{Kind: "response", StatusCode: 200}, class: classTransient},
		{name: "unreadable", status: 200, body: `{"ok":true,"result":{"message_id":1}`,
			text: "internal execution: telegram: unreadable response", trans: &TransportError{Kind: "response", StatusCode: 200}, class: classTransient},
		{name: "ok of another type", status: 200, body: `{"ok":"true","result":{"message_id":1}}`,
			text: "internal execution: telegram: unreadable response", trans: &TransportError{Kind: "response", StatusCode: 200}, class: classTransient},
		{name: "empty", status: 404, body: ``,
			text: "internal execution: telegram: unreadable response", trans: &TransportError{Kind: "response", StatusCode: 404}, class: classTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bot := fakeAPIBot(t, tt.status, tt.body)
			m, err := bot.SendMessage(t.Context(), &telego.SendMessageParams{ChatID: telego.ChatID{ID: 42}, Text: "hi"})
			if tt.want != nil {
				if err != nil || !reflect.DeepEqual(m, tt.want) {
					t.Fatalf("got %+v, %v; want %+v", m, err, tt.want)
				}
				return
			}
			if m != nil || err == nil {
				t.Fatalf("got %+v, %v; want an error", m, err)
			}
			if err.Error() != tt.text {
				t.Errorf("text %q, want %q", err, tt.text)
			}
			if strings.Contains(err.Error(), "AAbbCC") {
				t.Errorf("text %q holds the token", err)
			}
			var apiErr *ta.Error
			if errors.As(err, &apiErr) != (tt.api != nil) || tt.api != nil && !reflect.DeepEqual(apiErr, tt.api) {
				t.Errorf("API error %+v, want %+v", apiErr, tt.api)
			}
			var te *TransportError
			if errors.As(err, &te) != (tt.trans != nil) || tt.trans != nil && (te.Kind != tt.trans.Kind || te.StatusCode != tt.trans.StatusCode) {
				t.Errorf("transport error %+v, want %+v", te, tt.trans)
			}
			if v := classify(err, "main", 0); v.class != tt.class {
				t.Errorf("class %d, want %d", v.class, tt.class)
			}
		})
	}
}

// TestParseSentMessageTakesTelegramsAnswers checks that Telegram's answers
// to a sendMessage take the one-pass path, not the general one.
func TestParseSentMessageTakesTelegramsAnswers(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		sentMessageAnswer,
		` {"ok" : true , "result" : { "message_id" : 1 , "chat" : { "type" : "supergroup" , "id" : -1001234567890 , "title" : "A \"team\"" } , "date" : 3 } } `,
		`{"ok":true,"result":{"message_id":9,"sender_chat":{"id":-100,"type":"channel"},"chat":{"id":-100,"title":"News","type":"channel"},"date":5,"text":"x\ny","entities":[]}}`,
	} {
		if _, ok := parseSentMessage([]byte(body)); !ok {
			t.Errorf("general path for %s", body)
		}
	}
}

// FuzzParseSentMessage checks that the one-pass path takes only JSON, and
// wherever it takes a body, reads the same message as the general path.
func FuzzParseSentMessage(f *testing.F) {
	for _, body := range []string{
		sentMessageAnswer,
		`{"ok":true,"result":{"message_id":1,"chat":{"id":-5,"type":"group"},"date":2}}`,
		`{"OK":true,"Result":{"Message_ID":7,"chat":{"ID":1,"Type":"channel"}}}`,
		`{"ok":true,"result":{"message_id":7,"chat":{"id":1,"type":"priv\u0061te"}}}`,
		`{"ok":true,"result":{"message_id":7,"chat":{"id":1,"type":"priv\u0061te"},"chat":{"id":2}}}`,
		`{"ok":true,"result":{"message_id":7,"chat":{"id":1,"type":"privé"}}}`,
		`{"ok":true,"result":{"message_id":7,"date":1.0,"chat":{"id":1e3}}}`,
		`{"ok":true,"result":{"message_id":9223372036854775807,"date":-9223372036854775808,"chat":{"id":-0}}}`,
		`{"ok":true,"result":{"message_id":9223372036854775808,"chat":{"id":18446744073709551616}}}`,
		"{\"o\u212a\":true,\"result\":{\"message_id\":7}}",
		"{\"ok\":true,\"result\":{\"me\u017f\u017fage_id\":7}}",
		`{"ok":true,"result":{"message_id":0}}`,
		`{"ok":true,"result":null}`,
		`{"ok":true,"result":{"message_id":5},"result":{"date":1}}`,
		`{"ok":true,"ok":false,"result":{"message_id":5}}`,
		`{"ok":true,"result":{"message_id":5},"description":"x"}`,
		`{"ok":true,"result":{"message_id":"5","chat":null}}`,
		`{"ok":true,"result":{"message_id":5,"chat":{"id":1,"type":null}}}`,
		`{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}`,
		`{"ok":true,"result":[{"message_id":5}]}`,
		`[{"ok":true}]`,
		`{"ok":true,"result":{"message_id":5,"x":[1,{"y":"\"}"},true,null,-2.5e-3]}}`,
		`{"ok":true,"result":{"message_id":5}`,
		`{"ok":true,"result":{"message_id":5,"x":"\u00e9\ud83d\ude00\/\b"}}`,
		`{"ok":true,"result":{"message_id":5,"x":"\u00g9"}}`,
		"{\"ok\":true,\"result\":{\"message_id\":5,\"x\":\"a\tb\"}}",
		`{"ok":true,"result":{"message_id":05}}`,
		`{"ok":true,"result":{"message_id":5,"x":[01]}}`,
		`{"ok":true,"result":{"message_id":5,"x":-}}`,
		`{"ok":true,"result":{"message_id":5,"x":1.}}`,
		`{"ok":true,"result":{"message_id":5,"x":1e}}`,
		`{"ok":true,"result":{"message_id":5,"x":tru}}`,
		`{"ok":true,"result":{"message_id":5,"x":[1,]}}`,
		`{"ok":true,"result":{"message_id":5,"x":{"a":1,}}}`,
		`{"ok":true,"result":{"message_id":5,"x":{"a" 1}}}`,
		`{"ok":true,"result":{"message_id":5}} x`,
		"{\"ok\":true,\"result\":{\"message_id\":5}}\x00",
		`{"ok":true,"result":{"message_id":5,"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}`,
		``,
	} {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := parseSentMessage(body)
		if !ok {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("one pass %+v of a body that is not JSON: %q", got, body)
		}
		want, err := answerMessage(200, body)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("one pass %+v; general path %+v, %v\nbody %s", got, want, err, body)
		}
	})
}

// TestSendMessageRequest checks that sendMessageRequest writes the bytes of
// jsonRequest, itself or through it, for parameters telequeue sends.
func TestSendMessageRequest(t *testing.T) {
	t.Parallel()
	text := "plain <b>&</b> \"quoted\" back\\slash \b\f\n\r\t\x00\x1f\x7f \u2028\u2029 é 😀 \xff\xc3 end"
	tests := []struct {
		name   string
		params telego.SendMessageParams
		own    bool // written by appendSendMessage, not json.Marshal
	}{
		{"text only", telego.SendMessageParams{ChatID: telego.ChatID{ID: 42}, Text: "hi"}, true},
		{"empty text", telego.SendMessageParams{ChatID: telego.ChatID{ID: -1001234567890}}, true},
		{"escapes", telego.SendMessageParams{ChatID: telego.ChatID{ID: 1}, Text: text, ParseMode: telego.ModeHTML}, true},
		{"username", telego.SendMessageParams{ChatID: telego.ChatID{Username: "@my_channel2"}, Text: "x"}, true},
		{"username and ID", telego.SendMessageParams{ChatID: telego.ChatID{ID: 5, Username: "@ignored"}, Text: "x"}, true},
		{"every field written", telego.SendMessageParams{
			BusinessConnectionID:  "bc<1>",
			ChatID:                telego.ChatID{ID: 7},
			MessageThreadID:       3,
			DirectMessagesTopicID: -4,
			Text:                  text,
			ParseMode:             telego.ModeMarkdownV2,
			LinkPreviewOptions:    &telego.LinkPreviewOptions{IsDisabled: true, URL: "https://example.org/?a=1&b=2", PreferSmallMedia: true, PreferLargeMedia: true, ShowAboveText: true},
			DisableNotification:   true,
			ProtectContent:        true,
			AllowPaidBroadcast:    true,
			MessageEffectID:       "5104841245755180586",
		}, true},
		{"empty link preview options", telego.SendMessageParams{ChatID: telego.ChatID{ID: 7}, Text: "x", LinkPreviewOptions: &telego.LinkPreviewOptions{}}, true},
		{"link preview URL only", telego.SendMessageParams{ChatID: telego.ChatID{ID: 7}, Text: "x", LinkPreviewOptions: &telego.LinkPreviewOptions{URL: "u"}}, true},
		{"empty entities", telego.SendMessageParams{ChatID: telego.ChatID{ID: 7}, Text: "x", Entities: []telego.MessageEntity{}}, true},
		{"no chat", telego.SendMessageParams{Text: "x"}, false},
		{"odd username", telego.SendMessageParams{ChatID: telego.ChatID{Username: "@a<b>\u2028"}, Text: "x"}, false},
		{"username without @", telego.SendMessageParams{ChatID: telego.ChatID{Username: "channel"}, Text: "x"}, false},
		{"entities", telego.SendMessageParams{ChatID: telego.ChatID{ID: 7}, Text: "bold", Entities: []telego.MessageEntity{{Type: "bold", Length: 4}}}, false},
		{"reply", telego.SendMessageParams{ChatID: telego.ChatID{ID: 7}, Text: "x", ReplyParameters: &telego.ReplyParameters{MessageID: 3}}, false},
		{"markup", telego.SendMessageParams{ChatID: telego.ChatID{ID: 7}, Text: "x", ReplyMarkup: &telego.ReplyKeyboardRemove{RemoveKeyboard: true}}, false},
		{"nil markup pointer", telego.SendMessageParams{ChatID: telego.ChatID{ID: 7}, Text: "x", ReplyMarkup: (*telego.InlineKeyboardMarkup)(nil)}, false},
		{"suggested post", telego.SendMessageParams{ChatID: telego.ChatID{ID: 7}, Text: "x", SuggestedPostParameters: &telego.SuggestedPostParameters{SendDate: 9}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkSendMessageRequest(t, &tt.params)
			if _, own := appendSendMessage(nil, &tt.params); own != tt.own {
				t.Errorf("written by appendSendMessage: %v, want %v", own, tt.own)
			}
		})
	}
}

// TestAppendSendMessageKnowsEveryField fails when telego's
// SendMessageParams or LinkPreviewOptions gain a field, which
// appendSendMessage would leave out.
func TestAppendSendMessageKnowsEveryField(t *testing.T) {
	t.Parallel()
	known := map[reflect.Type]string{
		reflect.TypeFor[telego.SendMessageParams](): "business_connection_id chat_id message_thread_id direct_messages_topic_id text parse_mode " +
			"entities link_preview_options disable_notification protect_content allow_paid_broadcast message_effect_id " +
			"suggested_post_parameters reply_parameters reply_markup",
		reflect.TypeFor[telego.LinkPreviewOptions](): "is_disabled url prefer_small_media prefer_large_media show_above_text",
	}
	for typ, want := range known {
		var names []string
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			names = append(names, name)
		}
		if got := strings.Join(names, " "); got != want {
			t.Errorf("%s has the fields\n%s\nappendSendMessage knows\n%s", typ, got, want)
		}
	}
}

// FuzzSendMessageRequest checks that sendMessageRequest writes the bytes of
// jsonRequest for any values of the fields appendSendMessage writes.
func FuzzSendMessageRequest(f *testing.F) {
	f.Add(int64(42), "", "hi", "", 0, int64(0), "", "", "", uint8(0))
	f.Add(int64(0), "@channel", "<b>x</b> & \u2028", "HTML", 7, int64(0), "", "", "", uint8(0b101))
	f.Add(int64(-1001234567890), "", "a\"b\\c\n\x00\x7f\xff😀", "MarkdownV2", 0, int64(9), "bc", "https://x.org/?a&b", "e1", uint8(0xff))
	f.Add(int64(0), "@a<b>", "x", "", 0, int64(0), "", "", "", uint8(0b1000))
	f.Fuzz(func(t *testing.T, id int64, username, text, parseMode string, thread int, topic int64, business, url, effect string, flags uint8) {
		p := &telego.SendMessageParams{
			BusinessConnectionID:  business,
			ChatID:                telego.ChatID{ID: id, Username: username},
			MessageThreadID:       thread,
			DirectMessagesTopicID: topic,
			Text:                  text,
			ParseMode:             parseMode,
			DisableNotification:   flags&1 != 0,
			ProtectContent:        flags&2 != 0,
			AllowPaidBroadcast:    flags&4 != 0,
			MessageEffectID:       effect,
		}
		if flags&8 != 0 {
			p.LinkPreviewOptions = &telego.LinkPreviewOptions{IsDisabled: flags&16 != 0, URL: url,
				PreferSmallMedia: flags&32 != 0, PreferLargeMedia: flags&64 != 0, ShowAboveText: flags&128 != 0}
		}
		checkSendMessageRequest(t, p)
	})
}

// checkSendMessageRequest fails t unless sendMessageRequest(p) is
// jsonRequest(p).
func checkSendMessageRequest(t *testing.T, p *telego.SendMessageParams) {
	t.Helper()
	want, wantErr := jsonRequest(p)
	got, err := sendMessageRequest(p)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("error %v, want %v", err, wantErr)
	}
	if err != nil {
		return
	}
	if got.ContentType != want.ContentType || !bytes.Equal(got.BodyRaw, want.BodyRaw) {
		t.Fatalf("body\n%s (%s)\nwant\n%s (%s)", got.BodyRaw, got.ContentType, want.BodyRaw, want.ContentType)
	}
}

// FuzzJSONScan checks that jsonScan takes a value exactly when json.Valid
// does, but for values nested deeper than maxSkipDepth, which it may refuse.
func FuzzJSONScan(f *testing.F) {
	for _, v := range []string{
		sentMessageAnswer, `{}`, `[]`, ` [1, -0, 0.5e+3, -1E-2, "a\"\\\/\b\f\n\r\t\u00E9", true, false, null, {"a":{}}] `,
		`"\ud83d\ude00"`, `"é"`, "\"\xff\"", `01`, `1.`, `.5`, `-`, `1e`, `+1`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`,
		`"\u12"`, `"\x"`, "\"a\tb\"", `tru`, `nulll`, `[1 2]`, `{"a":1}}`, `{} {}`, "{}\x00", ``, ` `,
	} {
		f.Add([]byte(v))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := jsonScan{jsonscan.Scanner{B: b}}
		ok := s.skip(0) && s.Peek() == 0 && s.I == len(b)
		valid := json.Valid(b)
		if ok && !valid || !ok && valid && bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) < maxSkipDepth {
			t.Fatalf("jsonScan %v, json.Valid %v: %q", ok, valid, b)
		}
	})
}
