package events_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/events"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/tasks"
)

// sampleEvent is a typical "sent" event: a 26-character task id, a
// private chat, one message id.
func sampleEvent(i int) *tasks.Event {
	return &tasks.Event{
		Outcome: tasks.OutcomeSent, TaskID: strings.Repeat("k", 20) + strconv.Itoa(100000+i), Method: "sendMessage",
		Type: tasks.TypeSendMessage, Bot: "default", Chat: strconv.Itoa(700000000 + i), ChatID: int64(700000000 + i),
		MessageIDs: []int64{int64(1000 + i)}, Time: time.Now(),
	}
}

func usedMemory(b *testing.B, rdb *redis.Client) int64 {
	b.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no used_memory in INFO")
	return 0
}

// BenchmarkStreamMemory appends 100,000 typical events in pipelines of 100
// and reports the Redis memory each takes (B/event) and the append rate.
//
//	go test -run '^$' -bench StreamMemory -benchtime 1x ./internal/events/
func BenchmarkStreamMemory(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	srv := redistest.Start(b)
	rdb := srv.Client(b)
	for range b.N {
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		w := events.NewWriter(rdb, n)
		before := usedMemory(b, rdb)
		start := time.Now()
		for i := 0; i < n; i += 100 {
			_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for j := i; j < i+100; j++ {
					w.Queue(ctx, p, sampleEvent(j))
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		elapsed := time.Since(start)
		after := usedMemory(b, rdb)
		b.ReportMetric(float64(after-before)/n, "B/event")
		b.ReportMetric(n/elapsed.Seconds(), "events/s")
	}
}
