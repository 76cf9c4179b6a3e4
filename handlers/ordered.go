package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/ordering"
	"github.com/telequeue/telequeue/internal/redisx"
	"github.com/telequeue/telequeue/tasks"
)

// OrderedConfig configures an [OrderedHandler]. Zero values are documented
// defaults.
type OrderedConfig struct {
	// Redis stores the chats' orders (required). It must be the Redis of
	// the asynq queues.
	Redis redis.UniversalClient
	// ParkBase is how long a waiting message sleeps per position behind
	// the head of its chat's order before it looks at the order itself, in
	// case its wake-up was lost (default 15s).
	ParkBase time.Duration
	// ParkMax caps that sleep, and so bounds how long a chat waits for a
	// message whose task vanished without leaving its order (default 5m).
	ParkMax time.Duration
	// Grace is how long a message may be registered in its order without a
	// task (its client is still enqueuing it) before the next one skips it
	// (default 1m).
	Grace time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// OrderedHandler delivers ordered tasks ([tasks.TypeSendMessageOrdered],
// [tasks.TypeSendMessagesOrdered]) one at a time per bot and chat, in the
// order they were enqueued: it runs the inner handler only for the head of
// the chat's order, parks the others, and hands over to the next message as
// soon as the head's outcome is final. See internal/ordering for the design.
type OrderedHandler struct {
	inner asynq.Handler
	seq   *ordering.Sequencer
	rdb   redis.UniversalClient
	log   *slog.Logger
}

var _ asynq.Handler = (*OrderedHandler)(nil)

// NewOrderedHandler wraps inner, which sends the payload (a
// [SendMessageHandler] or a [SendMessagesHandler]).
func NewOrderedHandler(inner asynq.Handler, cfg OrderedConfig) (*OrderedHandler, error) {
	if inner == nil || cfg.Redis == nil {
		return nil, errors.New("handlers: an ordered handler needs an inner handler and Redis")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	seq := ordering.New(cfg.Redis, asynq.NewInspectorFromRedisClient(cfg.Redis), ordering.Config{
		ParkBase: cfg.ParkBase, ParkMax: cfg.ParkMax, Grace: cfg.Grace, Logger: cfg.Logger,
	})
	return &OrderedHandler{inner: inner, seq: seq, rdb: cfg.Redis, log: cfg.Logger}, nil
}

// TaskHandlers returns the handlers of the task types built on send:
// multi-part replies and ordered messages and replies, by task type, for
// server.Config.Handlers.
func TaskHandlers(send *SendMessageHandler, cfg OrderedConfig) (map[string]asynq.Handler, error) {
	parts := NewSendMessagesHandler(send)
	ordered, err := NewOrderedHandler(send, cfg)
	if err != nil {
		return nil, err
	}
	orderedParts, err := NewOrderedHandler(parts, cfg)
	if err != nil {
		return nil, err
	}
	return map[string]asynq.Handler{
		tasks.TypeSendMessages:        parts,
		tasks.TypeSendMessageOrdered:  ordered,
		tasks.TypeSendMessagesOrdered: orderedParts,
	}, nil
}

// WaitingError is returned by an ordered task that is not the head of its
// chat's order. asynq reschedules ("parks") it after RetryAfter without
// counting a failure (it is [Rescheduled]); the task ahead wakes it earlier
// when it is done. Its text, which asynq stores as the task's last error,
// starts with "ordered: waiting for its turn".
type WaitingError struct {
	// Ahead is the id of the task at the head of the order.
	Ahead string
	// Position is the task's place behind the head (1 = next).
	Position int
	// RetryAfter is when the task looks at its order again if not woken.
	RetryAfter time.Duration
}

func (e *WaitingError) Error() string {
	return fmt.Sprintf("%s behind task %s (position %d); looks again in %s unless woken",
		ordering.ParkedPrefix, e.Ahead, e.Position, e.RetryAfter)
}

// RescheduleAfter returns RetryAfter.
func (e *WaitingError) RescheduleAfter() time.Duration { return e.RetryAfter }

// ProcessTask sends the task if it is the head of its chat's order, and
// otherwise parks it.
func (h *OrderedHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	key, err := decodeTask(t, tasks.ReadOrderKey)
	if err != nil {
		return err
	}
	id, _ := asynq.GetTaskID(ctx)
	queue, _ := asynq.GetQueueName(ctx)
	order := ordering.OrderOf(key)
	turn, err := h.seq.Check(ctx, order, id, queue, false)
	if err == nil && !turn.Registered {
		// Re-run from the dashboard, or given up as vanished and found
		// again: join the end of the order, unless already delivered.
		var sent int64
		err = redisx.UntilAnswers(ctx, func() (err error) {
			sent, err = h.rdb.Exists(ctx, keys.Sent(id)).Result()
			return err
		})
		switch {
		case err != nil:
			return fmt.Errorf("check sent marker: %w", err)
		case sent > 0:
			return h.inner.ProcessTask(ctx, t)
		}
		h.log.InfoContext(ctx, "ordered message not in its order: joining its end", "task_id", id, "bot", key.Bot, "chat_id", key.Chat)
		turn, err = h.seq.Check(ctx, order, id, queue, true)
	}
	if err != nil {
		return fmt.Errorf("chat order unavailable: %w", err)
	}
	if !turn.Head {
		return &WaitingError{Ahead: turn.Ahead, Position: turn.Position, RetryAfter: h.seq.ParkDelay(turn.Position)}
	}
	err = h.inner.ProcessTask(ctx, t)
	if final(ctx, err) {
		// The next message may go: independent of the task's context, which
		// may be about to expire, and bounded.
		dctx, cancel := tidyContext(ctx)
		if derr := h.seq.Done(dctx, order, id); derr != nil {
			h.log.WarnContext(ctx, "could not hand the chat over to its next ordered message; it takes over when its park delay ends",
				"task_id", id, "bot", key.Bot, "chat_id", key.Chat, "error", derr)
		}
		cancel()
	}
	return err
}

// final reports whether a handler's outcome ends the task for good: success,
// or an error that asynq archives (SkipRetry, or any error once the retries
// are used up; asynq archives even rate-limit waits then). A task whose
// context was canceled (shutdown, lost lease) is put back by asynq and is not
// final.
func final(ctx context.Context, err error) bool {
	switch {
	case err == nil, errors.Is(err, asynq.SkipRetry), errors.Is(err, asynq.RevokeTask):
		return true
	case errors.Is(ctx.Err(), context.Canceled):
		return false
	}
	retried, ok1 := asynq.GetRetryCount(ctx)
	maxRetry, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && retried >= maxRetry
}
