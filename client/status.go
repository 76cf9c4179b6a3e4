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

// State is the state of a task in [Status.State]: asynq's task states.
type State string

// The task states.
const (
	StatePending   State = "pending"   // due, waiting for a worker
	StateActive    State = "active"    // a worker is sending it
	StateScheduled State = "scheduled" // waiting for its SendAt time
	StateRetry     State = "retry"     // failed or rate-limited, waiting to be tried again
	StateArchived  State = "archived"  // given up: permanent error or retries exhausted
	StateCompleted State = "completed" // sent; Result holds Telegram's message_id
	// StateSuperseded: an edit (or draft) that a newer one of the same
	// message overtook before its turn; not sent, and final (see
	// EveryEdit).
	StateSuperseded State = "superseded"
)

// Status is what Redis knows about a task.
type Status struct {
	ID    string `json:"id"`
	Queue string `json:"queue,omitempty"` // empty when known only from the sent marker
	// Type is the task type: [tasks.TypeSendMessage],
	// [tasks.TypeSendMessages] (a multi-part reply), their ordered
	// variants, or the type of a method queued with [Client.Call] (e.g.
	// "telegram:send_photo"). Known only from the sent marker, it is
	// TypeSendMessages for a reply, the method's type for a call and
	// TypeSendMessage otherwise.
	Type  string `json:"type"`
	State State  `json:"state"`
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
	// are sent (see [Client.SendReply]).
	MessageIDs []int64 `json:"message_ids,omitempty"`
	// Message is the queued message; nil when the task is known only from
	// its sent marker. For a multi-part reply it has the reply's bot and
	// chat only, and Reply holds the parts.
	Message *tasks.SendMessage `json:"message,omitempty"`
	// Reply is the queued multi-part reply; nil for other tasks and when the
	// task is known only from its sent marker.
	Reply *tasks.SendMessages `json:"reply,omitempty"`
	// CallResult is set once Telegram answered a call queued with
	// [Client.Call] (any method but sendMessage): the method, the ids of the
	// messages it created or changed, the file_ids of their media.
	CallResult *tasks.CallResult `json:"call_result,omitempty"`
	// Call is the queued call (method, bot, parameters, upload references);
	// nil for messages and when the task is known only from its sent
	// marker.
	Call *tasks.Call `json:"call,omitempty"`
}

// superseded sets the state of a call that a newer edit overtook: its
// result says so.
func (s *Status) superseded() {
	if s.CallResult != nil && s.CallResult.Superseded {
		s.State = StateSuperseded
	}
}

// statusQueues are the queues a task can wait in.
var statusQueues = append(tasks.Queues[:len(tasks.Queues):len(tasks.Queues)], tasks.QueueCallbacks)

// Status reports on a message, reply or call. One pipelined round trip
// finds the task's queue and its sent marker; a second reads the task. A
// sent task is kept for [Config.Retention] and afterwards reported from its
// sent marker (state "completed", with Result, or CallResult for a call,
// but without Message or Call) for as long as the worker keeps the marker. It returns an error wrapping [ErrNotFound] when
// Redis knows nothing of the id, and [ErrUnavailable] when Redis cannot be
// reached.
func (c *Client) Status(ctx context.Context, id string) (*Status, error) {
	if id == "" {
		return nil, fmt.Errorf("client: status: empty id: %w", ErrNotFound)
	}
	queue, marker, err := c.locate(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("client: status %s: %w", id, err)
	}
	if queue != "" {
		info, err := ctxwait.Do(ctx, func() (*asynq.TaskInfo, error) { return c.inspector.GetTaskInfo(queue, id) })
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			// Deleted since (retention ended): the marker tells.
		case err != nil:
			return nil, fmt.Errorf("client: status %s: %w", id, unavailable(err))
		default:
			st := c.fromInfo(ctx, info)
			if st.Result == nil && st.CallResult == nil && marker != nil {
				// Sent, but the worker did not complete the task (yet).
				if isCall(info.Type) {
					st.CallResult = decodeCallResult(marker)
				} else {
					st.Result, st.MessageIDs = decodeResult(marker)
				}
			}
			st.superseded()
			return st, nil
		}
	}
	if marker == nil {
		return nil, fmt.Errorf("client: status %s: %w", id, ErrNotFound)
	}
	st := &Status{ID: id, Type: tasks.TypeSendMessage, State: StateCompleted}
	if r := decodeCallResult(marker); r != nil {
		if m, ok := tasks.MethodByName(r.Method); ok {
			st.Type, st.CallResult = m.Type, r
			st.superseded()
			return st, nil
		}
	}
	st.Result, st.MessageIDs = decodeResult(marker)
	if st.Result == nil {
		return nil, fmt.Errorf("client: status %s: unreadable sent marker", id)
	}
	if st.MessageIDs != nil {
		st.Type = tasks.TypeSendMessages
	}
	return st, nil
}

