package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/tasks"
)

func TestIsConnError(t *testing.T) {
	t.Parallel()
	opErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"dial refused", opErr, true},
		{"wrapped dial", fmt.Errorf("rdb.Enqueue: %w", opErr), true},
		{"EOF", io.EOF, true},
		{"closed client", redis.ErrClosed, true},
		{"pool timeout", redis.ErrPoolTimeout, true},
		{"reset", syscall.ECONNRESET, true},
		{"text only", errors.New("UNKNOWN: dial tcp: connect: connection refused"), true},
		{"loading", errors.New("LOADING Redis is loading the dataset in memory"), true},
		{"caller deadline", context.DeadlineExceeded, false},
		{"caller cancel", fmt.Errorf("x: %w", context.Canceled), false},
		{"script error", errors.New("ERR Error running script"), false},
		{"not found", asynq.ErrTaskNotFound, false},
	}
	for _, tt := range tests {
		if got := isConnError(tt.err); got != tt.want {
			t.Errorf("%s: isConnError(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
		if got := errors.Is(unavailable(tt.err), ErrUnavailable); got != tt.want {
			t.Errorf("%s: unavailable wraps = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestFailedEnqueueReleasesKey covers what a real Redis rarely does: the
// enqueue failing after the idempotency key was claimed.
func TestFailedEnqueueReleasesKey(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	c, err := New(Config{Redis: asynq.RedisClientOpt{Addr: s.Addr()}, Bots: []string{tasks.DefaultBot}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rdb := s.Client(t)

	tests := []struct {
		name        string
		enqErr      error
		enqueued    bool // the task does exist (the error was ambiguous)
		otherHolder bool // the key was taken over by someone else meanwhile
		wantOK      bool
		wantKey     bool
	}{
		{"script error", errors.New("ERR script"), false, false, false, false},
		{"connection lost, task absent", io.EOF, false, false, false, false},
		{"connection lost, task stored", io.EOF, true, false, true, true},
		{"key no longer ours", errors.New("ERR script"), false, true, false, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := fmt.Sprintf("k%d", i)
			p, err := c.prepare(ctx, time.Now(), callMessage, &tasks.SendMessage{ChatID: telego.ChatID{ID: 1}, Text: "x"}, []Option{IdempotencyKey(key)})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.claimKey(ctx, p); err != nil {
				t.Fatal(err)
			}
			if tt.enqueued {
				if _, err := c.asynq.EnqueueContext(ctx, p.task); err != nil {
					t.Fatal(err)
				}
			}
			if tt.otherHolder {
				if err := rdb.Set(ctx, keys.Idempotency(key), "other|default", time.Hour).Err(); err != nil {
					t.Fatal(err)
				}
			}
			if got := c.enqueuedAnyway(ctx, p, tt.enqErr); got != tt.wantOK {
				t.Errorf("enqueuedAnyway = %v, want %v", got, tt.wantOK)
			}
			n, err := rdb.Exists(ctx, keys.Idempotency(key)).Result()
			if err != nil {
				t.Fatal(err)
			}
			if (n == 1) != tt.wantKey {
				t.Errorf("key exists: %v, want %v", n == 1, tt.wantKey)
			}
		})
	}
}

func TestNewID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := newID()
		if len(id) != 26 || seen[id] {
			t.Fatalf("id %q: want 26 characters, unique", id)
		}
		seen[id] = true
	}
}
