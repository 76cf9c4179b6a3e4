package sandbox

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Config configures a [Sandbox]. Its zero value is a valid configuration: no
// latency, every well-formed token accepted, no limits, faults seeded with 0,
// all request fields recorded and logs discarded.
type Config struct {
	// Latency is added to every Bot API call (not to the admin API) before
	// the reply is written. Default 0.
	Latency time.Duration
	// LatencyJitter adds a further uniformly random delay in
	// [0, LatencyJitter) to every Bot API call. Default 0.
	LatencyJitter time.Duration
	// Tokens, when non-empty, lists the only bot tokens accepted; a request
	// with any other token gets 401 Unauthorized. Each must look like
	// "<digits>:<secret>". Default: any token of that form is accepted.
	Tokens []string
	// Limits are the flood limits enforced from the start; they can be
	// changed with [Sandbox.SetLimits]. Default: no limits.
	Limits Limits
	// Seed seeds the random source used by [Rule.Probability] and
	// LatencyJitter. Default 0, itself a fixed seed.
	Seed int64
	// NoRecordParams skips building [Received.Params] for each delivered
	// message, which makes a request cheaper in benchmarks. Default false.
	NoRecordParams bool
	// Logger receives one debug record per Bot API call (bot id, method,
	// chat id, status, fault; never a token) and server errors. Default:
	// logs are discarded.
	Logger *slog.Logger
}

func (c Config) validate() error {
	var errs []error
	if c.Latency < 0 {
		errs = append(errs, fmt.Errorf("latency %v is negative", c.Latency))
	}
	if c.LatencyJitter < 0 {
		errs = append(errs, fmt.Errorf("latency jitter %v is negative", c.LatencyJitter))
	}
	for i, tok := range c.Tokens {
		if _, ok := botIDOf(tok); !ok {
			errs = append(errs, fmt.Errorf("token #%d is not of the form <digits>:<secret>", i))
		}
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sandbox: config: %w", err)
	}
	return nil
}

// Limits are the flood limits the sandbox enforces, each read literally as a
// sliding-window count: at most N deliveries in any window of length W, with
// N = max(1, floor(rate)) and W = N/rate periods, a period being a second (a
// minute for Group). See the package documentation for the exact rule. A
// rate of 0 turns that limit off.
type Limits struct {
	// Global is the messages per second one bot may send, counting every
	// send without allow_paid_broadcast. Telegram's figure is about 30: at
	// most 30 in any second.
	Global float64 `json:"global"`
	// Chat is the messages per second one bot may send to one chat (any
	// chat, groups included). Telegram's figure is 1.
	Chat float64 `json:"chat"`
	// Group is the messages per MINUTE one bot may send to one group chat:
	// a negative chat id or an @username. Telegram's figure is 20: at most
	// 20 in any 60 seconds.
	Group float64 `json:"group"`
	// Paid is the messages per second one bot may send with
	// allow_paid_broadcast=true; those sends are not counted in Global (but
	// still in Chat and Group). Telegram's figure is 1000.
	Paid float64 `json:"paid"`
}

// TelegramLimits returns Telegram's published limits: 30 messages per second
// per bot, 1 per second per chat, 20 per minute per group and 1000 paid
// broadcast messages per second.
func TelegramLimits() Limits {
	return Limits{Global: 30, Chat: 1, Group: 20, Paid: 1000}
}

// Validate reports whether l is usable: rates must be finite and not
// negative.
func (l Limits) Validate() error {
	var errs []error
	for _, r := range []struct {
		name string
		v    float64
	}{{"global", l.Global}, {"chat", l.Chat}, {"group", l.Group}, {"paid", l.Paid}} {
		if r.v < 0 || math.IsNaN(r.v) || math.IsInf(r.v, 0) {
			errs = append(errs, fmt.Errorf("limit %s = %v: must be a finite rate >= 0", r.name, r.v))
		}
	}
	return errors.Join(errs...)
}
