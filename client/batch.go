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

// batchWorkers bounds the enqueues SendBatch runs at once. Each enqueue is
// one Redis round trip (asynq's enqueue script), so throughput grows with
// concurrency until Redis or the connection pool is busy.
const batchWorkers = 32

// SendBatch validates and queues many independent messages with the same
// options, up to 32 at a time: one task per message, as if each went
// through [Client.SendMessage]. It returns one receipt and one error per
// message, in order: errs[i] is nil when msgs[i] was queued, and
// receipts[i] is nil when it was not. Invalid messages do not stop the
// others; once Redis is found unavailable, the messages not yet tried fail
// at once with an error wrapping [ErrUnavailable] and can be retried. An
// [IdempotencyKey] cannot be shared by a batch: with one, every message
// fails with an [*OptionError]. With [Ordered], the messages of each chat
// are queued one after the other, in the order of msgs.
//
// To send one message in several parts as a unit, use [Client.SendReply].
func (c *Client) SendBatch(ctx context.Context, msgs []*tasks.SendMessage, opts ...Option) ([]*Receipt, []error) {
	receipts := make([]*Receipt, len(msgs))
	errs := make([]error, len(msgs))
	now := time.Now()
	ready := make([]*prepared, len(msgs))
	var (
		groups [][]int // indexes of msgs queued one after the other
		index  = map[tasks.OrderKey]int{}
	)
	for i, m := range msgs {
		p, err := c.prepare(ctx, now, callBatch, m, opts)
		if err != nil {
			errs[i] = err
			continue
		}
		ready[i] = p
		if !p.s.ordered {
			groups = append(groups, []int{i})
			continue
		}
		// Ordered: one group per chat, in the order of msgs.
		k := tasks.OrderKeyOf(p.msg.BotName(), p.msg.ChatID.String())
		g, ok := index[k]
		if !ok {
			g = len(groups)
			index[k] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	c.enqueueGroups(ctx, ready, groups, receipts, errs)
	return receipts, errs
}

// enqueueGroups enqueues ready[i] for every i of groups: the indexes of one
// group one after the other, different groups concurrently (batchWorkers at
// most). After the first connection failure the rest fail without a try.
func (c *Client) enqueueGroups(ctx context.Context, ready []*prepared, groups [][]int, receipts []*Receipt, errs []error) {
	var (
		next atomic.Int64
		down atomic.Pointer[error] // first connection failure
		wg   sync.WaitGroup
	)
	for range min(batchWorkers, len(groups)) {
		wg.Go(func() {
			for {
				g := int(next.Add(1)) - 1
				if g >= len(groups) {
					return
				}
				for _, i := range groups[g] {
					switch {
					case ctx.Err() != nil:
						errs[i] = ctx.Err()
					case down.Load() != nil:
						errs[i] = fmt.Errorf("client: not tried after an earlier failure: %w", *down.Load())
					default:
						receipts[i], errs[i] = c.enqueue(ctx, ready[i])
						if errors.Is(errs[i], ErrUnavailable) {
							down.CompareAndSwap(nil, &errs[i])
						}
					}
				}
			}
		})
	}
	wg.Wait()
}
