package tasks

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/mymmrac/telego"
)

// commonFastPayload is the payload most sendMessage tasks carry.
var commonFastPayload = `{"v":1,"bot":"default","chat_id":123456789,"text":"` +
	strings.Repeat("Your order #1234 has shipped. ", 5) + `"}`

// TestDecodeSendMessageFastTakes lists payloads the fast path must decode
// itself, with what it must decode them to, so that a fast path that always
// declined (and left every payload to decodeStrict) fails here.
func TestDecodeSendMessageFastTakes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want SendMessage
	}{
		{"common", commonFastPayload, SendMessage{Version: 1, Bot: "default", ChatID: telego.ChatID{ID: 123456789},
			Text: strings.Repeat("Your order #1234 has shipped. ", 5)}},
		{"minimal", `{"chat_id":42,"text":"hi"}`, SendMessage{ChatID: telego.ChatID{ID: 42}, Text: "hi"}},
		{"empty object", `{}`, SendMessage{}},
		{"empty object, spaced", " {\t}\r\n", SendMessage{}},
		{"every field", `{"v":1,"bot":"alerts","chat_id":-1001234567890,"message_thread_id":7,"text":"<b>x</b>",` +
			`"parse_mode":"HTML","disable_notification":true,"protect_content":false,"allow_paid_broadcast":true}`,
			SendMessage{Version: 1, Bot: "alerts", ChatID: telego.ChatID{ID: -1001234567890}, MessageThreadID: 7,
				Text: "<b>x</b>", ParseMode: "HTML", DisableNotification: true, AllowPaidBroadcast: true}},
		{"whitespace everywhere", "\n{ \"chat_id\" :\t42 ,\r\n\"text\" : \"hi\" }\n",
			SendMessage{ChatID: telego.ChatID{ID: 42}, Text: "hi"}},
		{"channel username", `{"chat_id":"@my_channel","text":"hi"}`,
			SendMessage{ChatID: telego.ChatID{Username: "@my_channel"}, Text: "hi"}},
		{"chat id as a string of digits is a username", `{"chat_id":"123","text":"hi"}`,
			SendMessage{ChatID: telego.ChatID{Username: "123"}, Text: "hi"}},
		{"negative zero", `{"chat_id":-0,"text":"hi"}`, SendMessage{Text: "hi"}},
		{"largest int64", `{"chat_id":9223372036854775807}`, SendMessage{ChatID: telego.ChatID{ID: 1<<63 - 1}}},
		{"smallest int64", `{"chat_id":-9223372036854775808}`, SendMessage{ChatID: telego.ChatID{ID: -1 << 63}}},
		{"escapes", `{"text":"a\"b\\c\/d\b\f\n\r\t"}`, SendMessage{Text: "a\"b\\c/d\b\f\n\r\t"}},
		{"unicode escapes", `{"text":"\u003cb\u003e \u00e9 \u20AC \u0000"}`, SendMessage{Text: "<b> é € \x00"}},
		{"surrogate pair", `{"text":"\ud83d\ude00"}`, SendMessage{Text: "😀"}},
		{"lone high surrogate", `{"text":"\ud800x"}`, SendMessage{Text: "\uFFFDx"}},
		{"lone low surrogate", `{"text":"\udc00"}`, SendMessage{Text: "\uFFFD"}},
		{"two high surrogates", `{"text":"\ud800\ud800"}`, SendMessage{Text: "\uFFFD\uFFFD"}},
		{"high surrogate, then a pair", `{"text":"\ud800\ud83d\ude00"}`, SendMessage{Text: "\uFFFD😀"}},
		{"raw UTF-8", `{"text":"привет 😀"}`, SendMessage{Text: "привет 😀"}},
		{"empty strings", `{"bot":"","text":"","parse_mode":""}`, SendMessage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got SendMessage
			if !decodeSendMessageFast([]byte(tt.in), &got) {
				t.Fatalf("%s: declined", tt.in)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("%s:\ngot  %+v\nwant %+v", tt.in, got, tt.want)
			}
			var strict SendMessage
			if err := decodeStrict([]byte(tt.in), &strict); err != nil || !reflect.DeepEqual(got, strict) {
				t.Fatalf("%s: decodeStrict %+v, %v; fast path %+v", tt.in, strict, err, got)
			}
		})
	}
}

