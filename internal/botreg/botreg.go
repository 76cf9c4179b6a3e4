// Package botreg keeps the registry of bot names in Redis ([keys.Bots]):
// every running worker announces the names of the bots it has tokens for
// (never the tokens), and producers without a bot list of their own check
// names against it, so that a message for a bot no worker serves is refused
// when it is queued instead of archived by the worker.
//
// A name counts as known for [TTL] after a worker last announced it;
// workers announce every [Interval]. Expiry times are taken from Redis's
// clock (TIME in the scripts), so clock skew between hosts does not matter.
package botreg

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/tasks"
)

// Timing of the registry.
const (
	// TTL is how long a name stays known after its last announcement: three
	// announcements, so that one or two failed writes (a Redis failover)
	// do not make producers refuse a bot that is served.
	TTL = time.Minute
	// Interval is how often a worker announces its names.
	Interval = 20 * time.Second
)

// announceScript extends every name in ARGV[2..] to now+ARGV[1] ms (never
// shortening a later expiry another worker set), drops expired names and
// lets the key itself expire with its last name.
var announceScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do
	redis.call('ZADD', KEYS[1], 'GT', now + ttl, ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
	redis.call('PEXPIREAT', KEYS[1], last[2])
end
return 0
`)

// knownScript returns the names whose expiry is after now.
var knownScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
`)

// Announce registers names as known for ttl from now. Names that are not
// bot names (tasks.ValidBotName) are skipped.
func Announce(ctx context.Context, rdb redis.Scripter, names []string, ttl time.Duration) error {
	args := []any{strconv.FormatInt(ttl.Milliseconds(), 10)}
	for _, n := range names {
		if tasks.ValidBotName(n) { // a token pasted in the wrong place never reaches the registry
			args = append(args, n)
		}
	}
	if len(args) == 1 {
		return nil
	}
	if err := announceScript.Run(ctx, rdb, []string{keys.Bots}, args...).Err(); err != nil {
		return fmt.Errorf("botreg: announce: %w", err)
	}
	return nil
}

// Known returns the names announced within their TTL, sorted.
func Known(ctx context.Context, rdb redis.Scripter) ([]string, error) {
	names, err := knownScript.Run(ctx, rdb, []string{keys.Bots}).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("botreg: read: %w", err)
	}
	return names, nil
}

// Start announces names now and every [Interval] in a goroutine until ctx
// is done or stop is called; stop waits for the goroutine to end. A failed
// announcement is logged and tried again at the next interval: a worker
// keeps working while Redis is away.
func Start(ctx context.Context, rdb redis.Scripter, names []string, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	announce := func() {
		actx, acancel := context.WithTimeout(ctx, Interval/2)
		err := Announce(actx, rdb, names, TTL)
		acancel()
		if err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "could not register the bot names in Redis; producers without TELEGRAM_BOTS may refuse them", "error", err)
		}
	}
	// The first announcement is made before Start returns, so that a
	// worker is known by the time it serves anything (e.g. /healthz).
	announce()
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			announce()
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
