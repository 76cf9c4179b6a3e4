package tasks_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/tasks"
)

// TestConstructorDefaults enqueues every constructor's task in a real Redis
// and reads back what asynq stored: each type's default queue, retry budget
// and timeout, and options given to the constructor win over them.
func TestConstructorDefaults(t *testing.T) {
	t.Parallel()
	c := asynq.NewClientFromRedisClient(redistest.Start(t).Client(t))
	msg := &tasks.SendMessage{ChatID: telego.ChatID{ID: 42}, Text: "hi"}
	reply := &tasks.SendMessages{ChatID: telego.ChatID{ID: 42}, Parts: []tasks.SendMessage{{Text: "a"}, {Text: "b"}, {Text: "c"}}}
	replyTimeout := tasks.DefaultTimeout + 3*tasks.PartTimeout
	chunk := &tasks.BroadcastChunk{Broadcast: "b1", Chunk: 4}
	override := []asynq.Option{asynq.Queue(tasks.QueueCritical), asynq.MaxRetry(2), asynq.Timeout(time.Minute)}

	tests := []struct {
		name     string
		make     func(opts ...asynq.Option) (*asynq.Task, error)
		queue    string
		maxRetry int
		timeout  time.Duration
	}{
		{"send_message", func(o ...asynq.Option) (*asynq.Task, error) { return tasks.NewSendMessageTask(msg, o...) },
			tasks.QueueDefault, tasks.DefaultMaxRetry, tasks.DefaultTimeout},
		{"send_message:ordered", func(o ...asynq.Option) (*asynq.Task, error) { return tasks.NewOrderedSendMessageTask(msg, o...) },
			tasks.QueueDefault, tasks.DefaultMaxRetry, tasks.DefaultTimeout},
		{"send_messages", func(o ...asynq.Option) (*asynq.Task, error) { return tasks.NewSendMessagesTask(reply, o...) },
			tasks.QueueDefault, tasks.DefaultMaxRetry, replyTimeout},
		{"send_messages:ordered", func(o ...asynq.Option) (*asynq.Task, error) { return tasks.NewOrderedSendMessagesTask(reply, o...) },
			tasks.QueueDefault, tasks.DefaultMaxRetry, replyTimeout},
		{"broadcast_chunk", func(o ...asynq.Option) (*asynq.Task, error) { return tasks.NewBroadcastChunkTask(chunk, o...) },
			tasks.QueueBulk, tasks.BroadcastChunkMaxRetry, tasks.BroadcastChunkTimeout},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, o := range [][]asynq.Option{nil, override} {
				task, err := tt.make(o...)
				if err != nil {
					t.Fatal(err)
				}
				info, err := c.EnqueueContext(ctx, task)
				if err != nil {
					t.Fatal(err)
				}
				want := struct {
					queue    string
					maxRetry int
					timeout  time.Duration
				}{tt.queue, tt.maxRetry, tt.timeout}
				if o != nil {
					want.queue, want.maxRetry, want.timeout = tasks.QueueCritical, 2, time.Minute
				}
				if info.Queue != want.queue || info.MaxRetry != want.maxRetry || info.Timeout != want.timeout {
					t.Errorf("opts %v: queue %q, MaxRetry %d, Timeout %s; want %q, %d, %s",
						o, info.Queue, info.MaxRetry, info.Timeout, want.queue, want.maxRetry, want.timeout)
				}
				if tt.name == "broadcast_chunk" && info.ID != tasks.BroadcastChunkTaskID("b1", 4) {
					t.Errorf("task id %q", info.ID)
				}
			}
		})
	}
}
