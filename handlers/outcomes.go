package handlers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/events"
	"github.com/telequeue/telequeue/tasks"
)

// Outcomes records the final outcome of a task in the outcome stream (see
// [tasks.Event]). [NewOutcomeStream] returns telequeue's; a nil Outcomes
// records nothing.
type Outcomes interface {
	// Queue adds the event to a pipeline the caller sends anyway.
	Queue(ctx context.Context, p redis.Pipeliner, e *tasks.Event)
	// Append writes the event on its own.
	Append(ctx context.Context, e *tasks.Event) error
}

// NewOutcomeStream returns the Outcomes that append to telequeue's outcome
// stream in rdb, capped at about maxLen entries (0: 100,000).
func NewOutcomeStream(rdb redis.UniversalClient, maxLen int64) Outcomes {
	return events.NewWriter(rdb, maxLen)
}

// newEvent starts the event of task t's outcome: its ids, type, bot and the
// chat it was queued for.
func newEvent(ctx context.Context, t *asynq.Task, outcome tasks.Outcome, bot, chat string) *tasks.Event {
	id, _ := asynq.GetTaskID(ctx)
	return &tasks.Event{
		Outcome: outcome, TaskID: id, IdempotencyKey: t.Headers()[tasks.HeaderIdempotencyKey],
		Method: methodOf(t.Type()), Type: t.Type(), Bot: bot, Chat: chat, Time: time.Now(),
	}
}

// methodOf names the Bot API method of a task type: the table's, or
// sendMessage for messages, multi-part replies and broadcasts.
func methodOf(taskType string) string {
	if name, ok := tasks.MethodNameOf(taskType); ok {
		return name
	}
	return "sendMessage"
}

// StaleError drops a task whose deadline (tasks.HeaderDeadline) passed
// before it could be sent: the handlers return it, wrapped with
// asynq.SkipRetry, instead of sending (an ordered message then gives its
// chat's turn to the next one, as after any permanent failure).
type StaleError struct {
	Deadline time.Time
}

func (e *StaleError) Error() string {
	return "dropped: its deadline " + e.Deadline.UTC().Format(time.RFC3339Nano) + " passed before it was sent"
}

// TaskDeadline returns the deadline a task carries in its
// tasks.HeaderDeadline header, if any.
func TaskDeadline(t *asynq.Task) (time.Time, bool) {
	v, ok := t.Headers()[tasks.HeaderDeadline]
	if !ok {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// withDeadline applies the deadline task t carries: it returns
// ctx bounded by it, or a [StaleError] wrapped with asynq.SkipRetry when it
// has passed. Call cancel when done.
func withDeadline(ctx context.Context, t *asynq.Task) (_ context.Context, cancel context.CancelFunc, err error) {
	d, ok := TaskDeadline(t)
	if !ok {
		return ctx, func() {}, nil
	}
	if !time.Now().Before(d) {
		return ctx, func() {}, fmt.Errorf("%w: %w", &StaleError{Deadline: d}, asynq.SkipRetry)
	}
	ctx, cancel = context.WithDeadline(ctx, d)
	return ctx, cancel, nil
}

// Expired returns err, the error of a run of task t, as a [StaleError]
// wrapped with asynq.SkipRetry when t's deadline has passed by the time the
// run ends (it waited for a slot, or its call timed out with the deadline):
// a retry would only drop it then, after a second run and a misleading
// "will retry". An error that already ends the task (asynq.SkipRetry), a
// run fenced off (another worker has the task) and nil pass unchanged. The
// handlers that honour deadlines apply it to what their ProcessTask returns,
// so that an ordered message's wrapper sees the drop and hands its chat on.
func Expired(t *asynq.Task, err error) error {
	if err == nil || errors.Is(err, asynq.SkipRetry) {
		return err
	}
	var fenced *FencedError
	if errors.As(err, &fenced) {
		return err
	}
	d, ok := TaskDeadline(t)
	if !ok || time.Now().Before(d) {
		return err
	}
	return fmt.Errorf("%w: %w", &StaleError{Deadline: d}, asynq.SkipRetry)
}

// FailureEvent returns the event of a task that ends for good with err — it
// is archived: "dropped" for a [StaleError], "blocked" for a 403, "archived"
// otherwise, with Telegram's code and description or err's text. It returns nil when err does not end
// the task: asynq retries it (retry budget left and no asynq.SkipRetry), or
// it was revoked, stopped by a shutdown (asynq queues it again), or fenced
// off (another worker took it over).
func FailureEvent(ctx context.Context, t *asynq.Task, err error) *tasks.Event {
	var fenced *FencedError
	if err == nil || errors.Is(err, asynq.RevokeTask) || t.Type() == tasks.TypeWebhook || errors.As(err, &fenced) {
		// A fenced run's task belongs to another worker now, which reports
		// its outcome.
		return nil
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	if !IsFailure(err) {
		return nil // rescheduled whatever its retry count: not a failure
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	if !errors.Is(err, asynq.SkipRetry) && retried < maxRetry {
		return nil
	}
	var bot, chat string
	if k, kerr := tasks.ReadOrderKey(t.Payload()); kerr == nil {
		bot, chat = k.Bot, k.Chat
	}
	e := newEvent(ctx, t, tasks.OutcomeArchived, bot, chat)
	var (
		te *TelegramError
		tr *TransportError
		se *StaleError
	)
	switch {
	case errors.As(err, &se):
		e.Outcome, e.Description = tasks.OutcomeDropped, se.Error()
	case errors.As(err, &te):
		e.ErrorCode, e.Description = te.Code, te.Description
		if te.Code == 403 {
			e.Outcome = tasks.OutcomeBlocked
		}
	case errors.As(err, &tr) && tr.Kind == "server":
		e.ErrorCode, e.Description = tr.StatusCode, err.Error()
	default:
		e.Description = err.Error()
	}
	return e
}
