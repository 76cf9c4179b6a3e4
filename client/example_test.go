package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/tasks"
)

func ExampleClient_SendMessage() {
	ctx := context.Background()
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: redisAddr}, Bots: []string{"default"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	r, err := c.SendMessage(ctx, &tasks.SendMessage{
		ChatID:    telego.ChatID{ID: 42},
		Text:      "Your login code is <b>1234</b>",
		ParseMode: tasks.ParseModeHTML,
	}, client.Critical())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("queued on %s with a %d-character id\n", r.Queue, len(r.ID))
	// Output: queued on critical with a 26-character id
}

func ExampleIdempotencyKey() {
	ctx := context.Background()
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: redisAddr}, Bots: []string{"default"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	m := &tasks.SendMessage{ChatID: telego.ChatID{ID: 42}, Text: "Order 1001 has shipped"}
	first, err := c.SendMessage(ctx, m, client.IdempotencyKey("order-1001-shipped"))
	if err != nil {
		log.Fatal(err)
	}
	// A retry after a timeout, a second click, a redelivered webhook...
	_, err = c.SendMessage(ctx, m, client.IdempotencyKey("order-1001-shipped"))
	fmt.Println(errors.Is(err, client.ErrDuplicate))
	var dup *client.DuplicateError
	if errors.As(err, &dup) {
		fmt.Println("first task:", dup.ID == first.ID)
	}
	// Output:
	// true
	// first task: true
}

func ExampleClient_Status() {
	ctx := context.Background()
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: redisAddr}, Bots: []string{"default"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	r, err := c.SendMessage(ctx, &tasks.SendMessage{ChatID: telego.ChatID{Username: "@telequeue_news"}, Text: "v1.0 is out"}, client.Bulk())
	if err != nil {
		log.Fatal(err)
	}
	st, err := c.Status(ctx, r.ID)
	if err != nil {
		log.Fatal(err)
	}
	// No worker runs in this example: the message waits.
	fmt.Println(st.State, st.Queue, st.Attempts, st.Message.Text, st.Result == nil)
	// Output: pending bulk 0 v1.0 is out true
}

func ExampleClient_SendMessage_validation() {
	ctx := context.Background()
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: redisAddr}, Bots: []string{"default"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, err = c.SendMessage(ctx, &tasks.SendMessage{ChatID: telego.ChatID{ID: 42}, Text: strings.Repeat("a", 5000)})
	fmt.Println(err)
	var verr *tasks.ValidationError
	fmt.Println(errors.As(err, &verr), verr.Field, errors.Is(err, tasks.ErrTextTooLong))
	// Output:
	// text: text is too long: 5000 characters, the limit is 4096
	// true text true
}
