package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/tasks"
)

func ExampleClient_Broadcast() {
	ctx := context.Background()
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: redisAddr}, Bots: []string{"default"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	users := []int64{1001, 1002, 1003, 1002} // 1002 twice: it gets the message once
	r, err := c.Broadcast(ctx, &tasks.SendMessage{
		Text:      "<b>v2 is out</b>: see what's new",
		ParseMode: tasks.ParseModeHTML,
	}, users, client.IdempotencyKey("release-v2"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Total, r.Duplicates, r.Queue)

	p, err := c.BroadcastStatus(ctx, r.ID)
	if err != nil {
		log.Fatal(err)
	}
	// No worker runs in this example: every recipient is pending.
	fmt.Println(p.State, p.Pending, p.Sent)

	// Stop it: recipients not sent yet are settled as cancelled.
	p, err = c.CancelBroadcast(ctx, r.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.State, p.Cancelled, p.Done())

	// After a run, the chats that blocked the bot (403), to mark inactive.
	blocked, err := c.BroadcastBlocked(ctx, r.ID, 0, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(blocked))
	// Output:
	// 3 1 bulk
	// running 3 0
	// cancelled 3 true
	// 0
}
