package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/ctxwait"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/tasks"
)

// Receipt identifies a queued message.
type Receipt struct {
	// ID is the task id; pass it to [Client.Status].
	ID string `json:"id"`
	// Queue is the queue the message waits in: its priority.
	Queue string `json:"queue"`
	// ScheduledAt is when the message becomes due; zero if it is due now.
	ScheduledAt time.Time `json:"scheduled_at,omitzero"`
	// Type is the task type, e.g. [tasks.TypeSendMessage] or
	// "telegram:send_photo" (see [tasks.Method]).
	Type string `json:"type,omitempty"`
}

// prepared is a validated message ready to be enqueued.
type prepared struct {
	msg  *tasks.SendMessage
	task *asynq.Task
	id   string
	s    settings
	// bot and chat name the order of an ordered message or call.
	bot, chat string
}

// SendMessage validates m and queues it for a worker to send: one message,
// one task of type [tasks.TypeSendMessage] ([tasks.TypeSendMessageOrdered]
// with [Ordered]). It returns once the message is stored in Redis.
//
// An invalid message is refused before anything is queued with a
// [*tasks.ValidationError] (match it with errors.As, or its sentinel such as
// [tasks.ErrTextTooLong] with errors.Is); so is a bot that no worker knows
// (see [Config.Bots]). A bad option is an [*OptionError]. With an
// [IdempotencyKey] used before, the error is a [*DuplicateError]
// (errors.Is(err, [ErrDuplicate])). Connection failures wrap
// [ErrUnavailable].
func (c *Client) SendMessage(ctx context.Context, m *tasks.SendMessage, opts ...Option) (*Receipt, error) {
	p, err := c.prepare(ctx, time.Now(), callMessage, m, opts)
	if err != nil {
		return nil, err
	}
	return c.enqueue(ctx, p)
}

// newSettings are the settings of a call before its options.
func (c *Client) newSettings(kind call) settings {
	return settings{call: kind, queue: tasks.QueueDefault, maxRetry: c.cfg.MaxRetry}
}

// prepare checks m and opts and builds the task; its only I/O is the bot
// check against the workers' registry (cached).
func (c *Client) prepare(ctx context.Context, now time.Time, kind call, m *tasks.SendMessage, opts []Option) (*prepared, error) {
	if m == nil {
		return nil, errors.New("client: message is nil")
	}
	s := c.newSettings(kind)
	if err := s.apply(now, opts); err != nil {
		return nil, err
	}
	id := s.idOf()
	newTask := tasks.NewSendMessageTask
	if s.ordered {
		newTask = tasks.NewOrderedSendMessageTask
	}
	// The constructors validate m and return its *ValidationError as is.
	task, err := newTask(m, c.taskOptions(&s, id)...)
	if err != nil {
		return nil, err
	}
	if err := c.checkBot(ctx, m.BotName()); err != nil {
		return nil, err
	}
	return &prepared{msg: m, task: c.withHeaders(task, &s, id, 0), id: id, s: s, bot: m.BotName(), chat: m.ChatID.String()}, nil
}

// withHeaders returns task, built with s and id, carrying s's idempotency
// key (so that the message's outcome event names it) and deadline in
// headers. Without either it returns task as is.
//
// The deadline is a header rather than asynq's Deadline option: asynq fails
// a task past its deadline before any handler sees it and retries it, again
// and again, until its retries run out; the worker's server reads the header
// instead and drops the task at once, as "dropped".
func (c *Client) withHeaders(task *asynq.Task, s *settings, id string, parts int) *asynq.Task {
	headers := map[string]string{}
	if s.key != "" {
		headers[tasks.HeaderIdempotencyKey] = s.key
	}
	if !s.deadline.IsZero() {
		headers[tasks.HeaderDeadline] = strconv.FormatInt(s.deadline.UnixMilli(), 10)
	}
	if len(headers) == 0 {
		return task
	}
	opts := append(tasks.DefaultOptions(task.Type(), parts), c.taskOptions(s, id)...)
	return asynq.NewTaskWithHeaders(task.Type(), task.Payload(), headers, opts...)
}

