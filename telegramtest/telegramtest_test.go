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
