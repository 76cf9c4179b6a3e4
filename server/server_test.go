package server

import (
	"context"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	h := asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })
	opt := asynq.RedisClientOpt{Addr: "127.0.0.1:1"}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no redis", Config{SendMessage: h}, "Redis is required"},
		{"no handler", Config{Redis: opt}, "SendMessage handler is required"},
		{"bad weight", Config{Redis: opt, SendMessage: h, Queues: map[string]int{"default": 0}}, `queue "default" has weight 0`},
		{"duplicate type", Config{Redis: opt, SendMessage: h, Handlers: map[string]asynq.Handler{"telegram:send_message": h}}, "bad handler"},
		{"ok", Config{Redis: opt, SendMessage: h}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestChatOf(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		`{"chat_id":42,"text":"x"}`:      "42",
		`{"chat_id":"@news","text":"x"}`: "@news",
		`not json`:                       "",
		`{"text":"x"}`:                   "",
		`{"chat_id":{"nested":"object that is very long indeed"}}`:                       "",
		`{"v":1,"method":"sendPhoto","params":{"chat_id":-100123,"photo":"AgAC"}}`:       "-100123",
		`{"v":1,"method":"editMessageText","params":{"chat_id":"@news","message_id":5}}`: "@news",
	}
	for in, want := range tests {
		if got := chatOf([]byte(in)); got != want {
			t.Errorf("chatOf(%s) = %q, want %q", in, got, want)
		}
	}
}
