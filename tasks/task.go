package tasks

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Per-type defaults of the task constructors; options given to a
// constructor override them.
const (
	// DefaultMaxRetry is the retry budget of a message or multi-part reply.
	DefaultMaxRetry = 10
	// DefaultTimeout bounds one run of a message task; a multi-part reply
	// gets [PartTimeout] more per part.
	DefaultTimeout = 30 * time.Second
	// BroadcastChunkMaxRetry is the retry budget of a chunk task. Only
	// chunk-wide failures use it (Redis unreachable, Telegram failing for
	// every recipient, a worker crash); a single recipient's failure is
	// settled or retried within the chunk, and rate-limit waits are not
	// failures.
	BroadcastChunkMaxRetry = 25
	// BroadcastChunkTimeout bounds one run of a chunk task. Handlers stop
	// a run well before it (see handlers.BroadcastConfig.Slice).
	BroadcastChunkTimeout = 15 * time.Minute
)

// DefaultOptions returns the default options of a task of type typ, the one
// place they are written; parts is the number of parts of a multi-part
// reply. The constructors apply them before their caller's options; a caller
// that rebuilds a task (e.g. to add headers with asynq.NewTaskWithHeaders)
// passes them again.
func DefaultOptions(typ string, parts int) []asynq.Option {
	queue, maxRetry, timeout := QueueDefault, DefaultMaxRetry, DefaultTimeout
	switch typ {
	case TypeSendMessages, TypeSendMessagesOrdered:
		timeout += time.Duration(parts) * PartTimeout
	case TypeBroadcastChunk:
		queue, maxRetry, timeout = QueueBulk, BroadcastChunkMaxRetry, BroadcastChunkTimeout
	}
	if m := methodsByName.byType[typ]; m != nil {
		switch m.Kind {
		case KindCallback:
			// Retried within its deadline only (see Method.Deadline).
			queue, timeout = QueueCallbacks, CallbackDeadline
		case KindChatAction:
			timeout = ChatActionDeadline
		case KindDraft:
			timeout = DraftDeadline
		}
	}
	return []asynq.Option{asynq.Queue(queue), asynq.MaxRetry(maxRetry), asynq.Timeout(timeout)}
}

// newTask encodes a validated payload into a task of type typ with the
// given defaults, then opts (asynq applies options in order, so opts win).
func newTask(typ string, payload any, defaults, opts []asynq.Option) (*asynq.Task, error) {
	data, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("tasks: encode %s: %w", typ, err)
	}
	return asynq.NewTask(typ, data, append(defaults, opts...)...), nil
}
