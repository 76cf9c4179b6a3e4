package client

import (
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/telequeue/telequeue/tasks"
)

// Priority names accepted by [Priority]; each is the queue of that name.
const (
	PriorityCritical = tasks.QueueCritical
	PriorityDefault  = tasks.QueueDefault
	PriorityBulk     = tasks.QueueBulk
)

// MaxIdempotencyKeyLength is the longest [IdempotencyKey], in characters.
const MaxIdempotencyKeyLength = 200

// ErrInvalidOption is wrapped by the error a bad [Option] causes, e.g. an
// unknown priority.
var ErrInvalidOption = errors.New("client: invalid option")

// Option changes how one message is queued. Options are checked when the
// message is sent: a bad one makes [Client.SendMessage] return an error
// wrapping [ErrInvalidOption] and queue nothing.
type Option func(*settings) error

// settings is what the options of one call add up to.
type settings struct {
	queue     string
	key       string
	processAt time.Time // zero: now
	deadline  time.Time // zero: none
	maxRetry  int       // 0: the client's
	ordered   bool      // see Ordered
}

// Priority puts the message on the queue of that priority: "critical",
// "default" or "bulk". Workers poll them weighted 6:3:1 by default. The
// default is "default".
func Priority(p string) Option {
	return func(s *settings) error {
		switch p {
		case PriorityCritical, PriorityDefault, PriorityBulk:
			s.queue = p
			return nil
		}
		return fmt.Errorf("%w: priority %q: use critical, default or bulk", ErrInvalidOption, p)
	}
}

// Critical is Priority("critical"): for messages a user waits for (login
// codes, replies).
func Critical() Option { return Priority(PriorityCritical) }

// Bulk is Priority("bulk"): for broadcasts that may wait behind other work.
func Bulk() Option { return Priority(PriorityBulk) }

// IdempotencyKey makes the call safe to repeat: for as long as the client's
// Retention (plus the delay of a scheduled message), a second message with
// the same key is not queued and [Client.SendMessage] returns a
// [*DuplicateError] naming the first task. A key has 1 to 200 printable
// characters; keys are global across queues and bots.
func IdempotencyKey(key string) Option {
	return func(s *settings) error {
		if err := checkIdempotencyKey(key); err != nil {
			return err
		}
		s.key = key
		return nil
	}
}

// checkIdempotencyKey checks that key has 1 to MaxIdempotencyKeyLength
// printable characters.
func checkIdempotencyKey(key string) error {
	n := utf8.RuneCountInString(key)
	if n == 0 || n > MaxIdempotencyKeyLength || !utf8.ValidString(key) {
		return fmt.Errorf("%w: idempotency key must have 1 to %d characters", ErrInvalidOption, MaxIdempotencyKeyLength)
	}
	for _, r := range key {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: idempotency key has a non-printable character %U", ErrInvalidOption, r)
		}
	}
	return nil
}

// SendAt schedules the message for t. A time not in the future means now.
// Workers move due messages to their queue every few seconds
// (DELAYED_TASK_CHECK_INTERVAL), so a message may leave that much later.
func SendAt(t time.Time) Option {
	return func(s *settings) error {
		s.processAt = t
		return nil
	}
}

// SendIn schedules the message d from now; d <= 0 means now.
func SendIn(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			s.processAt = time.Time{}
			return nil
		}
		s.processAt = time.Now().Add(d)
		return nil
	}
}

// Deadline is asynq's Deadline: a worker does not send the message after t
// (its handler's context expires at t, and the attempt fails instead of
// sending). t must be in the future and after any [SendAt] time.
func Deadline(t time.Time) Option {
	return func(s *settings) error {
		if t.IsZero() {
			return fmt.Errorf("%w: deadline is the zero time", ErrInvalidOption)
		}
		s.deadline = t
		return nil
	}
}

// MaxRetry sets how many times a transient failure (network, Telegram 5xx)
// is retried before the message is archived; n >= 1. Rate-limit waits (429)
// do not use up retries, but they need at least one. The default is the
// client's [Config.MaxRetry].
func MaxRetry(n int) Option {
	return func(s *settings) error {
		if n < 1 {
			return fmt.Errorf("%w: max retry %d: must be at least 1", ErrInvalidOption, n)
		}
		s.maxRetry = n
		return nil
	}
}

// apply runs opts over defaults and checks how they combine.
func (s *settings) apply(now time.Time, opts []Option) error {
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(s); err != nil {
			return err
		}
	}
	if !s.processAt.After(now) {
		s.processAt = time.Time{}
	}
	if !s.deadline.IsZero() {
		if !s.deadline.After(now) {
			return fmt.Errorf("%w: deadline %s has passed", ErrInvalidOption, s.deadline.Format(time.RFC3339))
		}
		if !s.processAt.IsZero() && !s.deadline.After(s.processAt) {
			return fmt.Errorf("%w: deadline %s is not after the send time %s", ErrInvalidOption,
				s.deadline.Format(time.RFC3339), s.processAt.Format(time.RFC3339))
		}
	}
	return nil
}
