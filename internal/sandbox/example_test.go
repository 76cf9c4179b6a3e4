package sandbox_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/mymmrac/telego"
	"github.com/mymmrac/telego/telegoapi"
	tu "github.com/mymmrac/telego/telegoutil"

	"github.com/telequeue/telequeue/internal/sandbox"
)

func Example() {
	sb, err := sandbox.New(sandbox.Config{Limits: sandbox.Limits{Chat: 1}})
	if err != nil {
		panic(err)
	}
	url, err := sb.Start("127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer sb.Close()

	bot, err := telego.NewBot("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawX",
		telego.WithAPIServer(url), telego.WithDiscardLogger())
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	msg, err := bot.SendMessage(ctx, tu.Message(tu.ID(42), "hello"))
	fmt.Println(msg.MessageID, msg.Chat.Type, err)

	_, err = bot.SendMessage(ctx, tu.Message(tu.ID(42), "too soon"))
	var apiErr *telegoapi.Error
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.ErrorCode, apiErr.Description)
	}

	sb.AddRule(sandbox.Rule{Kind: sandbox.KindBlocked, Chat: "7", Times: 1})
	_, err = bot.SendMessage(ctx, tu.Message(tu.ID(7), "hi"))
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.ErrorCode, apiErr.Description)
	}

	st := sb.Stats()
	fmt.Println(sb.Count(), st.Violations, st.Rejected429[sandbox.LimitChat], st.Faults[sandbox.KindBlocked])
	// Output:
	// 1 private <nil>
	// 429 Too Many Requests: retry after 1
	// 403 Forbidden: bot was blocked by the user
	// 1 1 1 1
}
