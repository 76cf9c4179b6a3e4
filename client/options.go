package client

import (
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/telequeue/telequeue/tasks"
)

// Priority is the queue a message waits in. Workers poll critical, default
// and bulk weighted 6:3:1 by default (QUEUES). A Priority is itself an
// [Option]: pass [PriorityCritical] to [Client.SendMessage]. Another value
// makes the call fail with an [*OptionError] naming "Priority".
type Priority string

// The priorities; each is the name of its queue.
const (
	// PriorityCritical is for messages a user waits for: login codes,
	// replies.
	PriorityCritical Priority = tasks.QueueCritical
	// PriorityDefault is the default.
	PriorityDefault Priority = tasks.QueueDefault
	// PriorityBulk is for messages that may wait behind other work, such as
	// newsletters. Broadcasts always use it.
	PriorityBulk Priority = tasks.QueueBulk
)

// Valid reports whether p is one of the three priorities.
func (p Priority) Valid() bool {
	switch p {
	case PriorityCritical, PriorityDefault, PriorityBulk:
		return true
	}
	return false
}

func (p Priority) apply(s *settings) error {
	if s.call == callBroadcast {
		return &OptionError{Option: "Priority", Err: errMessagesOnly}
	}
	if !p.Valid() {
		return &OptionError{Option: "Priority", Err: fmt.Errorf("%q: use critical, default or bulk", string(p))}
	}
	if s.method != nil && s.method.Kind == tasks.KindCallback {
		return &OptionError{Option: "Priority", Err: errors.New("answerCallbackQuery always uses the callbacks queue")}
	}
	s.queue = string(p)
	return nil
}

// Critical is [PriorityCritical], for messages a user waits for.
func Critical() Option { return PriorityCritical }

// Bulk is [PriorityBulk], for messages that may wait behind other work.
func Bulk() Option { return PriorityBulk }

// MaxIdempotencyKeyLength is the longest [IdempotencyKey], in characters.
const MaxIdempotencyKeyLength = 200

// MaxScheduleAhead bounds [SendAt] and [SendIn]: a message or broadcast
// can be scheduled at most this far ahead (366 days, so that "the same day
// next year" always fits). A queue is not a calendar: a time further out is
// far more likely a mistake (year 9999, a duration in the wrong unit) than
// a plan, and the bound keeps every derived expiry (an idempotency key
// lives for the delay plus [Config.Retention]) far from overflowing.
const MaxScheduleAhead = 366 * 24 * time.Hour

// ErrInvalidOption is matched (errors.Is) by every [*OptionError].
var ErrInvalidOption = errors.New("client: invalid option")

// OptionError reports an option that a call refused, e.g. an unknown
// priority or a send time too far ahead. Nothing was queued.
// errors.Is(err, [ErrInvalidOption]) is true.
type OptionError struct {
	// Option is the name of the option's constructor: "Priority",
	// "IdempotencyKey", "SendAt", "SendIn", "Deadline", "MaxRetry",
	// "Ordered", "Bot", "TaskID", "BroadcastParallelism",
	// "BroadcastChunkSize" or "BroadcastTTL".
	Option string
	// Err says what is wrong with it.
	Err error
}

func (e *OptionError) Error() string { return "client: option " + e.Option + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *OptionError) Unwrap() error { return e.Err }

// Is reports whether target is [ErrInvalidOption].
func (e *OptionError) Is(target error) bool { return target == ErrInvalidOption }

var (
	errMessagesOnly   = errors.New("applies to messages, not broadcasts (they always use the bulk queue)")
	errBroadcastsOnly = errors.New("applies to broadcasts only")
)

