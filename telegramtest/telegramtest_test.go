package telegramtest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mymmrac/telego"
	"github.com/mymmrac/telego/telegoapi"
	tu "github.com/mymmrac/telego/telegoutil"

	"github.com/telequeue/telequeue/telegramtest"
)

func newBot(t *testing.T, srv *telegramtest.Server) *telego.Bot {
	t.Helper()
	bot, err := telego.NewBot(telegramtest.Token, telego.WithAPIServer(srv.URL), telego.WithDiscardLogger())
	if err != nil {
		t.Fatal(err)
	}
	return bot
}

func TestFail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fault     telegramtest.Fault
		wantErr   error
		wantCode  int  // the API error code the bot sees; 0: not an API error
		delivered bool // the second send goes through
	}{
		{"429 once", telegramtest.Fault{Code: 429, Times: 1}, nil, 429, false}, // held for retry_after
		{"403 always", telegramtest.Fault{Code: 403}, nil, 403, false},
		{"500 once", telegramtest.Fault{Code: 500, Times: 1}, nil, 0, true},
		{"502 once", telegramtest.Fault{Code: 502, Times: 1}, nil, 0, true},
		{"unsupported code", telegramtest.Fault{Code: 418}, telegramtest.ErrFaultCode, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := telegramtest.NewServer()
			defer srv.Close()
			bot := newBot(t, srv)
			if err := srv.Fail(42, tt.fault); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Fail: %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			_, err := bot.SendMessage(context.Background(), tu.Message(tu.ID(42), "first"))
			var apiErr *telegoapi.Error
			switch {
			case err == nil:
				t.Fatal("first send delivered despite the fault")
			case tt.wantCode != 0 && (!errors.As(err, &apiErr) || apiErr.ErrorCode != tt.wantCode):
				t.Fatalf("first send: %v, want API error %d", err, tt.wantCode)
			}
			// Other chats are not affected.
			if _, err := bot.SendMessage(context.Background(), tu.Message(tu.ID(7), "other chat")); err != nil {
				t.Fatalf("other chat: %v", err)
			}
			_, err = bot.SendMessage(context.Background(), tu.Message(tu.ID(42), "second"))
			if (err == nil) != tt.delivered {
				t.Fatalf("second send: %v, want delivered %v", err, tt.delivered)
			}
			if got := len(srv.MessagesTo(42)); got != map[bool]int{true: 1}[tt.delivered] {
				t.Fatalf("%d messages to chat 42", got)
			}
		})
	}
}

func TestWaitMessagesTimesOut(t *testing.T) {
	t.Parallel()
	srv := telegramtest.NewServer()
	defer srv.Close()
	if _, err := newBot(t, srv).SendMessage(context.Background(), tu.Message(tu.ID(1), "only one")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	msgs, err := srv.WaitMessages(2, 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "1 of 2 messages") || len(msgs) != 1 {
		t.Fatalf("WaitMessages: %d messages, %v", len(msgs), err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("waited %v", d)
	}
}

func TestResetAndClearFaults(t *testing.T) {
	t.Parallel()
	srv := telegramtest.NewServer(telegramtest.Option{}, telegramtest.WithLatency(time.Millisecond))
	defer srv.Close()
	bot := newBot(t, srv)
	if err := srv.Fail(5, telegramtest.Fault{Code: 403}); err != nil {
		t.Fatal(err)
	}
	if _, err := bot.SendMessage(context.Background(), tu.Message(tu.ID(5), "x")); err == nil {
		t.Fatal("fault not applied")
	}
	srv.ClearFaults()
	if _, err := bot.SendMessage(context.Background(), tu.Message(tu.ID(5), "y")); err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.Requests != 2 || st.Delivered != 1 {
		t.Fatalf("stats %+v", st)
	}
	srv.Reset()
	if st := srv.Stats(); st.Requests != 0 || len(srv.Messages()) != 0 {
		t.Fatalf("after Reset: %+v, %d messages", st, len(srv.Messages()))
	}
}

// A fault may name one method; Messages lists sends only, Calls everything.
func TestFaultMethodAndCalls(t *testing.T) {
	t.Parallel()
	srv := telegramtest.NewServer()
	defer srv.Close()
	bot := newBot(t, srv)
	ctx := context.Background()
	if err := srv.Fail(42, telegramtest.Fault{Method: "editMessageText", Code: 403}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Fail(42, telegramtest.Fault{Method: "editMessageTxt", Code: 403}); err == nil || !strings.Contains(err.Error(), "unknown method") {
		t.Fatalf("Fail with a misspelt method: %v", err)
	}
	m, err := bot.SendMessage(ctx, tu.Message(tu.ID(42), "v1"))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	_, err = bot.EditMessageText(ctx, &telego.EditMessageTextParams{ChatID: tu.ID(42), MessageID: m.MessageID, Text: "v2"})
	var apiErr *telegoapi.Error
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 403 {
		t.Fatalf("edit: %v, want 403", err)
	}
	srv.ClearFaults()
	if _, err := bot.EditMessageText(ctx, &telego.EditMessageTextParams{ChatID: tu.ID(42), MessageID: m.MessageID, Text: "v2"}); err != nil {
		t.Fatalf("edit: %v", err)
	}
	if err := bot.SendChatAction(ctx, tu.ChatAction(tu.ID(42), telego.ChatActionTyping)); err != nil {
		t.Fatalf("chat action: %v", err)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].Method != "sendMessage" || msgs[0].Text != "v1" {
		t.Errorf("Messages = %+v", msgs)
	}
	calls := srv.Calls()
	if len(calls) != 3 || calls[1].Method != "editMessageText" || calls[1].Text != "v2" || calls[1].MessageID != 1 ||
		calls[2].Method != "sendChatAction" {
		t.Errorf("Calls = %+v", calls)
	}
	if st, ok := srv.MessageState(42, 1); !ok || st.Text != "v2" || st.Edits != 1 || st.Kind != "text" {
		t.Errorf("MessageState = %+v %v", st, ok)
	}
	if _, ok := srv.MessageState(42, 2); ok {
		t.Error("MessageState(42, 2) found")
	}
	if st := srv.Stats(); st.Delivered != 1 || st.Requests != 4 {
		t.Errorf("Stats = %+v", st)
	}
}
