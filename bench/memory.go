package main

import (
	"context"
	"fmt"
	"time"
)

// measureMemory reports Redis memory per pending message.
func (b *bench) measureMemory(ctx context.Context) error {
	n := b.size.memory
	perMsg, err := b.memoryPer(ctx, n, func() error {
		c, err := b.newClient()
		if err != nil {
			return err
		}
		defer c.Close()
		return enqueueMany(ctx, c, messages(n, 1_000_000, "m"))
	})
	if err != nil {
		return err
	}
	ok := perMsg <= targetMemory
	b.report.add("memory", fmt.Sprintf("used_memory per pending message (%d × 150-char text, client defaults)", n),
		fmt.Sprintf("%.0f B", perMsg), "≤ 1024 B", &ok)

	perPlain, err := b.memoryPer(ctx, n, func() error { return b.enqueuePlain(ctx, n) })
	if err != nil {
		return err
	}
	b.report.add("memory", "  for reference: plain asynq task, same JSON, no task id/retention",
		fmt.Sprintf("%.0f B", perPlain), "", nil)
	return b.flush(ctx)
}

// memoryPer measures used_memory before and after enqueue, with no client
// connected but the bench's own, divided by n.
func (b *bench) memoryPer(ctx context.Context, n int, enqueue func() error) (float64, error) {
	if err := b.flush(ctx); err != nil {
		return 0, err
	}
	b.progress(fmt.Sprintf("memory: %d pending messages", n))
	time.Sleep(200 * time.Millisecond)
	before, err := b.usedMemory(ctx)
	if err != nil {
		return 0, err
	}
	if err := enqueue(); err != nil {
		return 0, err
	}
	if got, err := b.pending(ctx, queue); err != nil || int(got) != n {
		return 0, fmt.Errorf("pending %d of %d (%v)", got, n, err)
	}
	time.Sleep(200 * time.Millisecond) // let the closed clients' buffers go
	after, err := b.usedMemory(ctx)
	if err != nil {
		return 0, err
	}
	return float64(after-before) / float64(n), nil
}
