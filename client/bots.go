package client

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/botreg"
	"github.com/telequeue/telequeue/tasks"
)

// How the client caches the workers' bot registry (see [Config.Bots]).
const (
	// botCacheFresh is how long a read of the registry answers.
	botCacheFresh = 5 * time.Second
	// botCacheRetry is how old a read must be before a name missing from
	// it reads the registry again, so that a worker that just started is
	// seen within a second, and a stream of unknown names costs at most one
	// read a second.
	botCacheRetry = time.Second
)

// botCache is the last read of the workers' bot registry.
type botCache struct {
	mu     sync.Mutex
	known  []string // sorted; nil before the first read
	readAt time.Time
}

// checkBot refuses a bot name that the workers do not serve: one missing
// from Config.Bots, or, without that list, from the registry the running
// workers keep in Redis.
func (c *Client) checkBot(ctx context.Context, name string) error {
	if len(c.cfg.Bots) > 0 {
		return tasks.CheckBot(name, c.cfg.Bots)
	}
	if name == "" {
		name = tasks.DefaultBot
	}
	known, err := c.bots.lookup(ctx, c.rdb, name)
	if err != nil {
		return fmt.Errorf("client: bot registry: %w", unavailable(err))
	}
	if _, ok := slices.BinarySearch(known, name); ok {
		return nil
	}
	detail := fmt.Sprintf("%q: no running worker serves this bot (known: %s)", name, strings.Join(known, ", "))
	if len(known) == 0 {
		detail = fmt.Sprintf("%q: no running worker serves this bot: no worker has registered any bot in the last %v (is one running?)", name, botreg.TTL)
	}
	return &tasks.ValidationError{Field: "bot", Err: tasks.ErrUnknownBot, Detail: detail}
}

// lookup returns the registered names, read again when the last read is
// stale, or is older than botCacheRetry and lacks name.
func (b *botCache) lookup(ctx context.Context, rdb redis.Scripter, name string) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	age := time.Since(b.readAt)
	if b.known != nil && age < botCacheFresh {
		if _, ok := slices.BinarySearch(b.known, name); ok || age < botCacheRetry {
			return b.known, nil
		}
	}
	known, err := botreg.Known(ctx, rdb)
	if err != nil {
		return nil, err
	}
	slices.Sort(known)
	if known == nil {
		known = []string{}
	}
	b.known, b.readAt = known, time.Now()
	return known, nil
}
