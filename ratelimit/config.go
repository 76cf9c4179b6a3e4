package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/telequeue/telequeue/internal/keys"
)

// Defaults of [Config] fields left zero.
const (
	DefaultMaxWait = 2 * time.Second
	DefaultMargin  = 0.03
	DefaultPrefix  = keys.RateLimitPrefix
)

// maxInterval bounds the emission interval of a limit (1/rate), so that TATs
// and expiries stay small exact integers in Lua.
const maxInterval = 24 * time.Hour

// Config sets the limits. Rates are cluster-wide: every process that sends
// with the same bot through the same Redis shares them.
type Config struct {
	// Global is the budget of one bot in messages per second for sends
	// without Key.Paid. 0 turns the limit off; Telegram allows about 30.
	Global float64
	// Chat is the budget of one chat in messages per second, for private
	// chats and groups alike. 0 turns the limit off; Telegram allows about
	// 1.
	Chat float64
	// Group is the budget of one group chat (Key.Group) in messages per
	// MINUTE, applied in addition to Chat. 0 turns the limit off; Telegram
	// allows 20.
	Group float64
	// Paid is the budget of one bot in messages per second for sends with
	// Key.Paid (allow_paid_broadcast). Paid sends use it instead of Global,
	// and do not consume Global. 0 turns the limit off; Telegram allows up
	// to 1000.
	Paid float64
	// MaxWait is the longest wait Reserve grants: a send that would have
	// to wait longer is not reserved, and its task should be rescheduled.
	// Default 2s.
	MaxWait time.Duration
	// Margin is the fraction added to every emission interval to absorb
	// the jitter between the reserved instant and the moment Telegram sees
	// the request. Telegram counts sends per window (30 in a second, 20 in
	// a minute to a group): with margin m the N sends the limiter grants
	// for a window W are spread over (1+m)·W, so they still fit W when one
	// arrives up to m·W later than the next. With the default 0.03 a 30/s
	// budget is used at 29.1/s and sends may be 30 ms late on the one-second
	// limits, 1.8 s on the per-minute group limit. Must be below 1. (0 means
	// the default; for practically no margin use a tiny value such as
	// 1e-9.)
	Margin float64
	// Prefix starts every key. It must not contain '{' or '}' (the bot name
	// is the Redis Cluster hash tag). Default "telequeue:rl:".
	Prefix string
}

func (c *Config) setDefaults() {
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.Margin == 0 {
		c.Margin = DefaultMargin
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
}

func (c *Config) validate() error {
	var errs []error
	for _, r := range []struct {
		name string
		rate float64
		per  time.Duration
	}{
		{"Global", c.Global, time.Second},
		{"Chat", c.Chat, time.Second},
		{"Group", c.Group, time.Minute},
		{"Paid", c.Paid, time.Second},
	} {
		switch {
		case math.IsNaN(r.rate) || math.IsInf(r.rate, 0) || r.rate < 0:
			errs = append(errs, fmt.Errorf("%s rate %v: must be a finite number >= 0", r.name, r.rate))
		case r.rate > 0 && float64(r.per)/r.rate > float64(maxInterval):
			errs = append(errs, fmt.Errorf("%s rate %v: one message per more than %v", r.name, r.rate, maxInterval))
		}
	}
	if c.MaxWait < 0 || c.MaxWait > maxInterval {
		errs = append(errs, fmt.Errorf("invalid MaxWait %v: must be between 0 and %v", c.MaxWait, maxInterval))
	}
	if math.IsNaN(c.Margin) || c.Margin < 0 || c.Margin >= 1 {
		errs = append(errs, fmt.Errorf("invalid Margin %v: must be in [0, 1)", c.Margin))
	}
	if strings.ContainsAny(c.Prefix, "{}") {
		errs = append(errs, fmt.Errorf("invalid Prefix %q: must not contain '{' or '}'", c.Prefix))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// interval is the emission interval of rate messages per period, plus the
// margin, in whole microseconds (rounded up, so never shorter than asked).
func interval(rate float64, per time.Duration, margin float64) int64 {
	us := float64(per/time.Microsecond) / rate * (1 + margin)
	return int64(math.Ceil(us))
}
