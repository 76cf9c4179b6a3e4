package handlers

import (
	"net"
	"testing"
	"time"

	"github.com/mymmrac/telego"
	ta "github.com/mymmrac/telego/telegoapi"
	"github.com/valyala/fasthttp"
)

// sentMessageAnswer is a realistic Bot API answer to a sendMessage in a
// private chat: the whole Message, of which telequeue keeps four fields.
const sentMessageAnswer = `{"ok":true,"result":{"message_id":48213,"from":{"id":7123456789,"is_bot":true,` +
	`"first_name":"Telequeue Alerts","username":"telequeue_alerts_bot"},"chat":{"id":123456789,"first_name":"Anna",` +
	`"last_name":"Schmidt","username":"anna_s","type":"private"},"date":1764856800,` +
	`"text":"Deploy finished: api v2.14.3 is live in eu-west-1 (build 8812, 4m12s).",` +
	`"entities":[{"offset":0,"length":15,"type":"bold"}],"link_preview_options":{"is_disabled":true}}}`

// BenchmarkBotClientSendMessage measures one sendMessage of a sender of
// NewBots, against a fake Bot API on 127.0.0.1 that reads the request and
// answers with sentMessageAnswer.
func BenchmarkBotClientSendMessage(b *testing.B) {
	bot := fakeAPIBot(b, fasthttp.StatusOK, sentMessageAnswer)
	params := &telego.SendMessageParams{
		ChatID:              telego.ChatID{ID: 123456789},
		Text:                "Deploy finished: <b>api v2.14.3</b> is live in eu-west-1 (build 8812, 4m12s).",
		ParseMode:           telego.ModeHTML,
		DisableNotification: true,
	}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		m, err := bot.SendMessage(ctx, params)
		if err != nil {
			b.Fatal(err)
		}
		if m.MessageID != 48213 || m.Chat.ID != 123456789 || m.Chat.Type != "private" || m.Date != 1764856800 {
			b.Fatalf("message %+v", m)
		}
	}
}

// fakeAPIBot returns a sender of NewBots whose Bot API, on 127.0.0.1 until
// tb ends, answers every request that has a body with status and answer.
func fakeAPIBot(tb testing.TB, status int, answer string) Sender {
	tb.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if len(ctx.PostBody()) == 0 {
			ctx.Error("no body", fasthttp.StatusBadRequest)
			return
		}
		ctx.SetStatusCode(status)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(answer)
	}}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})

	const token = "123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQr"
	bots, err := NewBots(BotsConfig{Tokens: map[string]string{"default": token}, APIURL: "http://" + ln.Addr().String(), Timeout: 5 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	return bots["default"]
}

// BenchmarkSendMessageRequest compares the encodings of the benchmark's
// sendMessage: json.Marshal (jsonRequest) and sendMessageRequest.
func BenchmarkSendMessageRequest(b *testing.B) {
	params := &telego.SendMessageParams{
		ChatID:              telego.ChatID{ID: 123456789},
		Text:                "Deploy finished: <b>api v2.14.3</b> is live in eu-west-1 (build 8812, 4m12s).",
		ParseMode:           telego.ModeHTML,
		DisableNotification: true,
	}
	for _, enc := range []struct {
		name   string
		encode func(*telego.SendMessageParams) (*ta.RequestData, error)
	}{
		{"json.Marshal", func(p *telego.SendMessageParams) (*ta.RequestData, error) { return jsonRequest(p) }},
		{"sendMessageRequest", sendMessageRequest},
	} {
		b.Run(enc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := enc.encode(params); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadSentMessage compares the readings of sentMessageAnswer: the
// general path (answerMessage) and readSentMessage.
func BenchmarkReadSentMessage(b *testing.B) {
	body := []byte(sentMessageAnswer)
	for _, read := range []struct {
		name string
		read func(int, []byte) (*telego.Message, error)
	}{
		{"general", answerMessage},
		{"readSentMessage", readSentMessage},
	} {
		b.Run(read.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := read.read(200, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