// declinedPayloads are payloads the fast path must leave to decodeStrict:
// every one is either refused by it or decoded in a way the fast path does
// not reproduce.
var declinedPayloads = []string{
	``, ` `, `null`, `[]`, `"x"`, `{`, `{"text":"x"`, `{"text":"x",}`, `{,}`, `{"text" "x"}`,
	`{"text":"x"}x`, `{"text":"x"}{}`, `{"text":"x"} 1`, "{\"text\":\"x\"}\xff", "{\"text\":\"h\xffi\"}",
	"\ufeff{}", "{\"text\":\"a\x01\"}", "{\"text\":\"a\nb\"}", "{\v}",
	`{"colour":"red"}`, `{"Text":"x"}`, `{"CHAT_ID":1}`, `{"\u0074ext":"x"}`, `{"diſable_notification":true}`,
	`{"text":"a","text":"b"}`, `{"chat_id":1,"chat_id":2}`,
	`{"text":null}`, `{"chat_id":null}`, `{"v":null}`, `{"disable_notification":null}`,
	`{"chat_id":1.0}`, `{"chat_id":1e3}`, `{"chat_id":1E3}`, `{"chat_id":01}`, `{"chat_id":-}`, `{"chat_id":+1}`,
	`{"chat_id":9223372036854775808}`, `{"chat_id":-9223372036854775809}`, `{"chat_id":99999999999999999999}`,
	`{"v":"1"}`, `{"v":true}`, `{"text":1}`, `{"text":true}`, `{"disable_notification":1}`,
	`{"disable_notification":"true"}`, `{"protect_content":tru}`, `{"protect_content":falsey}`,
	`{"chat_id":true}`, `{"chat_id":{}}`, `{"chat_id":[1]}`,
	`{"text":"\x"}`, `{"text":"\'"}`, `{"text":"\u12"}`, `{"text":"\u12G4"}`, `{"text":"\`,
	`{"entities":[]}`, `{"link_preview_options":{"is_disabled":true}}`, `{"reply_parameters":{"message_id":1}}`,
	`{"reply_markup":{"force_reply":true}}`, `{"reply_markup":null}`,
}

// TestDecodeSendMessageFastDeclines checks that the fast path leaves every
// payload it cannot decode exactly to decodeStrict.
func TestDecodeSendMessageFastDeclines(t *testing.T) {
	t.Parallel()
	for _, in := range declinedPayloads {
		var m SendMessage
		if decodeSendMessageFast([]byte(in), &m) {
			t.Errorf("%q: taken as %+v, want declined", in, m)
		}
	}
}

// TestDecodeSendMessageFastMarshaled checks that the fast path takes what
// json.Marshal writes of a message with only the fields it decodes (the
// encoding NewSendMessageTask queues), and decodes it as decodeStrict does.
func TestDecodeSendMessageFastMarshaled(t *testing.T) {
	t.Parallel()
	for _, m := range marshaledMessages() {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var fast, strict SendMessage
		if !decodeSendMessageFast(b, &fast) {
			t.Errorf("%s: declined", b)
			continue
		}
		if err := decodeStrict(b, &strict); err != nil || !reflect.DeepEqual(fast, strict) || !reflect.DeepEqual(fast, m) {
			t.Errorf("%s: fast path %+v, decodeStrict %+v (%v), encoded %+v", b, fast, strict, err, m)
		}
	}
}

// marshaledMessages are messages with varied values of the fields the fast
// path decodes.
func marshaledMessages() []SendMessage {
	return []SendMessage{
		{ChatID: telego.ChatID{ID: 42}, Text: "hi"},
		{Version: 1, Bot: "default", ChatID: telego.ChatID{ID: -1001234567890}, Text: strings.Repeat("long text ", 400)},
		{Version: 1, Bot: "alerts-2", ChatID: telego.ChatID{Username: "@my_channel"}, MessageThreadID: 12,
			Text: "<b>bold</b> & <i>it</i>", ParseMode: ParseModeHTML, DisableNotification: true, ProtectContent: true,
			AllowPaidBroadcast: true},
		{ChatID: telego.ChatID{ID: 1}, Text: "*x* _y_", ParseMode: ParseModeMarkdownV2},
		{ChatID: telego.ChatID{ID: 1}, Text: "[a](b)", ParseMode: ParseModeMarkdown},
		{ChatID: telego.ChatID{ID: 1}, Text: "quotes \" and \\ and / and \t\n\r\b\f and \x00\x1f\x7f"},
		{ChatID: telego.ChatID{ID: 1}, Text: "unicode: é ü 中文 😀 \u2028 \u2029 \ufeff \uFFFD"},
		{ChatID: telego.ChatID{ID: 1<<63 - 1}, Text: "max"},
		{ChatID: telego.ChatID{ID: -1 << 63}, Text: "min"},
		{ChatID: telego.ChatID{Username: "123"}, Text: "digits as a username"},
		{Version: -3, MessageThreadID: -1, Text: " "},
	}
}

// FuzzSendMessageDecode checks the fast path against decodeStrict: whatever
// the fast path decodes, decodeStrict decodes too, to the same message. When
// the fast path declines, the payload goes to decodeStrict, so nothing more
// is asserted. Run it with
//
//	go test -run '^$' -fuzz FuzzSendMessageDecode -fuzztime 2m ./tasks/
func FuzzSendMessageDecode(f *testing.F) {
	for _, m := range marshaledMessages() {
		b, err := json.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range declinedPayloads {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		commonFastPayload,
		`{"chat_id":42,"text":"hello"}`,
		` { "chat_id" : "@chan" , "text" : "x" } `,
		`{"text":"\ud83d\ude00\ud800\udc00\udbff\udfff\ud800\u0041\uDFFF"}`,
		`{"chat_id":1,"text":"x","entities":[{"type":"bold","offset":0,"length":1}]}`,
		`{"chat_id":1,"text":"x","reply_parameters":{"message_id":1,"chat_id":"@c"}}`,
		`{"chat_id":1,"text":"x","reply_markup":{"inline_keyboard":[[{"text":"a","url":"https://e.com"}]]}}`,
		`{"chat_id":1,"text":"x","link_preview_options":{"is_disabled":true}}`,
		`{"chat_id":1,"text":"x","ChAt_Id":2}`,
		`{"chat_id":1,"text":"x","\u0063hat_id":2}`,
		`{"v":2,"chat_id":1,"text":"x"}`,
		`{"v":-1,"message_thread_id":-5,"chat_id":-0,"text":""}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast SendMessage
		if !decodeSendMessageFast(b, &fast) {
			return
		}
		var strict SendMessage
		if err := decodeStrict(b, &strict); err != nil {
			t.Fatalf("%q: the fast path decoded %+v, decodeStrict refused it: %v", b, fast, err)
		}
		if !reflect.DeepEqual(fast, strict) {
			t.Fatalf("%q:\nfast path    %+v\ndecodeStrict %+v", b, fast, strict)
		}
	})
}
