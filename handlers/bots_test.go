package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mymmrac/telego"
	ta "github.com/mymmrac/telego/telegoapi"
)

// TestJSONRequestMatchesTelego checks that encoding/json produces the
// same request body as telego's default encoder for the parameters telequeue
// sends.
func TestJSONRequestMatchesTelego(t *testing.T) {
	off := true
	tests := []struct {
		name   string
		params any
	}{
		{"text only", &telego.SendMessageParams{ChatID: telego.ChatID{ID: 42}, Text: "hello <b>&</b> \u2028 😀"}},
		{"username chat", &telego.SendMessageParams{ChatID: telego.ChatID{Username: "@channel"}, Text: "x"}},
		{"everything", &telego.SendMessageParams{
			ChatID:              telego.ChatID{ID: -1001234567890},
			MessageThreadID:     7,
			Text:                "*bold* link",
			ParseMode:           telego.ModeMarkdownV2,
			Entities:            []telego.MessageEntity{{Type: "bold", Offset: 0, Length: 4}, {Type: "text_link", Offset: 5, Length: 4, URL: "https://example.org/?a=1&b=2"}},
			LinkPreviewOptions:  &telego.LinkPreviewOptions{IsDisabled: off},
			DisableNotification: true,
			ProtectContent:      true,
			AllowPaidBroadcast:  true,
			ReplyParameters:     &telego.ReplyParameters{MessageID: 3, AllowSendingWithoutReply: true},
			ReplyMarkup: &telego.InlineKeyboardMarkup{InlineKeyboard: [][]telego.InlineKeyboardButton{
				{{Text: "open", URL: "https://example.org"}, {Text: "cb", CallbackData: "id:1"}},
			}},
		}},
		{"reply keyboard", &telego.SendMessageParams{ChatID: telego.ChatID{ID: 1}, Text: "k", ReplyMarkup: &telego.ReplyKeyboardMarkup{
			Keyboard: [][]telego.KeyboardButton{{{Text: "a"}}}, ResizeKeyboard: true, OneTimeKeyboard: true,
		}}},
		{"remove keyboard", &telego.SendMessageParams{ChatID: telego.ChatID{ID: 1}, Text: "k", ReplyMarkup: &telego.ReplyKeyboardRemove{RemoveKeyboard: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := ta.DefaultConstructor{}.JSONRequest(tt.params)
			if err != nil {
				t.Fatal(err)
			}
			got, err := jsonRequest(tt.params)
			if err != nil {
				t.Fatal(err)
			}
			if got.ContentType != want.ContentType {
				t.Errorf("content type %q, want %q", got.ContentType, want.ContentType)
			}
			var g, w any
			if err := json.Unmarshal(got.BodyRaw, &g); err != nil {
				t.Fatalf("our body is not JSON: %v\n%s", err, got.BodyRaw)
			}
			if err := json.Unmarshal(want.BodyRaw, &w); err != nil {
				t.Fatal(err)
			}
			// telego tags ReplyParameters.ChatID `omitzero`, which go-json
			// ignores: it sends "chat_id":"" for a reply in the same chat.
			// encoding/json honours the tag and leaves the field out.
			if rp, ok := w.(map[string]any)["reply_parameters"].(map[string]any); ok && rp["chat_id"] == "" {
				delete(rp, "chat_id")
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("body differs from telego's\n got: %s\nwant: %s", got.BodyRaw, want.BodyRaw)
			}
		})
	}
}

func TestBotClientSendMessage(t *testing.T) {
	const token = "123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQr"
	tests := []struct {
		name      string
		status    int
		body      string
		wantMsg   *telego.Message
		wantAPI   int    // ta.Error code, 0 if none
		wantTrans string // TransportError kind, "" if none
	}{
		{"message", 200, `{"ok":true,"result":{"message_id":7,"date":1700000000,"chat":{"id":-100123,"type":"supergroup"},"text":"hi"}}`,
			&telego.Message{MessageID: 7, Date: 1700000000, Chat: telego.Chat{ID: -100123, Type: "supergroup"}}, 0, ""},
		{"not a message", 200, `{"ok":true,"result":true}`, nil, 0, "response"},
		{"refused", 400, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`, nil, 400, ""},
		{"flood", 429, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}`, nil, 429, ""},
		{"server error", 502, `<html>bad gateway</html>`, nil, 0, "server"},
		{"garbage", 200, `not json`, nil, 0, "response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotPath, gotBody string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				gotPath, gotBody = r.URL.Path, string(b)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			bots, err := NewBots(BotsConfig{Tokens: map[string]string{"default": token}, APIURL: srv.URL + "/", Timeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			msg, err := bots["default"].SendMessage(t.Context(), &telego.SendMessageParams{ChatID: telego.ChatID{ID: 42}, Text: "hi"})
			if gotPath != "/bot"+token+"/sendMessage" {
				t.Errorf("path %q", gotPath)
			}
			if gotBody != `{"chat_id":42,"text":"hi"}` {
				t.Errorf("body %s", gotBody)
			}
			if err != nil && strings.Contains(err.Error(), token) {
				t.Fatalf("error holds the token: %v", err)
			}
			var apiErr *ta.Error
			var te *TransportError
			switch {
			case tt.wantMsg != nil:
				if err != nil || !reflect.DeepEqual(msg, tt.wantMsg) {
					t.Fatalf("got %+v, %v; want %+v", msg, err, tt.wantMsg)
				}
			case tt.wantAPI != 0:
				if !errors.As(err, &apiErr) || apiErr.ErrorCode != tt.wantAPI {
					t.Fatalf("error %v, want API error %d", err, tt.wantAPI)
				}
				if tt.wantAPI == 429 && (apiErr.Parameters == nil || apiErr.Parameters.RetryAfter != 3) {
					t.Fatalf("retry_after lost: %+v", apiErr.Parameters)
				}
			default:
				if !errors.As(err, &te) || te.Kind != tt.wantTrans {
					t.Fatalf("error %v, want transport error %q", err, tt.wantTrans)
				}
			}
		})
	}
}

func TestNewBotsRefusesBadTokenWithoutQuotingIt(t *testing.T) {
	const bad = "not-a-token-secret-value"
	_, err := NewBots(BotsConfig{Tokens: map[string]string{"alerts": bad}})
	if err == nil || strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), `"alerts"`) {
		t.Fatalf("error %v", err)
	}
}
