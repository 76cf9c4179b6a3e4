package client

import (
	"errors"
	"fmt"

	"github.com/telequeue/telequeue/internal/redisx"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrDuplicate reports that an idempotency key was already used; the
	// error is a [*DuplicateError] naming the task the key created.
	ErrDuplicate = errors.New("client: duplicate idempotency key")
	// ErrNotFound reports that no task with the id exists (any more).
	ErrNotFound = errors.New("client: task not found")
	// ErrUnavailable wraps failures to reach Redis: refused or dropped
	// connections, timeouts, a closed client. The HTTP API answers 503.
	ErrUnavailable = errors.New("client: redis unavailable")
)

// DuplicateError is returned by [Client.SendMessage], [Client.SendReply]
// and [Client.Broadcast] when their [IdempotencyKey] was used before:
// nothing was queued, and ID names the task (or broadcast) that the first
// call created. errors.Is(err, ErrDuplicate) is true.
type DuplicateError struct {
	// Key is the idempotency key.
	Key string
	// ID and Queue identify the task created by the first call.
	ID, Queue string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("client: idempotency key %q was already used by task %s (queue %s)", e.Key, e.ID, e.Queue)
}

// Is reports whether target is [ErrDuplicate].
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }

// unavailable wraps err with ErrUnavailable when it is a connection failure;
// other errors (including the caller's context ending) are returned as they
// are.
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	if isConnError(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// isConnError reports whether err means Redis could not be reached or
// answered that it cannot serve now.
func isConnError(err error) bool {
	return redisx.Unreachable(err)
}
