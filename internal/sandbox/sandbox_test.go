package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mymmrac/telego"
	tu "github.com/mymmrac/telego/telegoutil"
)

func TestSendMessageTelego(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	b := newBot(t, s, token1)

	kb := tu.InlineKeyboard(tu.InlineKeyboardRow(tu.InlineKeyboardButton("ok").WithCallbackData("ok")))
	tests := []struct {
		name      string
		params    *telego.SendMessageParams
		wantID    int
		wantChat  telego.Chat
		wantText  string
		wantKB    bool
		wantEntLn int
	}{
		{"private", tu.Message(tu.ID(42), "hello"), 1, telego.Chat{ID: 42, Type: "private"}, "hello", false, 0},
		{"private again", tu.Message(tu.ID(42), "again"), 2, telego.Chat{ID: 42, Type: "private"}, "again", false, 0},
		{"group", tu.Message(tu.ID(-123), "hi group"), 1, telego.Chat{ID: -123, Type: "group"}, "hi group", false, 0},
		{"supergroup", tu.Message(tu.ID(-1001234567890), "hi"), 1, telego.Chat{ID: -1001234567890, Type: "supergroup"}, "hi", false, 0},
		{"channel", tu.Message(tu.Username("@news"), "hi"), 1, telego.Chat{Type: "channel", Username: "news"}, "hi", false, 0},
		{"html stripped in reply", tu.Message(tu.ID(7), "<b>bold</b> &amp; more").WithParseMode("HTML"), 1,
			telego.Chat{ID: 7, Type: "private"}, "bold & more", false, 0},
		{"keyboard and entities", tu.Message(tu.ID(8), "text").WithReplyMarkup(kb).
			WithEntities(telego.MessageEntity{Type: "bold", Offset: 0, Length: 4}), 1,
			telego.Chat{ID: 8, Type: "private"}, "text", true, 1},
	}
	for _, tt := range tests { // sequential: message ids depend on order
		t.Run(tt.name, func(t *testing.T) {
			msg, err := b.SendMessage(ctx(t), tt.params)
			if err != nil {
				t.Fatalf("SendMessage: %v", err)
			}
			if msg.MessageID != tt.wantID {
				t.Errorf("MessageID = %d, want %d", msg.MessageID, tt.wantID)
			}
			if msg.Chat.Type != tt.wantChat.Type || (tt.wantChat.ID != 0 && msg.Chat.ID != tt.wantChat.ID) ||
				msg.Chat.Username != tt.wantChat.Username {
				t.Errorf("Chat = %+v, want %+v", msg.Chat, tt.wantChat)
			}
			if msg.Text != tt.wantText {
				t.Errorf("Text = %q, want %q", msg.Text, tt.wantText)
			}
			if msg.From == nil || msg.From.ID != bot1 || !msg.From.IsBot || msg.From.Username != "sandbox_bot" {
				t.Errorf("From = %+v", msg.From)
			}
			if msg.Date == 0 {
				t.Error("Date is 0")
			}
			if got := msg.ReplyMarkup != nil && len(msg.ReplyMarkup.InlineKeyboard) == 1; got != tt.wantKB {
				t.Errorf("ReplyMarkup = %+v, want keyboard %v", msg.ReplyMarkup, tt.wantKB)
			}
			if len(msg.Entities) != tt.wantEntLn {
				t.Errorf("Entities = %+v", msg.Entities)
			}
		})
	}

	msgs := s.Messages()
	if len(msgs) != len(tests) || s.Count() != len(tests) {
		t.Fatalf("recorded %d (Count %d), want %d", len(msgs), s.Count(), len(tests))
	}
	first := msgs[0]
	if first.Seq != 1 || first.BotID != bot1 || first.Method != "sendMessage" || first.ChatID != "42" ||
		first.MessageID != 1 || first.Text != "hello" || first.At.IsZero() {
		t.Errorf("first = %+v", first)
	}
	if first.Params["chat_id"] != json.Number("42") || first.Params["text"] != "hello" {
		t.Errorf("first.Params = %v", first.Params)
	}
	if got := msgs[4].ChatID; got != "@news" {
		t.Errorf("channel ChatID = %q", got)
	}
	if got := msgs[5]; got.Text != "<b>bold</b> &amp; more" || got.ParseMode != "HTML" {
		t.Errorf("html message recorded as %+v", got)
	}
	if _, ok := msgs[6].Params["reply_markup"].(map[string]any); !ok {
		t.Errorf("reply_markup param = %#v", msgs[6].Params["reply_markup"])
	}
	for _, m := range msgs {
		if strings.Contains(m.Text+m.ChatID, "AAHdq") {
			t.Error("token leaked into a record")
		}
	}
	checkConsistent(t, s.Stats())
}