// Option changes how one call queues its message, reply, batch or
// broadcast. Options are checked when the call runs: a bad one, or one that
// does not apply to the call, makes it return an [*OptionError] and queue
// nothing. When an option is given twice, the last one wins. A nil Option
// is ignored.
//
// [SendMessage], [SendReply] and [SendBatch] take [Priority], [Critical],
// [Bulk], [IdempotencyKey] (not SendBatch), [SendAt], [SendIn], [Deadline],
// [MaxRetry] and [Ordered]. [Broadcast] takes [IdempotencyKey], [SendAt],
// [SendIn], [BroadcastParallelism], [BroadcastChunkSize] and [BroadcastTTL].
// [Call], [CallJSON] and the typed calls (SendPhoto, ...) take the options of
// SendMessage and [Bot]; [TaskID] applies to SendMessage, SendReply and
// the calls; [Ordered] applies to sendMessage only, and
// answerCallbackQuery and sendChatAction take no [SendAt] or [SendIn] (nor
// answerCallbackQuery a [Priority]).
//
// [SendMessage]: Client.SendMessage
// [SendReply]: Client.SendReply
// [SendBatch]: Client.SendBatch
// [Broadcast]: Client.Broadcast
// [Call]: Client.Call
// [CallJSON]: Client.CallJSON
type Option interface {
	apply(*settings) error
}

// option is an Option made of a function; errors it returns are wrapped in
// an OptionError naming it.
type option struct {
	name string
	fn   func(*settings) error
}

func (o option) apply(s *settings) error {
	if err := o.fn(s); err != nil {
		var oe *OptionError
		if errors.As(err, &oe) {
			return err
		}
		return &OptionError{Option: o.name, Err: err}
	}
	return nil
}

// call is the kind of call options are applied to.
type call int

const (
	callMessage   call = iota // SendMessage, SendReply
	callBatch                 // SendBatch
	callBroadcast             // Broadcast
	callMethod                // Call and the typed methods (SendPhoto, ...)
)

// settings is what the options of one call add up to.
type settings struct {
	call      call
	queue     string
	key       string
	processAt time.Time     // zero: now
	delay     time.Duration // SendIn's; processAt is now plus delay
	when      string        // the option that set the time: "SendAt" or "SendIn"
	deadline  time.Time     // zero: none
	maxRetry  int           // 0: the client's
	ordered   bool          // see Ordered

	taskID string // see TaskID; empty: a new id

	// Calls only.
	method    *tasks.Method // the method called
	bot       string        // see Bot
	target    *Ref          // see Target
	replyTo   *Ref          // see ReplyTo
	everyEdit bool          // see EveryEdit

	// Broadcasts only.
	lanes     int
	chunkSize int
	ttl       time.Duration
}

// messagesOnly is the check of options that broadcasts refuse.
func messagesOnly(s *settings) error {
	if s.call == callBroadcast {
		return errMessagesOnly
	}
	return nil
}

// broadcastsOnly is the check of options that only broadcasts take.
func broadcastsOnly(s *settings) error {
	if s.call != callBroadcast {
		return errBroadcastsOnly
	}
	return nil
}

// MaxTaskIDLength is the longest id [TaskID] takes.
const MaxTaskIDLength = 64

// NewTaskID returns a new task id, as the client picks for every task: 26
// characters of lowercase base32. Pass it to [Client.PutFile] and then, with
// [TaskID], to [Client.CallJSON].
func NewTaskID() string { return newID() }

// taskIDOption is the Option of TaskID; a type of its own so that
// [Client.CallJSON] can find the holder of its stored files.
type taskIDOption string

// TaskID queues the task of [Client.SendMessage], [Client.SendReply],
// [Client.Call], [Client.CallJSON] or a typed method under id instead of a
// new one: for a caller that stores a call's files before it queues the
// call ([Client.PutFile]), held by the id. id must be new, best from
// [NewTaskID]: an id in use (asynq.ErrTaskIDConflict) fails the call. It has
// 1 to [MaxTaskIDLength] characters a-z, A-Z, 0-9, '-' and '_' (it names
// Redis keys and URL paths); anything else is an [*OptionError] naming
// "TaskID". SendBatch and Broadcast, which queue many tasks, refuse it.
func TaskID(id string) Option { return taskIDOption(id) }

