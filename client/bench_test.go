package client_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/tasks"
)

// BenchmarkEnqueue measures queued messages per second against a local
// redis-server: one producer, 100 concurrent producers, and SendBatch.
func BenchmarkEnqueue(b *testing.B) {
	s := redistest.Start(b)
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: s.Addr()}, Bots: []string{"default"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	rdb := s.Client(b)
	ctx := context.Background()
	reset := func(b *testing.B) {
		b.Helper()
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
	}
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	}
	m := msg(42, "Your order has shipped")

	b.Run("producers=1", func(b *testing.B) {
		reset(b)
		for b.Loop() {
			if _, err := c.SendMessage(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("producers=1/idempotency-key", func(b *testing.B) {
		reset(b)
		i := 0
		for b.Loop() {
			i++
			if _, err := c.SendMessage(ctx, m, client.IdempotencyKey(strconv.Itoa(i))); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("producers=100", func(b *testing.B) {
		reset(b)
		b.SetParallelism((100 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.SendMessage(ctx, m); err != nil {
					b.Error(err)
					return
				}
			}
		})
		report(b)
	})
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprintf("SendBatch/batch=%d", size), func(b *testing.B) {
			batch := make([]*tasks.SendMessage, size)
			for i := range batch {
				batch[i] = m
			}
			reset(b)
			sent := 0
			for sent < b.N {
				n := min(size, b.N-sent)
				_, errs := c.SendBatch(ctx, batch[:n])
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
				sent += n
			}
			report(b)
		})
	}
}