func TestGetMeAndTestServerPath(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	for _, testPath := range []bool{false, true} {
		var opts []telego.BotOption
		if testPath {
			opts = append(opts, telego.WithTestServerPath())
		}
		b := newBot(t, s, token2, opts...)
		me, err := b.GetMe(ctx(t))
		if err != nil {
			t.Fatalf("GetMe(test path %v): %v", testPath, err)
		}
		if me.ID != bot2 || !me.IsBot || me.FirstName != "Sandbox Bot" || me.Username != "sandbox_bot" {
			t.Errorf("GetMe = %+v", me)
		}
		if _, err := send(ctx(t), b, tu.ID(1), "x"); err != nil {
			t.Errorf("SendMessage(test path %v): %v", testPath, err)
		}
	}
	if st := s.Stats(); st.Delivered != 2 || st.OtherOK != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	b := newBot(t, s, token1)
	emoji := "😀" // two UTF-16 units
	tests := []struct {
		name     string
		params   *telego.SendMessageParams
		wantDesc string // "" = success
	}{
		{"missing chat_id", &telego.SendMessageParams{Text: "x"}, "Bad Request: chat_id is empty"},
		{"empty text", tu.Message(tu.ID(1), ""), "Bad Request: message text is empty"},
		{"blank text", tu.Message(tu.ID(1), " \n "), "Bad Request: message text is empty"},
		{"html tags only", tu.Message(tu.ID(1), "<b></b>").WithParseMode("HTML"), "Bad Request: message text is empty"},
		{"4096 plain", tu.Message(tu.ID(1), strings.Repeat("a", 4096)), ""},
		{"4097 plain", tu.Message(tu.ID(1), strings.Repeat("a", 4097)), "Bad Request: message is too long"},
		{"2048 emoji", tu.Message(tu.ID(1), strings.Repeat(emoji, 2048)), ""},
		{"2049 emoji", tu.Message(tu.ID(1), strings.Repeat(emoji, 2049)), "Bad Request: message is too long"},
		{"html counted after parsing", tu.Message(tu.ID(1), "<b>"+strings.Repeat("a", 4096)+"</b>").WithParseMode("HTML"), ""},
		{"html entity counts once", tu.Message(tu.ID(1), strings.Repeat("&lt;", 4096)).WithParseMode("HTML"), ""},
		{"html too long", tu.Message(tu.ID(1), "<i>"+strings.Repeat("a", 4097)+"</i>").WithParseMode("HTML"), "Bad Request: message is too long"},
		{"markdown counted raw", tu.Message(tu.ID(1), "*"+strings.Repeat("a", 4096)+"*").WithParseMode("MarkdownV2"), "Bad Request: message is too long"},
		{"unknown parse_mode", tu.Message(tu.ID(1), "x").WithParseMode("BBCode"), "Bad Request: unsupported parse_mode"},
		{"parse_mode any case", tu.Message(tu.ID(1), "x").WithParseMode("markdownv2"), ""},
		{"bad username", tu.Message(tu.Username("@"), "x"), "Bad Request: chat not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := b.SendMessage(ctx(t), tt.params)
			if tt.wantDesc == "" {
				if err != nil {
					t.Fatalf("SendMessage: %v", err)
				}
				return
			}
			e := apiError(t, err)
			if e.ErrorCode != 400 || e.Description != tt.wantDesc {
				t.Errorf("got %d %q, want 400 %q", e.ErrorCode, e.Description, tt.wantDesc)
			}
		})
	}
}

