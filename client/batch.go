package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/telequeue/telequeue/tasks"
)

// batchWorkers bounds the enqueues EnqueueMany runs at once. Each enqueue is
// one Redis round trip (asynq's enqueue script), so throughput grows with
// concurrency until Redis or the connection pool is busy.
const batchWorkers = 32

// EnqueueMany validates and queues many messages with the same options, up
// to 32 at a time. It returns one receipt and one error per message, in
// order: errs[i] is nil when msgs[i] was queued, and receipts[i] is nil when
// it was not. Invalid messages do not stop the others; once Redis is found
// unavailable, the messages not yet tried fail at once with an error wrapping
// [ErrUnavailable] and can be retried. An [IdempotencyKey] cannot be shared by
// a batch: with one, every message fails. With [Ordered], the messages of
// each chat are queued one after the other, in the order of msgs.
func (c *Client) EnqueueMany(ctx context.Context, msgs []*tasks.SendMessage, opts ...Option) ([]*Receipt, []error) {
	receipts := make([]*Receipt, len(msgs))
	errs := make([]error, len(msgs))
	now := time.Now()
	ready := make([]*prepared, len(msgs))
	todo := make([]int, 0, len(msgs))
	for i, m := range msgs {
		p, err := c.prepare(now, m, opts)
		if err == nil && p.s.key != "" {
			err = fmt.Errorf("%w: an idempotency key cannot be shared by a batch", ErrInvalidOption)
		}
		if err != nil {
			errs[i] = err
			continue
		}
		ready[i] = p
		todo = append(todo, i)
	}

	if len(todo) > 0 && ready[todo[0]].s.ordered {
		c.enqueueManyOrdered(ctx, ready, todo, receipts, errs)
		return receipts, errs
	}
	var (
		next atomic.Int64
		down atomic.Pointer[error] // first connection failure
		wg   sync.WaitGroup
	)
	for range min(batchWorkers, len(todo)) {
		wg.Go(func() {
			for {
				n := int(next.Add(1)) - 1
				if n >= len(todo) {
					return
				}
				i := todo[n]
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				if err := down.Load(); err != nil {
					errs[i] = fmt.Errorf("client: not tried after an earlier failure: %w", *err)
					continue
				}
				receipts[i], errs[i] = c.enqueue(ctx, ready[i])
				if errors.Is(errs[i], ErrUnavailable) {
					down.CompareAndSwap(nil, &errs[i])
				}
			}
		})
	}
	wg.Wait()
	return receipts, errs
}