// locate finds, in one pipelined round trip, the queue that holds task id
// (empty if none) and the task's sent marker (nil if none).
func (c *Client) locate(ctx context.Context, id string) (queue string, marker []byte, err error) {
	exists := make([]*redis.IntCmd, len(statusQueues))
	var sent *redis.StringCmd
	_, err = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, q := range statusQueues {
			exists[i] = p.Exists(ctx, keys.AsynqTask(q, id))
		}
		sent = p.Get(ctx, keys.Sent(id))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", nil, unavailable(err)
	}
	for i, q := range statusQueues {
		if exists[i].Val() > 0 {
			queue = q
			break
		}
	}
	if b, err := sent.Bytes(); err == nil {
		marker = b
	}
	return queue, marker, nil
}

// decodeResult reads a task result or sent marker: a send's
// tasks.SendResult, or a multi-part reply's, which adds message_ids. Both
// are nil when it cannot be read.
func decodeResult(b []byte) (*tasks.SendResult, []int64) {
	var r struct {
		tasks.SendResult
		MessageIDs []int64 `json:"message_ids"`
	}
	if json.Unmarshal(b, &r) != nil {
		return nil, nil
	}
	return &r.SendResult, r.MessageIDs
}

// decodeCallResult reads the result or sent marker of a call: a
// tasks.CallResult, which names its method. nil if it is not one.
func decodeCallResult(b []byte) *tasks.CallResult {
	var r tasks.CallResult
	if json.Unmarshal(b, &r) != nil || r.Method == "" {
		return nil
	}
	return &r
}

// isCall reports whether typ is the task type of a method queued as a
// tasks.Call (every method but sendMessage).
func isCall(typ string) bool {
	m, ok := tasks.MethodByType(typ)
	return ok && m.Name != "sendMessage"
}

func (c *Client) fromInfo(ctx context.Context, info *asynq.TaskInfo) *Status {
	st := &Status{
		ID:            info.ID,
		Queue:         info.Queue,
		Type:          info.Type,
		State:         State(info.State.String()),
		Attempts:      info.Retried,
		MaxRetry:      info.MaxRetry,
		LastError:     info.LastErr,
		LastFailedAt:  info.LastFailedAt,
		NextProcessAt: info.NextProcessAt,
		CompletedAt:   info.CompletedAt,
	}
	if len(info.Result) > 0 && isCall(info.Type) {
		st.CallResult = decodeCallResult(info.Result)
		if st.CallResult == nil {
			c.log.WarnContext(ctx, "undecodable task result", "task_id", info.ID)
		}
	} else if len(info.Result) > 0 {
		st.Result, st.MessageIDs = decodeResult(info.Result)
		if st.Result == nil {
			c.log.WarnContext(ctx, "undecodable task result", "task_id", info.ID)
		}
	}
	// Payloads are decoded leniently: one that no longer validates is still
	// worth showing.
	switch info.Type {
	case tasks.TypeSendMessage, tasks.TypeSendMessageOrdered:
		var m tasks.SendMessage
		if err := json.Unmarshal(info.Payload, &m); err != nil {
			c.log.WarnContext(ctx, "undecodable task payload", "task_id", info.ID, "error", err)
		} else {
			st.Message = &m
		}
	case tasks.TypeSendMessages, tasks.TypeSendMessagesOrdered:
		var r tasks.SendMessages
		if err := json.Unmarshal(info.Payload, &r); err != nil {
			c.log.WarnContext(ctx, "undecodable task payload", "task_id", info.ID, "error", err)
		} else {
			st.Reply = &r
			st.Message = &tasks.SendMessage{Bot: r.Bot, ChatID: r.ChatID}
		}
	default:
		if isCall(info.Type) {
			var call tasks.Call
			if err := json.Unmarshal(info.Payload, &call); err != nil {
				c.log.WarnContext(ctx, "undecodable task payload", "task_id", info.ID, "error", err)
			} else {
				st.Call = &call
			}
		}
	}
	return st
}
