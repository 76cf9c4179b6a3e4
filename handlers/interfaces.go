package handlers

import (
	"context"
	"time"

	"github.com/mymmrac/telego"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/ratelimit"
)

// Sender sends one message with one bot. *telego.Bot satisfies it, and so
// do the senders of [NewBots].
type Sender interface {
	SendMessage(ctx context.Context, params *telego.SendMessageParams) (*telego.Message, error)
}

var _ Sender = (*telego.Bot)(nil)

// Limiter enforces Telegram's limits for the whole cluster;
// *ratelimit.Limiter implements it.
type Limiter interface {
	// AcquireAfter asks for the earliest moment k may be sent. If that
	// moment is within w's longest wait, the slot is reserved and r.OK is
	// true: sleep r.Wait, then send. Otherwise nothing is reserved and the
	// task should be rescheduled after r.Wait, or, if r.ChatBound, may
	// sleep without a reservation (see [ratelimit.Reservation]). pre, if not
	// nil, queues commands that go to Redis in the same round trip.
	AcquireAfter(ctx context.Context, k ratelimit.Key, w ratelimit.Within, pre func(redis.Pipeliner)) (ratelimit.Reservation, error)
	// Throttled records that Telegram answered 429 with retryAfter for k, so
	// that no process sends to that bot or chat before it runs out.
	Throttled(ctx context.Context, k ratelimit.Key, retryAfter time.Duration) error
	// PausedAfter returns how long a pause recorded by Throttled still
	// holds k's bot or chat (0 if none). pre, if not nil, queues commands
	// that go to Redis in the same round trip.
	PausedAfter(ctx context.Context, k ratelimit.Key, pre func(redis.Pipeliner)) (time.Duration, error)
}

var _ Limiter = (*ratelimit.Limiter)(nil)

// Outcome of one Bot API call, as reported to an [Observer].
type Outcome string

// Outcomes.
const (
	OutcomeSent         Outcome = "sent"
	OutcomeRateLimited  Outcome = "rate_limited" // 429 from Telegram
	OutcomePermanent    Outcome = "permanent"    // 400/403: archived
	OutcomeUnauthorized Outcome = "unauthorized" // 401: bad token
	OutcomeMigrated     Outcome = "migrated"     // 400 with migrate_to_chat_id
	OutcomeTransient    Outcome = "transient"    // 5xx, timeout, network
	OutcomeDeduplicated Outcome = "deduplicated" // already sent, not sent again
	OutcomeSuperseded   Outcome = "superseded"   // a newer edit of the same target is queued: not sent
)

// Observer receives the handler's events, e.g. to export metrics. Methods
// must be safe for concurrent use and must not block.
type Observer interface {
	// Sent is called after every Bot API call with its outcome and latency.
	Sent(bot string, outcome Outcome, latency time.Duration)
	// RateLimitWait is called when the limiter delays a send: waited inside
	// the handler, or rescheduled when wait was too long.
	RateLimitWait(bot string, wait time.Duration, rescheduled bool)
	// Retry is called when a send fails transiently and will be retried.
	Retry(bot string)
}

type nopObserver struct{}

func (nopObserver) Sent(string, Outcome, time.Duration)       {}
func (nopObserver) RateLimitWait(string, time.Duration, bool) {}
func (nopObserver) Retry(string)                              {}