// taskOptions are the asynq options of a task with id queued with s.
func (c *Client) taskOptions(s *settings, id string) []asynq.Option {
	aopts := []asynq.Option{
		asynq.Queue(s.queue),
		asynq.TaskID(id),
		asynq.MaxRetry(s.maxRetry),
		asynq.Retention(c.cfg.Retention),
	}
	if !s.processAt.IsZero() {
		aopts = append(aopts, asynq.ProcessAt(s.processAt))
	}
	return aopts
}

// enqueue stores a prepared message, claiming its idempotency key first.
func (c *Client) enqueue(ctx context.Context, p *prepared) (*Receipt, error) {
	if p.s.key != "" {
		if err := c.claimKey(ctx, p); err != nil {
			return nil, err
		}
	}
	err := c.enqueueTask(ctx, p)
	if err != nil {
		if !c.enqueuedAnyway(ctx, p, err) {
			return nil, fmt.Errorf("client: enqueue: %w", unavailable(err))
		}
	}
	if c.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []any{"task_id", p.id, "queue", p.s.queue, "bot", p.msg.BotName(), "chat_id", p.msg.ChatID.String()}
		if !p.s.processAt.IsZero() {
			attrs = append(attrs, "scheduled_at", p.s.processAt)
		}
		c.log.DebugContext(ctx, "message queued", attrs...)
	}
	return &Receipt{ID: p.id, Queue: p.s.queue, ScheduledAt: p.s.processAt, Type: p.task.Type()}, nil
}

// claimIdemScript sets the idempotency key unless it exists, and returns the
// existing value if it does (false, i.e. redis.Nil, when the key was set).
// One script so that a key expiring between SET NX and GET cannot be missed;
// plain SET NX GET would need Redis 7.
var claimIdemScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
`)

// releaseIdemScript deletes the key only if it still holds our value.
var releaseIdemScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// claimKey records p's idempotency key, or returns a *DuplicateError naming
// the task that holds it. The key lives for the retention, plus the delay of
// a scheduled message, so that it outlives the task's own id conflict window.
func (c *Client) claimKey(ctx context.Context, p *prepared) error {
	ttl := c.cfg.Retention
	if !p.s.processAt.IsZero() {
		ttl += time.Until(p.s.processAt)
	}
	val := p.id + "|" + p.s.queue
	prev, err := claimIdemScript.Run(ctx, c.rdb, []string{keys.Idempotency(p.s.key)}, val, strconv.FormatInt(ttl.Milliseconds(), 10)).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return nil
	case err != nil:
		return fmt.Errorf("client: idempotency key: %w", unavailable(err))
	}
	id, queue, _ := strings.Cut(prev, "|")
	return &DuplicateError{Key: p.s.key, ID: id, Queue: queue}
}

// enqueuedAnyway handles a failed enqueue. A connection failure leaves the
// outcome unknown: if the task turns out to exist, the enqueue worked and
// true is returned. Otherwise a claimed idempotency key is released so that
// the caller can retry, unless Redis cannot tell us: then the key stays, and
// a retry reports the id as a duplicate rather than risk sending twice.
func (c *Client) enqueuedAnyway(ctx context.Context, p *prepared, enqErr error) bool {
	// Clean up even if the caller's context ended; bounded.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if isConnError(enqErr) || errors.Is(enqErr, context.DeadlineExceeded) || errors.Is(enqErr, context.Canceled) {
		_, err := ctxwait.Do(ctx, func() (*asynq.TaskInfo, error) { return c.inspector.GetTaskInfo(p.s.queue, p.id) })
		switch {
		case err == nil:
			return true
		case !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound):
			if p.s.key != "" {
				c.log.WarnContext(ctx, "enqueue outcome unknown; idempotency key kept", "task_id", p.id, "queue", p.s.queue, "error", err)
			}
			return false
		}
	}
	c.releaseKey(ctx, p)
	return false
}

// releaseKey deletes p's idempotency key, if it has one and still holds it,
// after a call that queued nothing.
func (c *Client) releaseKey(ctx context.Context, p *prepared) {
	if p.s.key == "" {
		return
	}
	err := releaseIdemScript.Run(ctx, c.rdb, []string{keys.Idempotency(p.s.key)}, p.id+"|"+p.s.queue).Err()
	if err != nil {
		c.log.WarnContext(ctx, "release idempotency key", "task_id", p.id, "error", err)
	}
}

// newID returns a random task id: 26 lowercase base32 characters, 130 bits.
func newID() string { return strings.ToLower(rand.Text()) }