func (id taskIDOption) apply(s *settings) error {
	if s.call == callBatch || s.call == callBroadcast {
		return &OptionError{Option: "TaskID", Err: errors.New("applies to one message or call, not to a batch or broadcast")}
	}
	if err := checkTaskID(string(id)); err != nil {
		return &OptionError{Option: "TaskID", Err: err}
	}
	s.taskID = string(id)
	return nil
}

// checkTaskID checks that id has 1 to MaxTaskIDLength characters of
// [a-zA-Z0-9_-].
func checkTaskID(id string) error {
	if id == "" || len(id) > MaxTaskIDLength {
		return fmt.Errorf("%q: must have 1 to %d characters", id, MaxTaskIDLength)
	}
	for _, r := range id {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("%q: use only a-z, A-Z, 0-9, '-' and '_'", id)
		}
	}
	return nil
}

// idOf returns the id s gives a task: TaskID's, or a new one.
func (s *settings) idOf() string {
	if s.taskID != "" {
		return s.taskID
	}
	return newID()
}

// IdempotencyKey makes the call safe to repeat. For a message or reply: for
// as long as the client's [Config.Retention] (plus the delay of a scheduled
// message), a second call with the same key queues nothing and returns a
// [*DuplicateError] naming the first task; keys are global across queues
// and bots. For a broadcast: while the first broadcast with the key is
// stored ([BroadcastTTL]), and the broadcast's id is derived from the key.
// A key has 1 to 200 printable characters. A batch cannot share one key.
func IdempotencyKey(key string) Option {
	return option{"IdempotencyKey", func(s *settings) error {
		if s.call == callBatch {
			return errors.New("a batch cannot share one key: send each message with its own")
		}
		if err := checkIdempotencyKey(key); err != nil {
			return err
		}
		s.key = key
		return nil
	}}
}

// checkIdempotencyKey checks that key has 1 to MaxIdempotencyKeyLength
// printable characters.
func checkIdempotencyKey(key string) error {
	n := utf8.RuneCountInString(key)
	if n == 0 || n > MaxIdempotencyKeyLength || !utf8.ValidString(key) {
		return fmt.Errorf("must have 1 to %d characters", MaxIdempotencyKeyLength)
	}
	for _, r := range key {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("has a non-printable character %U", r)
		}
	}
	return nil
}

// SendAt schedules the message (or the start of a broadcast) for t, at most
// [MaxScheduleAhead] from now. A time not in the future means now. Workers
// move due messages to their queue every few seconds
// (DELAYED_TASK_CHECK_INTERVAL), so a message may leave that much later.
func SendAt(t time.Time) Option {
	return option{"SendAt", func(s *settings) error {
		s.processAt, s.delay, s.when = t, 0, "SendAt"
		return nil
	}}
}

// SendIn schedules the message (or the start of a broadcast) d from now;
// d <= 0 means now, and d may be at most [MaxScheduleAhead].
func SendIn(d time.Duration) Option {
	return option{"SendIn", func(s *settings) error {
		if d > MaxScheduleAhead {
			return fmt.Errorf("%v is more than %v ahead (the longest delay)", d, MaxScheduleAhead)
		}
		s.processAt, s.delay, s.when = time.Time{}, d, "SendIn"
		return nil
	}}
}

// Deadline makes the message worthless after t: a worker that takes it
// later drops it without sending or retrying it (state archived, outcome
// event "dropped"), and a send still in flight at t is cut off (and dropped
// when its retry comes). t must be in the future and after any [SendAt]
// time.
func Deadline(t time.Time) Option {
	return option{"Deadline", func(s *settings) error {
		if err := messagesOnly(s); err != nil {
			return err
		}
		if t.IsZero() {
			return errors.New("the zero time")
		}
		s.deadline = t
		return nil
	}}
}

