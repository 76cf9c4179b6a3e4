package client_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/tasks"
)

func ExampleClient_SendReply() {
	ctx := context.Background()
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: redisAddr}, Bots: []string{"default"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// A long HTML answer, cut into parts of at most 4096 characters at
	// paragraph boundaries; bold text cut in two is closed and reopened.
	answer := strings.Repeat("<b>Section</b>\n"+strings.Repeat("Lorem ipsum dolor sit amet. ", 60)+"\n\n", 8)
	parts, err := tasks.SplitMessage(&tasks.SendMessage{Text: answer, ParseMode: tasks.ParseModeHTML}, 0)
	if err != nil {
		log.Fatal(err)
	}
	// One task: the parts arrive in order, and a retry resumes after the
	// last part Telegram confirmed.
	r, err := c.SendReply(ctx, telego.ChatID{ID: 42}, parts, client.Critical(), client.Ordered())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d parts queued as one task on %s\n", len(parts), r.Queue)
	// Output: 4 parts queued as one task on critical
}

func ExampleOrdered() {
	ctx := context.Background()
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: redisAddr}, Bots: []string{"default"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Step 2 is never delivered before step 1, however many workers run
	// and whatever 429s or 5xx step 1 meets.
	for _, step := range []string{"Step 1: open the app", "Step 2: tap Settings"} {
		if _, err := c.SendMessage(ctx, &tasks.SendMessage{ChatID: telego.ChatID{ID: 42}, Text: step}, client.Ordered()); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("queued in order")
	// Output: queued in order
}
