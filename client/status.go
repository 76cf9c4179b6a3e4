package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/ctxwait"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/tasks"
)

// Task states reported in [Status.State].
const (
	StatePending   = "pending"   // due, waiting for a worker
	StateActive    = "active"    // a worker is sending it
	StateScheduled = "scheduled" // waiting for its SendAt time
	StateRetry     = "retry"     // failed or rate-limited, waiting to be tried again
	StateArchived  = "archived"  // given up: permanent error or retries exhausted
	StateCompleted = "completed" // sent; Result holds Telegram's message_id
)

// Status is what Redis knows about a task.
type Status struct {
	ID    string `json:"id"`
	Queue string `json:"queue,omitempty"` // empty when known only from the sent marker
	Type  string `json:"type"`
	// State is one of the State constants: pending, active, scheduled,
	// retry, archived or completed.
	State string `json:"state"`
	// Attempts counts failed attempts so far (asynq's Retried); rate-limit
	// waits are not failures.
	Attempts int `json:"attempts"`
	// MaxRetry is the number of failures after which the task is archived.
	MaxRetry      int       `json:"max_retry,omitempty"`
	LastError     string    `json:"last_error,omitempty"`
	LastFailedAt  time.Time `json:"last_failed_at,omitzero"`
	NextProcessAt time.Time `json:"next_process_at,omitzero"`
	CompletedAt   time.Time `json:"completed_at,omitzero"`
	// Result is set once Telegram accepted the message; for a multi-part
	// reply it is the first part's.
	Result *tasks.SendResult `json:"result,omitempty"`
	// MessageIDs are the message_ids of a multi-part reply's parts, once all
	// are sent (see [Client.SendMessages]).
	MessageIDs []int64 `json:"message_ids,omitempty"`
	// Message is the queued payload; nil when the task is known only from
	// its sent marker.
	Message *tasks.SendMessage `json:"message,omitempty"`
}

// Status looks the task up in every queue. A sent task is kept for
// [Config.Retention] and afterwards reported from its sent marker (state
// "completed", with Result but without Message) for as long as the worker
// keeps the marker. It returns an error wrapping [ErrNotFound] when Redis
// knows nothing of the id, and [ErrUnavailable] when Redis cannot be reached.
func (c *Client) Status(ctx context.Context, id string) (*Status, error) {
	if id == "" {
		return nil, fmt.Errorf("client: status: empty id: %w", ErrNotFound)
	}
	for _, q := range tasks.Queues {
		info, err := ctxwait.Do(ctx, func() (*asynq.TaskInfo, error) { return c.inspector.GetTaskInfo(q, id) })
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			continue
		case err != nil:
			return nil, fmt.Errorf("client: status %s: %w", id, unavailable(err))
		}
		st := c.fromInfo(ctx, info)
		if st.Result == nil {
			// Sent, but the worker did not complete the task (yet).
			r, err := c.sentMarker(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("client: status %s: %w", id, err)
			}
			st.Result = r
		}
		return st, nil
	}
	r, err := c.sentMarker(ctx, id)
	switch {
	case err != nil:
		return nil, fmt.Errorf("client: status %s: %w", id, err)
	case r == nil:
		return nil, fmt.Errorf("client: status %s: %w", id, ErrNotFound)
	}
	return &Status{ID: id, Type: tasks.TypeSendMessage, State: StateCompleted, Result: r}, nil
}

func (c *Client) fromInfo(ctx context.Context, info *asynq.TaskInfo) *Status {
	st := &Status{
		ID:            info.ID,
		Queue:         info.Queue,
		Type:          info.Type,
		State:         info.State.String(),
		Attempts:      info.Retried,
		MaxRetry:      info.MaxRetry,
		LastError:     info.LastErr,
		LastFailedAt:  info.LastFailedAt,
		NextProcessAt: info.NextProcessAt,
		CompletedAt:   info.CompletedAt,
	}
	if len(info.Result) > 0 {
		var r tasks.SendResult
		if err := json.Unmarshal(info.Result, &r); err != nil {
			c.log.WarnContext(ctx, "undecodable task result", "task_id", info.ID, "error", err)
		} else {
			st.Result = &r
		}
		st.MessageIDs = messageIDs(info.Result)
	}
	if info.Type == tasks.TypeSendMessage || info.Type == tasks.TypeSendMessageOrdered {
		// Decoded leniently: a payload that no longer validates is still
		// worth showing.
		var m tasks.SendMessage
		if err := json.Unmarshal(info.Payload, &m); err != nil {
			c.log.WarnContext(ctx, "undecodable task payload", "task_id", info.ID, "error", err)
		} else {
			st.Message = &m
		}
	}
	return st
}

// sentMarker returns the result stored in the task's sent marker, or nil.
func (c *Client) sentMarker(ctx context.Context, id string) (*tasks.SendResult, error) {
	b, err := c.rdb.Get(ctx, keys.Sent(id)).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil
	case err != nil:
		return nil, unavailable(err)
	}
	var r tasks.SendResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("sent marker: %w", err)
	}
	return &r, nil
}