// MaxRetry sets how many times a transient failure (network, Telegram 5xx)
// is retried before the message is archived; n >= 1. Rate-limit waits (429)
// do not use up retries, but they need at least one. The default is the
// client's [Config.MaxRetry].
func MaxRetry(n int) Option {
	return option{"MaxRetry", func(s *settings) error {
		if err := messagesOnly(s); err != nil {
			return err
		}
		if n < 1 {
			return fmt.Errorf("%d: must be at least 1", n)
		}
		s.maxRetry = n
		return nil
	}}
}

// BroadcastParallelism sets how many chunks of a broadcast are sent at the
// same time, across all workers (1 to 64, default
// [DefaultBroadcastParallelism]). Each takes one sender of a worker while it
// runs. With Telegram's 30 messages per second and about 100-200 ms per
// request, 8 keep the budget busy; more only help with limits off or for
// paid broadcasts.
func BroadcastParallelism(n int) Option {
	return option{"BroadcastParallelism", func(s *settings) error {
		if err := broadcastsOnly(s); err != nil {
			return err
		}
		if n < 1 || n > tasks.MaxBroadcastParallelism {
			return fmt.Errorf("%d: must be 1 to %d", n, tasks.MaxBroadcastParallelism)
		}
		s.lanes = n
		return nil
	}}
}

// BroadcastChunkSize sets how many recipients one chunk task of a broadcast
// sends to (1 to 10000). The default is total/parallelism, between 50 and
// 1000.
func BroadcastChunkSize(n int) Option {
	return option{"BroadcastChunkSize", func(s *settings) error {
		if err := broadcastsOnly(s); err != nil {
			return err
		}
		if n < 1 || n > tasks.MaxBroadcastChunk {
			return fmt.Errorf("%d: must be 1 to %d", n, tasks.MaxBroadcastChunk)
		}
		s.chunkSize = n
		return nil
	}}
}

// BroadcastTTL sets how long a broadcast's recipients, progress and blocked
// list are kept, from its creation (default [DefaultBroadcastTTL], at least
// 1 minute). A broadcast still sending when it expires stops.
func BroadcastTTL(d time.Duration) Option {
	return option{"BroadcastTTL", func(s *settings) error {
		if err := broadcastsOnly(s); err != nil {
			return err
		}
		if d < time.Minute {
			return fmt.Errorf("%v: must be at least 1m", d)
		}
		s.ttl = d
		return nil
	}}
}

// apply runs opts over the defaults in s and checks how they combine.
func (s *settings) apply(now time.Time, opts []Option) error {
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(s); err != nil {
			return err
		}
	}
	if s.delay > 0 {
		s.processAt = now.Add(s.delay)
	}
	if !s.processAt.IsZero() && s.processAt.Sub(now) > MaxScheduleAhead {
		return &OptionError{Option: s.when, Err: fmt.Errorf("%s is more than %v ahead (the furthest a send can be scheduled)",
			s.processAt.UTC().Format(time.RFC3339), MaxScheduleAhead)}
	}
	if !s.processAt.After(now) {
		s.processAt = time.Time{}
	}
	if s.ordered && !s.processAt.IsZero() {
		return &OptionError{Option: "Ordered", Err: errors.New("an ordered message cannot be scheduled (SendAt, SendIn): it would hold up its chat")}
	}
	if !s.deadline.IsZero() {
		if !s.deadline.After(now) {
			return &OptionError{Option: "Deadline", Err: fmt.Errorf("%s has passed", s.deadline.Format(time.RFC3339))}
		}
		if !s.processAt.IsZero() && !s.deadline.After(s.processAt) {
			return &OptionError{Option: "Deadline", Err: fmt.Errorf("%s is not after the send time %s",
				s.deadline.Format(time.RFC3339), s.processAt.Format(time.RFC3339))}
		}
	}
	return nil
}
