package client_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/botreg"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/tasks"
)

// TestBotRegistry: a client without a bot list accepts the names running
// workers registered and refuses the others, also before any worker
// registered, for every kind of call.
func TestBotRegistry(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	rdb := s.Client(t)
	newClient := func(t *testing.T) *client.Client {
		t.Helper()
		c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: s.Addr()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	send := map[string]func(c *client.Client, bot string) error{
		"SendMessage": func(c *client.Client, bot string) error {
			_, err := c.SendMessage(testCtx(t), &tasks.SendMessage{Bot: bot, ChatID: telego.ChatID{ID: 1}, Text: "hi"})
			return err
		},
		"SendReply": func(c *client.Client, bot string) error {
			_, err := c.SendReply(testCtx(t), telego.ChatID{ID: 1}, []*tasks.SendMessage{{Bot: bot, Text: "a"}, {Text: "b"}})
			return err
		},
		"SendBatch": func(c *client.Client, bot string) error {
			_, errs := c.SendBatch(testCtx(t), []*tasks.SendMessage{{Bot: bot, ChatID: telego.ChatID{ID: 1}, Text: "hi"}})
			return errs[0]
		},
		"Broadcast": func(c *client.Client, bot string) error {
			_, err := c.Broadcast(testCtx(t), &tasks.SendMessage{Bot: bot, Text: "hi"}, []int64{1})
			return err
		},
	}
	wantRefused := func(t *testing.T, err error, bot, detail string) {
		t.Helper()
		var ve *tasks.ValidationError
		if !errors.As(err, &ve) || ve.Field != "bot" || !errors.Is(err, tasks.ErrUnknownBot) {
			t.Fatalf("got %v, want a ValidationError for field bot", err)
		}
		if !strings.Contains(err.Error(), `"`+bot+`"`) || !strings.Contains(err.Error(), detail) {
			t.Errorf("error %q: want it to name %q and say %q", err, bot, detail)
		}
	}

	t.Run("no worker registered", func(t *testing.T) {
		c := newClient(t)
		for name, f := range send {
			t.Run(name, func(t *testing.T) {
				wantRefused(t, f(c, ""), "default", "no worker has registered any bot")
			})
		}
	})
	if err := botreg.Announce(testCtx(t), rdb, []string{"default", "alerts", "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	t.Run("registered", func(t *testing.T) {
		c := newClient(t)
		for name, f := range send {
			t.Run(name, func(t *testing.T) {
				for _, bot := range []string{"", "default", "alerts"} {
					if err := f(c, bot); err != nil {
						t.Errorf("bot %q: %v", bot, err)
					}
				}
				wantRefused(t, f(c, "marketing"), "marketing", "known: alerts, default")
			})
		}
	})
	t.Run("a token is never registered", func(t *testing.T) {
		known, err := botreg.Known(testCtx(t), rdb)
		if err != nil || strings.Join(known, ",") != "alerts,default" {
			t.Errorf("registry %v (%v), want alerts and default only", known, err)
		}
	})
	t.Run("a worker that starts later is seen within a second or two", func(t *testing.T) {
		c := newClient(t)
		wantRefused(t, send["SendMessage"](c, "late"), "late", "no running worker serves this bot")
		if err := botreg.Announce(testCtx(t), rdb, []string{"late"}, time.Hour); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for err := send["SendMessage"](c, "late"); err != nil; err = send["SendMessage"](c, "late") {
			if time.Now().After(deadline) {
				t.Fatalf("still refused after the worker registered: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("a bot list overrides the registry", func(t *testing.T) {
		c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: s.Addr()}, Bots: []string{"marketing"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := send["SendMessage"](c, "marketing"); err != nil {
			t.Error(err)
		}
		wantRefused(t, send["SendMessage"](c, "alerts"), "alerts", "is not configured")
	})
}

// TestBotRegistryExpires: a name no worker announced within its TTL is
// forgotten.
func TestBotRegistryExpires(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	rdb := s.Client(t)
	ctx := testCtx(t)
	if err := botreg.Announce(ctx, rdb, []string{"stays"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := botreg.Announce(ctx, rdb, []string{"goes"}, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// A shorter announcement never shortens another worker's.
	if err := botreg.Announce(ctx, rdb, []string{"stays"}, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		known, err := botreg.Known(ctx, rdb)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(known, ",") == "stays" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry %v, want only stays", known)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ttl, err := rdb.PTTL(ctx, "telequeue:bots").Result(); err != nil || ttl < 59*time.Minute {
		t.Errorf("registry key TTL %v (%v), want about 1h", ttl, err)
	}
}

// TestNewFromRedisClient: the client uses the caller's go-redis client and
// leaves it open on Close.
func TestNewFromRedisClient(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	rdb := s.Client(t)
	if _, err := client.NewFromRedisClient(rdb, client.Config{Redis: asynq.RedisClientOpt{Addr: s.Addr()}}); err == nil {
		t.Error("NewFromRedisClient with Config.Redis set: no error")
	}
	if _, err := client.NewFromRedisClient(nil, client.Config{}); err == nil {
		t.Error("NewFromRedisClient(nil): no error")
	}
	c, err := client.NewFromRedisClient(rdb, client.Config{Bots: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	r, err := c.SendMessage(ctx, msg(1, "shared pool"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.Exists(ctx, "asynq:{default}:t:"+r.ID).Result(); err != nil || n != 1 {
		t.Fatalf("caller's client after Close: %d, %v; want it open and the task stored", n, err)
	}
}
