package ratelimit_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/ratelimit"
)

// rescheduleError stands for the handler's typed error that asks asynq to
// run the task again after RetryAfter without counting a failure.
type rescheduleError struct{ RetryAfter time.Duration }

func (e *rescheduleError) Error() string {
	return fmt.Sprintf("rate limited, retry in %v", e.RetryAfter)
}

// send stands for the Bot API call; it reports Telegram's retry_after on 429.
func send(ctx context.Context) (retryAfter time.Duration, err error) { return 0, nil }

// A handler reserves a slot, sleeps until it, sends, and reports 429s.
func Example() {
	opt, err := redis.ParseURL(os.Getenv("REDIS_URL"))
	if err != nil {
		panic(err)
	}
	limiter, err := ratelimit.New(redis.NewClient(opt), ratelimit.Config{Global: 30, Chat: 1, Group: 20, Paid: 1000})
	if err != nil {
		panic(err)
	}

	handle := func(ctx context.Context, k ratelimit.Key) error {
		wait, ok, err := limiter.Reserve(ctx, k)
		if err != nil {
			return err // transient: asynq retries
		}
		if !ok {
			return &rescheduleError{RetryAfter: wait} // free the worker
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		retryAfter, err := send(ctx)
		if retryAfter > 0 { // 429
			if err := limiter.Throttled(ctx, k, retryAfter); err != nil {
				return err
			}
			return &rescheduleError{RetryAfter: retryAfter}
		}
		return err
	}
	_ = handle(context.Background(), ratelimit.Key{Bot: "default", Chat: "-1001234567890", Group: true})
}

// A worker gives one Limiter to its handlers; every process that sends with
// the same bots shares the budgets through the same Redis.
func Example_worker() {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer rdb.Close()
	limiter, err := ratelimit.New(rdb, ratelimit.Config{Global: 30, Chat: 1, Group: 20, Paid: 1000})
	if err != nil {
		panic(err)
	}
	bots, err := handlers.NewBots(handlers.BotsConfig{Tokens: map[string]string{"default": os.Getenv("TELEGRAM_BOT_TOKEN")}})
	if err != nil {
		panic(err)
	}
	send, err := handlers.NewSendMessageHandler(handlers.Config{Bots: bots, Limiter: limiter, Redis: rdb})
	if err != nil {
		panic(err)
	}
	_ = send // register it with server.Config.SendMessage
}
