package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/ratelimit"
	"github.com/telequeue/telequeue/server"
	"github.com/telequeue/telequeue/tasks"
	"github.com/telequeue/telequeue/telegramtest"
)

// A worker built in an app's own program from server, handlers and
// ratelimit, with public types only. Here it sends to telegramtest's fake
// Bot API; in production APIURL is left empty (Telegram's).
func Example() {
	tg := telegramtest.NewServer()
	defer tg.Close()

	// The Redis that holds the queues (redisAddr: e.g. "localhost:6379").
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()

	bots, err := handlers.NewBots(handlers.BotsConfig{
		Tokens: map[string]string{"default": telegramtest.Token},
		APIURL: tg.URL,
	})
	if err != nil {
		panic(err)
	}
	limiter, err := ratelimit.New(rdb, ratelimit.Config{Global: 30, Chat: 1, Group: 20, Paid: 1000})
	if err != nil {
		panic(err)
	}
	send, err := handlers.NewSendMessageHandler(handlers.Config{
		Bots:    bots,
		Limiter: limiter,
		Redis:   rdb, // "sent" markers: a retried task does not send twice
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	srv, err := server.New(server.Config{
		Redis:             asynq.RedisClientOpt{Addr: redisAddr},
		SendMessage:       send,
		TaskCheckInterval: 20 * time.Millisecond,
		Logger:            slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Shutdown()

	// A producer queues a message (the client package does the same).
	task, err := tasks.NewSendMessageTask(&tasks.SendMessage{ChatID: telego.ChatID{ID: 42}, Text: "Hello from my worker"})
	if err != nil {
		panic(err)
	}
	producer := asynq.NewClientFromRedisClient(rdb)
	if _, err := producer.EnqueueContext(context.Background(), task); err != nil {
		panic(err)
	}

	msgs, err := tg.WaitMessages(1, 10*time.Second)
	if err != nil {
		panic(err)
	}
	fmt.Println(msgs[0].ChatID, msgs[0].Text)
	// Output:
	// 42 Hello from my worker
}
