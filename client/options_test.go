package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/tasks"
)

// TestOptionError: every refused option comes back as an *OptionError
// naming it (matching ErrInvalidOption), whichever call it was given to,
// and nothing is stored.
func TestOptionError(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	year9999 := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	const maxDuration = 2562047 * time.Hour // about time.Duration's limit
	type call func(ctx context.Context, opts ...client.Option) error
	message := func(ctx context.Context, opts ...client.Option) error {
		_, err := b.c.SendMessage(ctx, msg(1, "hi"), opts...)
		return err
	}
	reply := func(ctx context.Context, opts ...client.Option) error {
		_, err := b.c.SendReply(ctx, telego.ChatID{ID: 1}, tasks.Texts("a", "b"), opts...)
		return err
	}
	batch := func(ctx context.Context, opts ...client.Option) error {
		_, errs := b.c.SendBatch(ctx, []*tasks.SendMessage{msg(1, "a"), msg(2, "b")}, opts...)
		return errors.Join(errs...)
	}
	broadcast := func(ctx context.Context, opts ...client.Option) error {
		_, err := b.c.Broadcast(ctx, &tasks.SendMessage{Text: "hi"}, []int64{1, 2}, opts...)
		return err
	}
	tests := []struct {
		name       string
		call       call
		opts       []client.Option
		wantOption string
	}{
		{"unknown priority", message, []client.Option{client.Priority("urgent")}, "Priority"},
		{"empty key", message, []client.Option{client.IdempotencyKey("")}, "IdempotencyKey"},
		{"year 9999", message, []client.Option{client.SendAt(year9999)}, "SendAt"},
		{"year 9999 with a key", message, []client.Option{client.IdempotencyKey("far"), client.SendAt(year9999)}, "SendAt"},
		{"send in 2562047h", message, []client.Option{client.SendIn(maxDuration)}, "SendIn"},
		{"send in 2562047h with a key", message, []client.Option{client.SendIn(maxDuration), client.IdempotencyKey("far")}, "SendIn"},
		{"a day past the horizon", message, []client.Option{client.SendAt(time.Now().Add(client.MaxScheduleAhead + 24*time.Hour))}, "SendAt"},
		{"deadline passed", message, []client.Option{client.Deadline(time.Now().Add(-time.Minute))}, "Deadline"},
		{"deadline before send time", message, []client.Option{client.SendIn(time.Hour), client.Deadline(time.Now().Add(time.Minute))}, "Deadline"},
		{"max retry 0", message, []client.Option{client.MaxRetry(0)}, "MaxRetry"},
		{"ordered and scheduled", message, []client.Option{client.Ordered(), client.SendIn(time.Hour)}, "Ordered"},
		{"broadcast option on a message", message, []client.Option{client.BroadcastParallelism(4)}, "BroadcastParallelism"},
		{"reply in year 9999", reply, []client.Option{client.SendAt(year9999)}, "SendAt"},
		{"reply with a broadcast TTL", reply, []client.Option{client.BroadcastTTL(time.Hour)}, "BroadcastTTL"},
		{"batch with one key", batch, []client.Option{client.IdempotencyKey("k")}, "IdempotencyKey"},
		{"batch in 2562047h", batch, []client.Option{client.SendIn(maxDuration)}, "SendIn"},
		{"broadcast with a priority", broadcast, []client.Option{client.Critical()}, "Priority"},
		{"broadcast ordered", broadcast, []client.Option{client.Ordered()}, "Ordered"},
		{"broadcast with a deadline", broadcast, []client.Option{client.Deadline(time.Now().Add(time.Hour))}, "Deadline"},
		{"broadcast in year 9999", broadcast, []client.Option{client.SendAt(year9999)}, "SendAt"},
		{"broadcast in 2562047h with a key", broadcast, []client.Option{client.IdempotencyKey("far"), client.SendIn(maxDuration)}, "SendIn"},
		{"broadcast starting after it expires", broadcast, []client.Option{client.SendIn(48 * time.Hour), client.BroadcastTTL(24 * time.Hour)}, "SendIn"},
		{"broadcast parallelism 0", broadcast, []client.Option{client.BroadcastParallelism(0)}, "BroadcastParallelism"},
		{"broadcast chunk too big", broadcast, []client.Option{client.BroadcastChunkSize(tasks.MaxBroadcastChunk + 1)}, "BroadcastChunkSize"},
		{"broadcast TTL under a minute", broadcast, []client.Option{client.BroadcastTTL(time.Second)}, "BroadcastTTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			err := tt.call(ctx, tt.opts...)
			var oe *client.OptionError
			if !errors.As(err, &oe) || !errors.Is(err, client.ErrInvalidOption) {
				t.Fatalf("got %v, want an *OptionError", err)
			}
			if oe.Option != tt.wantOption || oe.Err == nil {
				t.Errorf("OptionError naming %q (%v), want %q", oe.Option, oe.Err, tt.wantOption)
			}
			if n, err := b.rdb.DBSize(ctx).Result(); err != nil || n != 0 {
				t.Errorf("%d keys in Redis (%v), want none", n, err)
			}
		})
	}
}

// TestScheduleHorizon: the furthest time accepted, with an idempotency
// key, whose TTL is the delay plus the retention.
func TestScheduleHorizon(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{Retention: time.Hour})
	ctx := testCtx(t)
	in := client.MaxScheduleAhead - time.Minute
	r, err := b.c.SendMessage(ctx, msg(1, "next year"), client.SendIn(in), client.IdempotencyKey("yearly"))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(r.ScheduledAt); d < in-time.Minute || d > in {
		t.Errorf("scheduled in %v, want about %v", d, in)
	}
	ttl, err := b.rdb.PTTL(ctx, "telequeue:idem:yearly").Result()
	if want := in + time.Hour; err != nil || ttl < want-time.Minute || ttl > want {
		t.Errorf("key TTL %v (%v), want about %v", ttl, err, want)
	}
	if _, err := b.c.Broadcast(ctx, &tasks.SendMessage{Text: "hi"}, []int64{1}, client.SendIn(in), client.BroadcastTTL(client.MaxScheduleAhead)); err != nil {
		t.Errorf("broadcast at the horizon: %v", err)
	}
}