// rawCall makes a plain HTTP call and returns status and body.
func rawCall(t *testing.T, method, u, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestRoutesAndTokens(t *testing.T) {
	t.Parallel()
	s := start(t, Config{Tokens: []string{token1}})
	u := s.URL()
	const notFound = `{"ok":false,"error_code":404,"description":"Not Found"}`
	const unauthorized = `{"ok":false,"error_code":401,"description":"Unauthorized"}`
	tests := []struct {
		name, method, path, ct, body string
		wantCode                     int
		wantBody                     string // exact, or a prefix ending in '*'
	}{
		{"unknown method", "POST", "/bot" + token1 + "/getChat", "application/json", `{"chat_id":1}`, 404, notFound},
		{"unknown path", "GET", "/", "", "", 404, notFound},
		{"malformed token", "GET", "/botabc/getMe", "", "", 404, notFound},
		{"no method", "GET", "/bot" + token1 + "/", "", "", 404, notFound},
		{"other token", "POST", "/bot" + token2 + "/sendMessage", "application/json", `{"chat_id":1,"text":"x"}`, 401, unauthorized},
		{"other token unknown method", "GET", "/bot" + token2 + "/getChat", "", "", 401, unauthorized},
		{"getMe GET", "GET", "/bot" + token1 + "/getMe", "", "", 200, `{"ok":true,"result":{"id":123456789,"is_bot":true,*`},
		{"method case-insensitive", "GET", "/bot" + token1 + "/getme", "", "", 200, `{"ok":true,*`},
		{"GET query string", "GET", "/bot" + token1 + "/sendMessage?chat_id=5&text=q", "", "", 200, `{"ok":true,"result":{"message_id":1,*`},
		{"urlencoded", "POST", "/bot" + token1 + "/sendMessage", "application/x-www-form-urlencoded",
			url.Values{"chat_id": {"6"}, "text": {"form"}, "reply_markup": {`{"inline_keyboard":[[{"text":"a","url":"https://e.x"}]]}`}}.Encode(),
			200, `{"ok":true,"result":{"message_id":1,*`},
		{"json in query and body", "POST", "/bot" + token1 + "/sendMessage?chat_id=9", "application/json; charset=utf-8", `{"text":"split"}`, 200, `{"ok":true,*`},
		{"bad json", "POST", "/bot" + token1 + "/sendMessage", "application/json", `{"chat_id":`, 400, `{"ok":false,"error_code":400,*`},
		{"bad reply_markup", "POST", "/bot" + token1 + "/sendMessage", "application/x-www-form-urlencoded", "chat_id=1&text=x&reply_markup=%7B", 400,
			`{"ok":false,"error_code":400,"description":"Bad Request: can't parse reply keyboard markup JSON object"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, body := rawCall(t, tt.method, u+tt.path, tt.ct, tt.body)
			body = strings.TrimSpace(body)
			if code != tt.wantCode {
				t.Errorf("status %d, want %d (body %s)", code, tt.wantCode, body)
			}
			if p, ok := strings.CutSuffix(tt.wantBody, "*"); ok {
				if !strings.HasPrefix(body, p) {
					t.Errorf("body %s, want prefix %s", body, p)
				}
			} else if body != tt.wantBody {
				t.Errorf("body %s, want %s", body, tt.wantBody)
			}
		})
	}
}

func TestUnknownMethodTelego(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	b := newBot(t, s, token1)
	_, err := b.GetChat(ctx(t), &telego.GetChatParams{ChatID: tu.ID(1)})
	if e := apiError(t, err); e.ErrorCode != 404 || e.Description != "Not Found" {
		t.Errorf("got %v", e)
	}
	b2 := newBot(t, start(t, Config{Tokens: []string{token2}}), token1)
	_, err = send(ctx(t), b2, tu.ID(1), "x")
	if e := apiError(t, err); e.ErrorCode != 401 || e.Description != "Unauthorized" {
		t.Errorf("got %v", e)
	}
}

func TestFormBodiesTelego(t *testing.T) {
	t.Parallel()
	for _, urlencoded := range []bool{false, true} {
		name := "multipart"
		if urlencoded {
			name = "urlencoded"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := start(t, Config{})
			b := newBot(t, s, token1, telego.WithRequestConstructor(formConstructor{urlencoded: urlencoded}))
			kb := tu.InlineKeyboard(tu.InlineKeyboardRow(tu.InlineKeyboardButton("go").WithURL("https://example.com")))
			msg, err := b.SendMessage(ctx(t), tu.Message(tu.ID(-100777), "<b>form</b>").WithParseMode("HTML").
				WithReplyMarkup(kb).WithAllowPaidBroadcast())
			if err != nil {
				t.Fatalf("SendMessage: %v", err)
			}
			if msg.MessageID != 1 || msg.Chat.ID != -100777 || msg.Text != "form" || msg.ReplyMarkup == nil {
				t.Errorf("reply = %+v", msg)
			}
			got := s.Messages()
			if len(got) != 1 {
				t.Fatalf("recorded %d", len(got))
			}
			m := got[0]
			if m.ChatID != "-100777" || m.Text != "<b>form</b>" || !m.Paid || m.ParseMode != "HTML" {
				t.Errorf("recorded %+v", m)
			}
			if m.Params["chat_id"] != "-100777" {
				t.Errorf("chat_id param %#v", m.Params["chat_id"])
			}
			if mk, ok := m.Params["reply_markup"].(map[string]any); !ok || mk["inline_keyboard"] == nil {
				t.Errorf("reply_markup param %#v", m.Params["reply_markup"])
			}
		})
	}
}

func TestWaitForAndReset(t *testing.T) {
	t.Parallel()
	s := start(t, Config{NoRecordParams: true})
	b := newBot(t, s, token1)

	done := make(chan error, 1)
	go func() { done <- s.WaitFor(ctx(t), 3) }()
	for i := range 3 {
		if _, err := send(ctx(t), b, tu.ID(int64(i+1)), "w"); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitFor: %v", err)
	}
	if m := s.Messages(); m[0].Params != nil {
		t.Errorf("NoRecordParams recorded %v", m[0].Params)
	}

	short, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := s.WaitFor(short, 4); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor(4) = %v, want deadline exceeded", err)
	}

	s.Reset()
	if s.Count() != 0 || s.Stats().Delivered != 0 {
		t.Fatalf("after Reset: Count %d, stats %+v", s.Count(), s.Stats())
	}
	msg, err := send(ctx(t), b, tu.ID(1), "again")
	if err != nil || msg.MessageID != 1 || s.Messages()[0].Seq != 1 {
		t.Errorf("after Reset: %v %+v", err, msg)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"full", Config{Latency: time.Millisecond, Tokens: []string{token1}, Limits: Limits{Global: 30, Chat: 0.5, Group: 20, Paid: 1000}}, true},
		{"negative latency", Config{Latency: -1}, false},
		{"negative jitter", Config{LatencyJitter: -1}, false},
		{"bad token", Config{Tokens: []string{"nope"}}, false},
		{"negative rate", Config{Limits: Limits{Chat: -1}}, false},
		{"NaN rate", Config{Limits: Limits{Global: math.NaN()}}, false},
		{"infinite rate", Config{Limits: Limits{Paid: math.Inf(1)}}, false},
		{"huge and tiny rates", Config{Limits: Limits{Global: 1e300, Group: 1e-300}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Errorf("New = %v, want ok %v", err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), "nope") {
				t.Errorf("error echoes the token: %v", err)
			}
		})
	}
}
