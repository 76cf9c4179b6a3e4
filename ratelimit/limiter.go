package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
)

// Errors returned by the package.
var (
	// ErrInvalidConfig wraps every error of [New] about its Config.
	ErrInvalidConfig = errors.New("ratelimit: invalid config")
	// ErrInvalidKey is returned for a Key without Bot or Chat.
	ErrInvalidKey = errors.New("ratelimit: key needs Bot and Chat")
)

// Throttled's policy (see the package documentation).
const (
	// distinctWindow and distinctChats: this many chats of one bot
	// answered 429 within the window pause the whole bot.
	distinctWindow = time.Second
	distinctChats  = 2
	// defaultRetryAfter replaces a retryAfter <= 0 (a 429 without
	// parameters.retry_after).
	defaultRetryAfter = time.Second
)

// expirySlack keeps a TAT key this much beyond its TAT. Once the TAT has
// passed the key no longer changes any answer, so the slack only has to cover
// the rounding to milliseconds.
const expirySlack = 100 * time.Millisecond

// Limiter enforces the limits of a [Config] for every process that shares
// its Redis. It is safe for concurrent use.
type Limiter struct {
	rdb     redis.UniversalClient
	prefix  string
	maxWait time.Duration // Config.MaxWait
	// shapes holds, for each combination of Key.ChatOnly, Key.Paid and
	// Key.Group, which limits apply and the script arguments for them;
	// index chatOnly<<2|paid<<1|group.
	shapes [8]shape
}

// shape describes the limits of one kind of Key.
type shape struct {
	bot   string // suffix of the bot-wide budget key: "global", "paid" or "" (off)
	chat  bool   // the per-chat limit applies
	group bool   // the per-group limit applies
	args  []any  // ARGV of reserveScript
}

// limits is the number of TAT keys the shape uses; 0 means only pauses apply.
func (s *shape) limits() int { return len(s.args) - 2 }

// New returns a Limiter that keeps its state in rdb (a client, a failover
// client or a cluster client). cfg's zero fields take their defaults; New
// returns an error wrapping [ErrInvalidConfig] for invalid values. New does
// not contact Redis.
func New(rdb redis.UniversalClient, cfg Config) (*Limiter, error) {
	if rdb == nil {
		return nil, fmt.Errorf("%w: nil Redis client", ErrInvalidConfig)
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l := &Limiter{rdb: rdb, prefix: cfg.Prefix, maxWait: cfg.MaxWait}
	for i := range l.shapes {
		chatOnly, paid, group := i&4 != 0, i&2 != 0, i&1 != 0
		s := &l.shapes[i]
		s.args = []any{cfg.MaxWait.Microseconds(), expirySlack.Milliseconds()}
		switch {
		case chatOnly:
		case paid && cfg.Paid > 0:
			s.bot = "paid"
			s.args = append(s.args, interval(cfg.Paid, time.Second, cfg.Margin))
		case !paid && cfg.Global > 0:
			s.bot = "global"
			s.args = append(s.args, interval(cfg.Global, time.Second, cfg.Margin))
		}
		if cfg.Chat > 0 {
			s.chat = true
			s.args = append(s.args, interval(cfg.Chat, time.Second, cfg.Margin))
		}
		if group && cfg.Group > 0 {
			s.group = true
			s.args = append(s.args, interval(cfg.Group, time.Minute, cfg.Margin))
		}
	}
	return l, nil
}

// reservation is the answer of reserveScript.
type reservation struct {
	ok        bool
	wait      time.Duration
	at        int64 // the granted instant t*, µs of the Redis server's clock; 0 if unknown
	chatBound bool  // the chat's limits or pause, not the bot's, set wait
}

// Reserve asks for the earliest moment k may be sent, considering every limit
// that applies to k and any pause set by [Limiter.Throttled]. If that moment
// is at most MaxWait away, one slot of each of those limits is reserved for
// it and ok is true: sleep wait, then send. Otherwise nothing is reserved, ok
// is false, and the task should be rescheduled after wait (without counting a
// failure) so that it does not occupy a worker.
//
// Reserve makes one round trip to Redis: one script call, or, when no limit
// applies to k, one EXISTS on the pause keys (plus the script call while a
// pause runs).
func (l *Limiter) Reserve(ctx context.Context, k Key) (wait time.Duration, ok bool, err error) {
	r, err := l.reserve(ctx, k)
	if err != nil {
		return 0, false, err
	}
	return r.wait, r.ok, nil
}

func (l *Limiter) reserve(ctx context.Context, k Key) (reservation, error) {
	return l.reserveWithin(ctx, k, Within{MaxWait: -1})
}

// reserveWithin is reserve with w's longest wait and share (see [Within]).
func (l *Limiter) reserveWithin(ctx context.Context, k Key, w Within) (reservation, error) {
	return l.reservePiped(ctx, k, w, nil)
}

// reservePiped is reserveWithin that queues pre's commands in the same
// round trip as its first command (when pre is not nil).
func (l *Limiter) reservePiped(ctx context.Context, k Key, w Within, pre func(redis.Pipeliner)) (reservation, error) {
	if k.Bot == "" || k.Chat == "" {
		return reservation{}, ErrInvalidKey
	}
	s := &l.shapes[shapeIndex(k)]
	kk := keys.RateLimitOf(l.prefix, k.Bot)
	botPause, chatPause := kk.Pause(), kk.ChatPause(k.Chat)
	fail := func(err error) (reservation, error) {
		return reservation{}, fmt.Errorf("ratelimit: reserve for bot %q: %w", k.Bot, err)
	}

	if s.limits() == 0 {
		// Every limit is off for this kind of key: only a 429 pause can
		// delay the send. A pause key expires when the pause ends, so
		// one EXISTS answers the common case.
		var exists *redis.IntCmd
		err := l.piped(ctx, pre, func(p redis.Pipeliner) {
			exists = p.Exists(ctx, botPause, chatPause)
		})
		if err == nil {
			err = exists.Err()
		}
		if err != nil {
			return fail(err)
		}
		if exists.Val() == 0 {
			return reservation{ok: true}, nil
		}
		pre = nil // done
	}

	keys := make([]string, 2, 5)
	keys[0], keys[1] = botPause, chatPause
	if s.bot != "" {
		keys = append(keys, kk.Budget(s.bot))
	}
	if s.chat {
		keys = append(keys, kk.Chat(k.Chat))
	}
	if s.group {
		keys = append(keys, kk.Group(k.Chat))
	}
	argv := make([]any, 0, len(s.args)+2)
	argv = append(argv, w.args(s)...)
	if k.Cost > 1 {
		// ARGV[3..] are the limits' intervals: a send that counts as Cost
		// messages takes Cost slots of each.
		for i := 2; i < len(argv); i++ {
			argv[i] = argv[i].(int64) * int64(k.Cost)
		}
	}
	hasBot := 0
	if s.bot != "" {
		hasBot = 1
	}
	argv = append(argv, hasBot)
	if w.ChatMaxWait > 0 {
		argv = append(argv, w.ChatMaxWait.Microseconds())
	}
	var cmd *redis.Cmd
	if pre == nil {
		cmd = reserveScript.Run(ctx, l.rdb, keys, argv...)
	} else {
		// EVALSHA in the pipeline; the script is loaded on its first use
		// on a server (NOSCRIPT), or after SCRIPT FLUSH.
		err := l.piped(ctx, pre, func(p redis.Pipeliner) {
			cmd = reserveScript.EvalSha(ctx, p, keys, argv...)
		})
		if err != nil && !redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			return fail(err)
		}
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			cmd = reserveScript.Run(ctx, l.rdb, keys, argv...)
		}
	}
	res, err := cmd.Int64Slice()
	if err == nil && len(res) != 4 {
		err = fmt.Errorf("unexpected script reply %v", res)
	}
	if err != nil {
		return fail(err)
	}
	return reservation{ok: res[0] == 1, wait: time.Duration(res[1]) * time.Microsecond, at: res[2], chatBound: res[3] == 1}, nil
}

