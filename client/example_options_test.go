package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/tasks"
)

func ExampleNewFromRedisClient() {
	ctx := context.Background()
	// The application's own go-redis client: the telequeue client shares
	// its pool, and the application closes it.
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()

	c, err := client.NewFromRedisClient(rdb, client.Config{Bots: []string{"default"}})
	if err != nil {
		log.Fatal(err)
	}
	r, err := c.SendMessage(ctx, &tasks.SendMessage{ChatID: telego.ChatID{ID: 42}, Text: "hello"})
	if err != nil {
		log.Fatal(err)
	}
	_ = c.Close() // leaves rdb open
	fmt.Println(r.Queue, rdb.Ping(ctx).Val())
	// Output: default PONG
}

func ExamplePriority() {
	ctx := context.Background()
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: redisAddr}, Bots: []string{"default"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	m := &tasks.SendMessage{ChatID: telego.ChatID{ID: 42}, Text: "Weekly digest"}
	// A Priority is an Option.
	r, err := c.SendMessage(ctx, m, client.PriorityBulk)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Queue)
	// Output: bulk
}

func ExampleOptionError() {
	ctx := context.Background()
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: redisAddr}, Bots: []string{"default"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	m := &tasks.SendMessage{ChatID: telego.ChatID{ID: 42}, Text: "See you in a while"}
	_, err = c.SendMessage(ctx, m, client.SendAt(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)))
	var oe *client.OptionError
	if errors.As(err, &oe) {
		fmt.Println(oe.Option, errors.Is(err, client.ErrInvalidOption))
	}
	// A broadcast-only option on a single message.
	_, err = c.SendMessage(ctx, m, client.BroadcastParallelism(4))
	fmt.Println(err)
	// Output:
	// SendAt true
	// client: option BroadcastParallelism: applies to broadcasts only
}

func ExampleClient_SendBatch() {
	ctx := context.Background()
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: redisAddr}, Bots: []string{"default"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	msgs := []*tasks.SendMessage{
		{ChatID: telego.ChatID{ID: 1}, Text: "Your invoice is ready"},
		{ChatID: telego.ChatID{ID: 2}, Text: ""}, // invalid: the others still go
		{ChatID: telego.ChatID{ID: 3}, Text: "Your invoice is ready"},
	}
	receipts, errs := c.SendBatch(ctx, msgs, client.Bulk())
	for i := range msgs {
		if errs[i] != nil {
			fmt.Println(i, "refused:", errs[i])
			continue
		}
		fmt.Println(i, "queued on", receipts[i].Queue)
	}
	// Output:
	// 0 queued on bulk
	// 1 refused: text: text is empty
	// 2 queued on bulk
}

func ExampleClient_Status_reply() {
	ctx := context.Background()
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: redisAddr}, Bots: []string{"default"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	r, err := c.SendReply(ctx, telego.ChatID{ID: 42}, tasks.Texts("First,", "then."))
	if err != nil {
		log.Fatal(err)
	}
	st, err := c.Status(ctx, r.ID)
	if err != nil {
		log.Fatal(err)
	}
	// No worker runs in this example: the reply waits.
	fmt.Println(st.Type, st.State == client.StatePending, len(st.Reply.Parts))
	// Output: telegram:send_messages true 2
}
