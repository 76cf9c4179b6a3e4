package telegramtest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// An app sends a photo (an upload), then edits its caption; the test checks
// the message as the user now sees it, and that the file_id the server
// issued can be sent again.
func ExampleServer_MessageState() {
	srv := telegramtest.NewServer()
	defer srv.Close()
	bot, err := telego.NewBot(telegramtest.Token, telego.WithAPIServer(srv.URL), telego.WithDiscardLogger())
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	photo := tu.File(tu.NameReader(strings.NewReader("fake jpeg bytes"), "chart.jpg"))
	msg, err := bot.SendPhoto(ctx, tu.Photo(tu.ID(42), photo).WithCaption("Sales: loading…"))
	if err != nil {
		panic(err)
	}
	if _, err := bot.EditMessageCaption(ctx, &telego.EditMessageCaptionParams{
		ChatID: tu.ID(42), MessageID: msg.MessageID, Caption: "Sales: +12%",
	}); err != nil {
		panic(err)
	}
	// Editing to the same caption is refused, as Telegram does.
	_, err = bot.EditMessageCaption(ctx, &telego.EditMessageCaptionParams{
		ChatID: tu.ID(42), MessageID: msg.MessageID, Caption: "Sales: +12%",
	})
	var apiErr *telegoapi.Error
	fmt.Println(errors.As(err, &apiErr) && strings.HasPrefix(apiErr.Description, "Bad Request: message is not modified"))

	st, _ := srv.MessageState(42, int64(msg.MessageID))
	fmt.Println(st.Kind, st.Caption, st.Edits, st.FileID == msg.Photo[0].FileID)
	for _, c := range srv.Calls() {
		fmt.Println(c.Method, c.MessageID, c.Caption, len(c.Files))
	}
	sent := srv.Messages()[0].Files[0]
	fmt.Println(sent.Kind, sent.Uploaded, sent.Size, "uploads:", srv.Stats().Uploads)

	// The file_id is reusable: no second upload.
	if _, err := bot.SendPhoto(ctx, tu.Photo(tu.ID(7), tu.FileFromID(sent.FileID))); err != nil {
		panic(err)
	}
	fmt.Println("uploads:", srv.Stats().Uploads)
	// Output:
	// true
	// photo Sales: +12% 1 true
	// sendPhoto 1 Sales: loading… 1
	// editMessageCaption 1 Sales: +12% 0
	// photo true 15 uploads: 1
	// uploads: 1
}

// A bot that deletes its prompt once the user answered: the test asserts
// the deletion from the message's state and from the calls.
func ExampleServer_Calls() {
	srv := telegramtest.NewServer()
	defer srv.Close()
	bot, err := telego.NewBot(telegramtest.Token, telego.WithAPIServer(srv.URL), telego.WithDiscardLogger())
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	prompt, err := bot.SendMessage(ctx, tu.Message(tu.ID(42), "Pick a size").WithReplyMarkup(
		tu.InlineKeyboard(tu.InlineKeyboardRow(tu.InlineKeyboardButton("M").WithCallbackData("size:m")))))
	if err != nil {
		panic(err)
	}
	// … the user pressed "M"; the bot answers the callback and cleans up.
	if err := bot.AnswerCallbackQuery(ctx, tu.CallbackQuery("cb-1").WithText("Size M saved")); err != nil {
		panic(err)
	}
	if err := bot.DeleteMessage(ctx, tu.Delete(tu.ID(42), prompt.MessageID)); err != nil {
		panic(err)
	}
	// Deleting it again is refused, as Telegram does.
	err = bot.DeleteMessage(ctx, tu.Delete(tu.ID(42), prompt.MessageID))
	fmt.Println(err != nil)

	calls, err := srv.WaitCalls(3, 5*time.Second)
	if err != nil {
		panic(err)
	}
	for _, c := range calls {
		fmt.Printf("%s chat=%q message=%d text=%q\n", c.Method, c.Chat, c.MessageID, c.Text)
	}
	st, _ := srv.MessageState(42, int64(prompt.MessageID))
	fmt.Println("deleted:", st.Deleted, "keyboard:", st.HasKeyboard)
	// Output:
	// true
	// sendMessage chat="42" message=1 text="Pick a size"
	// answerCallbackQuery chat="" message=0 text="Size M saved"
	// deleteMessage chat="42" message=1 text=""
	// deleted: true keyboard: true
}
