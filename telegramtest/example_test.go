package telegramtest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mymmrac/telego"
	"github.com/mymmrac/telego/telegoapi"
	tu "github.com/mymmrac/telego/telegoutil"

	"github.com/telequeue/telequeue/telegramtest"
)

// An app's test points its bot at the server and asserts what the bot sent,
// chat by chat and in order.
func Example() {
	srv := telegramtest.NewServer()
	defer srv.Close()

	// The app's bot, pointed at the fake server.
	bot, err := telego.NewBot(telegramtest.Token, telego.WithAPIServer(srv.URL), telego.WithDiscardLogger())
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for _, m := range []*telego.SendMessageParams{
		tu.Message(tu.ID(42), "Your order shipped"),
		tu.Message(tu.ID(7), "Welcome!"),
		tu.Message(tu.ID(42), "It arrives tomorrow"),
	} {
		if _, err := bot.SendMessage(ctx, m); err != nil {
			panic(err)
		}
	}

	if _, err := srv.WaitMessages(3, 5*time.Second); err != nil {
		panic(err)
	}
	for _, m := range srv.MessagesTo(42) {
		fmt.Println(m.MessageID, m.Text)
	}
	fmt.Println(len(srv.MessagesTo(7)), "message to chat 7")
	// Output:
	// 1 Your order shipped
	// 2 It arrives tomorrow
	// 1 message to chat 7
}

// Inject the failures Telegram answers with, and check that the bot
// handles them: here a 429 once, then a user who blocked the bot.
func ExampleServer_Fail() {
	srv := telegramtest.NewServer()
	defer srv.Close()
	bot, err := telego.NewBot(telegramtest.Token, telego.WithAPIServer(srv.URL), telego.WithDiscardLogger())
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	if err := srv.Fail(42, telegramtest.Fault{Code: 429, RetryAfter: 3, Times: 1}); err != nil {
		panic(err)
	}
	if err := srv.Fail(7, telegramtest.Fault{Code: 403}); err != nil {
		panic(err)
	}
	for _, chat := range []int64{42, 7} {
		_, err := bot.SendMessage(ctx, tu.Message(tu.ID(chat), "hello"))
		var apiErr *telegoapi.Error
		if errors.As(err, &apiErr) {
			retryAfter := 0
			if apiErr.Parameters != nil {
				retryAfter = apiErr.Parameters.RetryAfter
			}
			fmt.Printf("chat %d: %d %s (retry after %ds)\n", chat, apiErr.ErrorCode, apiErr.Description, retryAfter)
		}
	}
	st := srv.Stats()
	fmt.Println("delivered:", st.Delivered, "429s:", st.TooManyRequests)
	// Output:
	// chat 42: 429 Too Many Requests: retry after 3 (retry after 3s)
	// chat 7: 403 Forbidden: bot was blocked by the user (retry after 0s)
	// delivered: 0 429s: 1
}

// WithTelegramLimits enforces Telegram's published limits: a second message
// to one chat within a second is answered 429, and a bot that sends again
// before retry_after runs out shows in EarlyRetries.
func ExampleWithTelegramLimits() {
	srv := telegramtest.NewServer(telegramtest.WithTelegramLimits())
	defer srv.Close()
	bot, err := telego.NewBot(telegramtest.Token, telego.WithAPIServer(srv.URL), telego.WithDiscardLogger())
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for range 3 {
		_, err := bot.SendMessage(ctx, tu.Message(tu.ID(42), "tick"))
		fmt.Println(err == nil)
	}
	st := srv.Stats()
	fmt.Println("delivered:", st.Delivered, "429s:", st.TooManyRequests, "early retries:", st.EarlyRetries)
	// Output:
	// true
	// false
	// false
	// delivered: 1 429s: 2 early retries: 1
}