// piped runs pre's commands and then cmds' in one pipeline; without pre it
// runs cmds' alone the same way. The error is the first failed command's
// (a redis.Nil of pre's commands does not count: pre reads its own results).
func (l *Limiter) piped(ctx context.Context, pre, cmds func(redis.Pipeliner)) error {
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if pre != nil {
			pre(p)
		}
		cmds(p)
		return nil
	})
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

// Throttled records that Telegram answered 429 with retryAfter for k, so
// that no process sends to k's chat, and depending on the policy described in
// the package documentation to k's bot, before retryAfter has passed. A
// retryAfter <= 0 counts as one second. An existing longer pause is kept.
func (l *Limiter) Throttled(ctx context.Context, k Key, retryAfter time.Duration) error {
	_, err := l.throttle(ctx, k, retryAfter)
	return err
}

// throttle is Throttled that also tells whether the whole bot was paused.
func (l *Limiter) throttle(ctx context.Context, k Key, retryAfter time.Duration) (botPaused bool, err error) {
	if k.Bot == "" || k.Chat == "" {
		return false, ErrInvalidKey
	}
	if retryAfter <= 0 {
		retryAfter = defaultRetryAfter
	}
	pauseBot := !k.Group
	kk := keys.RateLimitOf(l.prefix, k.Bot)
	n, err := throttleScript.Run(ctx, l.rdb, []string{kk.Pause(), kk.ChatPause(k.Chat), kk.Recent429(), kk.Pauses()},
		retryAfter.Microseconds(), k.Chat, pauseBot, distinctWindow.Microseconds(), distinctChats,
		keys.PauseMemberChatPrefix+k.Chat, keys.PauseMemberBot).Int64()
	if err != nil {
		return false, fmt.Errorf("ratelimit: record 429 for bot %q: %w", k.Bot, err)
	}
	return n == 1, nil
}

// PauseIndex is the key of the sorted set that lists bot's running 429
// pauses, kept by [Limiter.Throttled]: a reader that learns the running
// pauses in a round trip it makes anyway (a worker's dequeue) can tell with
// [Paused] whether a key needs the limiter's round trip at all. Members:
// "bot" for the bot's pause, "chat:<chat>" for a chat's; scores: the
// pause's end, in microseconds of the Redis clock. Ended pauses are removed
// lazily: a reader compares the scores with the Redis clock.
func (l *Limiter) PauseIndex(bot string) string { return keys.RateLimitOf(l.prefix, bot).Pauses() }

// Unlimited reports whether no limit applies to k (every limit of its kind
// is off): only a 429 pause can delay it.
func (l *Limiter) Unlimited(k Key) bool { return l.shapes[shapeIndex(k)].limits() == 0 }

// Paused reports whether running, the members of k's bot's pause index
// (see [Limiter.PauseIndex]) whose pauses have not ended, hold k: a pause of
// its bot or of its chat.
func Paused(k Key, running []string) bool {
	for _, m := range running {
		if m == keys.PauseMemberBot || (strings.HasPrefix(m, keys.PauseMemberChatPrefix) && m[len(keys.PauseMemberChatPrefix):] == k.Chat) {
			return true
		}
	}
	return false
}

func shapeIndex(k Key) int {
	i := 0
	if k.ChatOnly {
		i |= 4
	}
	if k.Paid {
		i |= 2
	}
	if k.Group {
		i |= 1
	}
	return i
}
