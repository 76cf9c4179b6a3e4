package ratelimit

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
)

// Within adjusts one reservation of [Limiter.Acquire].
type Within struct {
	// MaxWait is the longest wait reserved, in place of Config.MaxWait; a
	// negative value means Config.MaxWait.
	MaxWait time.Duration
	// Share is the fraction of the bot's budget (Global, or Paid for paid
	// sends) that the caller's kind of traffic may use, in (0, 1]; 0 means
	// 1. A send reserved with Share s moves the bot's next slot T/s after
	// it instead of T: that traffic alone runs at s times the rate, leaves
	// the rest to other senders, and leaves (1/s - 1)·T of slack after each
	// of its sends for the jitter between the reserved instant and the
	// moment Telegram sees the request. Per-chat and per-group limits are
	// not scaled.
	Share float64
	// ChatMaxWait, if positive, is the longest wait reserved when the wait
	// is chat-bound: when the chat's own limits or a pause of the chat, not
	// the bot's budget or pause, hold the send back (see
	// [Reservation.ChatBound]). A sender uses it to keep a chat that is
	// busy from occupying it for long while other chats could be served.
	ChatMaxWait time.Duration
}

// Reservation is the answer of [Limiter.Acquire].
type Reservation struct {
	// OK reports that a slot was reserved Wait from now; otherwise nothing
	// was reserved and Wait is how long the send would have had to wait.
	OK   bool
	Wait time.Duration
	// ChatBound reports that the chat's own limits or a pause of the chat,
	// not the bot's budget or a pause of the bot, set Wait.
	ChatBound bool
	// Long reports that Wait is beyond the longest wait reserved (Within's
	// MaxWait, or Config.MaxWait): the task should be rescheduled. A
	// refused wait that is not Long was refused by Within.ChatMaxWait.
	Long bool
}

// Acquire is [Limiter.Reserve] with w's longest wait and share: it reserves
// a slot only if the send may happen within w.MaxWait (and w.ChatMaxWait for
// a chat-bound wait), and otherwise reserves nothing and answers OK = false
// with the wait. It also tells whether the wait is chat-bound.
//
// Broadcasts use it with a short MaxWait (a lookahead of a few tens of
// milliseconds) so that they never hold reservations far ahead of now.
// Reservations are first come, first served: with many broadcast senders each
// holding a slot up to Config.MaxWait ahead, the bot's budget would be booked
// seconds into the future, and a message from the critical queue, which
// reserves behind them, would wait that long. A broadcast sender whose slot
// lies beyond its lookahead sleeps until the slot comes within it and asks
// again, so broadcast reservations reach at most MaxWait ahead and other
// senders queue behind at most that much broadcast traffic. With a Share
// below 1 they also leave part of the budget to those senders.
func (l *Limiter) Acquire(ctx context.Context, k Key, w Within) (Reservation, error) {
	return l.AcquireAfter(ctx, k, w, nil)
}

// AcquireAfter is [Limiter.Acquire] that sends pre's commands to Redis in
// the same round trip as its own first command, before it: a sender that
// has to read something before it sends saves a round trip. pre runs once,
// on a pipeline of the Limiter's Redis; the caller reads its commands'
// results after AcquireAfter returns (they hold their own errors, redis.Nil
// included). If pre is nil AcquireAfter is Acquire.
func (l *Limiter) AcquireAfter(ctx context.Context, k Key, w Within, pre func(redis.Pipeliner)) (Reservation, error) {
	if math.IsNaN(w.Share) || w.Share < 0 || w.Share > 1 {
		return Reservation{}, fmt.Errorf("%w: share %v: must be in (0, 1]", ErrInvalidConfig, w.Share)
	}
	maxWait := w.MaxWait
	if w.MaxWait < 0 {
		w.MaxWait, maxWait = -1, l.maxWait
	}
	r, err := l.reservePiped(ctx, k, w, pre)
	if err != nil {
		return Reservation{}, err
	}
	return Reservation{OK: r.ok, Wait: r.wait, ChatBound: r.chatBound, Long: !r.ok && r.wait > maxWait}, nil
}

// args returns the reserve script's ARGV for shape s under w.
func (w Within) args(s *shape) []any {
	scale := s.bot != "" && w.Share > 0 && w.Share < 1
	if w.MaxWait < 0 && !scale {
		return s.args
	}
	args := append([]any(nil), s.args...)
	if w.MaxWait >= 0 {
		args[0] = w.MaxWait.Microseconds()
	}
	if scale {
		// ARGV[3] is the bot-wide interval when a bot-wide limit applies.
		args[2] = int64(math.Ceil(float64(args[2].(int64)) / w.Share))
	}
	return args
}

// Paused returns how long a 429 pause recorded by [Limiter.Throttled] still
// holds k's bot or chat (0 if none). A sender that reserved a slot and slept
// until it asks just before sending, so that a 429 another sender met in the
// meantime stops it instead of drawing another 429 (which would extend the
// pause). One round trip.
func (l *Limiter) Paused(ctx context.Context, k Key) (time.Duration, error) {
	return l.PausedAfter(ctx, k, nil)
}

// PausedAfter is [Limiter.Paused] that sends pre's commands to Redis in the
// same round trip, before its own, as [Limiter.AcquireAfter] does: a sender
// that rechecks something just before it sends (its task's fence) saves a
// round trip. The caller reads pre's commands' results after PausedAfter
// returns.
func (l *Limiter) PausedAfter(ctx context.Context, k Key, pre func(redis.Pipeliner)) (time.Duration, error) {
	if k.Bot == "" || k.Chat == "" {
		return 0, ErrInvalidKey
	}
	kk := keys.RateLimitOf(l.prefix, k.Bot)
	var bot, chat *redis.DurationCmd
	// pre's commands answer for themselves (a GET's redis.Nil is no
	// failure of this read): only the PTTLs' errors count.
	_, _ = l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if pre != nil {
			pre(p)
		}
		bot = p.PTTL(ctx, kk.Pause())
		chat = p.PTTL(ctx, kk.ChatPause(k.Chat))
		return nil
	})
	if err := cmp.Or(bot.Err(), chat.Err()); err != nil {
		return 0, fmt.Errorf("ratelimit: pause of bot %q: %w", k.Bot, err)
	}
	// PTTL answers -2 (no key) or -1 (no expiry, never written here) as
	// negative durations.
	return max(bot.Val(), chat.Val(), 0), nil
}
