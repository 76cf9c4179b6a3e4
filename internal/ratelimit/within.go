package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ReserveWithin is [Limiter.Reserve] with its own longest wait: it reserves a
// slot only if the send may happen within maxWait, and otherwise reserves
// nothing and answers ok = false with the wait.
//
// Broadcasts use it with a short maxWait (a lookahead of a few tens of
// milliseconds) so that they never hold reservations far ahead of now.
// Reservations are first come, first served: with many broadcast senders each
// holding a slot up to Config.MaxWait ahead, the bot's budget would be booked
// seconds into the future, and a message from the critical queue, which
// reserves behind them, would wait that long. A broadcast sender whose slot
// lies beyond its lookahead sleeps until the slot comes within it and asks
// again, so broadcast reservations reach at most maxWait ahead and other
// senders queue behind at most that much broadcast traffic.
//
// A negative maxWait means Config.MaxWait.
func (l *Limiter) ReserveWithin(ctx context.Context, k Key, maxWait time.Duration) (wait time.Duration, ok bool, err error) {
	if maxWait < 0 {
		maxWait = -1
	}
	r, err := l.reserveWithin(ctx, k, maxWait)
	if err != nil {
		return 0, false, err
	}
	return r.wait, r.ok, nil
}

// Paused returns how long a 429 pause recorded by [Limiter.Throttled] still
// holds k's bot or chat (0 if none). A sender that reserved a slot and slept
// until it asks just before sending, so that a 429 another sender met in the
// meantime stops it instead of drawing another 429 (which would extend the
// pause). One round trip.
func (l *Limiter) Paused(ctx context.Context, k Key) (time.Duration, error) {
	if k.Bot == "" || k.Chat == "" {
		return 0, ErrInvalidKey
	}
	base := l.base(k.Bot)
	var bot, chat *redis.DurationCmd
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		bot = p.PTTL(ctx, base+"pause")
		chat = p.PTTL(ctx, base+"pause:chat:"+k.Chat)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ratelimit: pause of bot %q: %w", k.Bot, err)
	}
	// PTTL answers -2 (no key) or -1 (no expiry, never written here) as
	// negative durations.
	return max(bot.Val(), chat.Val(), 0), nil
}
