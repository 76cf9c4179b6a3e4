package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/internal/streamcase"
)

// TestStreamingReplyAtTelegramLimits is the case of issue 12: 6 worker
// processes × 10 senders against the sandbox enforcing Telegram's limits
// (1/s per chat, 20/min per group, 30/s per bot), the workers the same
// limits with a 10% margin. A producer queues "Thinking…" to a private
// chat and to a group, then 300 edits of each message by message_task_id
// over 10 s (30/s per chat, each text longer), registering each for
// coalescing; meanwhile 50 other chats get one message each.
//
// Asserted, per chat: every edit completed (sent or superseded, none
// archived), Telegram got far fewer edits than offered and never two calls
// to the chat less than a second apart, the message ends with the last
// edit's text; in the private chat the last edit reached Telegram within
// 1.5 s of the chat's first free slot after it was queued (the previous
// call + 1 s; in the group + 3 s, its 20/min pace, and the margin); no 429
// at all; the other chats' messages
// reached Telegram with a p95 under 1 s.
func TestStreamingReplyAtTelegramLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes; skipped with -short")
	}
	const (
		private = 8001
		group   = -8002
		margin  = 0.1
	)
	c := startCluster(t, 6, sandbox.Limits{Global: 30, Chat: 1, Group: 20},
		"TELEGRAM_RATE_GLOBAL=30", "TELEGRAM_RATE_CHAT=1", "TELEGRAM_RATE_GROUP=20", "TELEGRAM_RATE_PAID=0",
		"TELEGRAM_RATE_MARGIN=0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := streamcase.Run(ctx, streamcase.Config{
		Client: c.client, Inspector: c.insp, Redis: c.rdb, Sandbox: c.sb, BotID: botID,
		Chats: []int64{private, group}, Edits: 300, Over: 10 * time.Second, Others: 50,
		Within: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.TooMany != 0 || res.Violations != 0 {
		t.Errorf("the sandbox answered %d 429s (%d limit violations); want none", res.TooMany, res.Violations)
	}
	// The chat's calls: the sandbox enforces 1/s, the limiter leaves 10%.
	const tolerance = 50 * time.Millisecond
	groupGap := time.Duration(float64(time.Minute) / 20)
	for _, st := range res.Streams {
		t.Logf("chat %d: %d edits offered, %d sent, %d superseded, %d archived; least gap %v; last edit %v after its enqueue, %v after the chat's first free slot",
			st.Chat, st.Offered, st.Sent, st.Superseded, st.Archived, st.MinGap.Round(time.Millisecond),
			st.AfterEnqueue.Round(time.Millisecond), st.AfterFreeSlot.Round(time.Millisecond))
		if st.Archived != 0 || st.Sent+st.Superseded != st.Offered {
			t.Errorf("chat %d: %d offered = %d sent + %d superseded + %d archived; want every edit sent or superseded", st.Chat, st.Offered, st.Sent, st.Superseded, st.Archived)
		}
		if st.Sent == 0 || st.Sent > 15 {
			t.Errorf("chat %d: Telegram got %d of %d edits; want about one a second", st.Chat, st.Sent, st.Offered)
		}
		if st.MinGap < time.Second-tolerance {
			t.Errorf("chat %d: two calls %v apart; want at least 1 s", st.Chat, st.MinGap)
		}
		if st.FinalText != st.LastText {
			t.Errorf("chat %d: the message ends with %q; want the last edit's %q", st.Chat, st.FinalText, st.LastText)
		}
		bound := 1500 * time.Millisecond
		if st.Chat == group {
			// The group's slots come every 3 s (20/min), 3.3 s with the
			// workers' margin.
			bound += time.Duration(float64(groupGap) * margin)
		}
		if st.AfterFreeSlot > bound || st.AfterFreeSlot < -tolerance {
			t.Errorf("chat %d: the last edit reached Telegram %v after the chat's first free slot; want within %v", st.Chat, st.AfterFreeSlot, bound)
		}
	}
	p95 := res.Percentile(95)
	t.Logf("other chats: %d messages, latency p50 %v, p95 %v, max %v", len(res.OtherLatency), res.Percentile(50), p95, res.Percentile(100))
	if len(res.OtherLatency) != 50 || p95 > time.Second {
		t.Errorf("other chats: %d messages, p95 latency %v; want 50 within 1 s", len(res.OtherLatency), p95)
	}
}
