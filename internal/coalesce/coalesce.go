// Package coalesce records, for producers, the newest queued call to a
// coalescing target (an edit of a message's text, caption, media or
// keyboard; a draft): the worker completes an older call to the same target
// as superseded instead of sending it (see handlers.CallHandler and
// tasks.Call.CoalesceKey).
package coalesce

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/tasks"
)

// TTL is how long the newest call of a target is remembered: longer than
// any older call to it stays queued in practice. When it expires, an older
// call still queued is delivered (never lost); it cannot overtake the newest,
// which was delivered long before.
const TTL = 24 * time.Hour

// Register records taskID as the newest call to c's target, if c coalesces
// (a validated call without tasks.HeaderNoCoalesce). Call it after the task
// is enqueued: recorded before, a failed enqueue would leave older calls
// superseded by a call that does not exist.
func Register(ctx context.Context, rdb redis.Cmdable, c *tasks.Call, taskID string) error {
	target := c.CoalesceKey()
	if target == "" {
		return nil
	}
	if err := rdb.Set(ctx, keys.Coalesce(target), taskID, TTL).Err(); err != nil {
		return fmt.Errorf("coalesce: record the newest call of its target: %w", err)
	}
	return nil
}
