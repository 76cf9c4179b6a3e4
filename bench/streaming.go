package main

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/internal/streamcase"
)

// The streaming reply of issue 12: "Thinking…" and then 300 edits of it
// over 10 s, in a private chat and in a group at once, through six
// workers with Telegram's limits against the sandbox enforcing them, while
// 50 other chats get a message each.

// streamingLimits are Telegram's: 30/s per bot, 1/s per chat, 20/min per
// group; paid broadcasts are not part of the case.
var streamingLimits = sandbox.Limits{Global: 30, Chat: 1, Group: 20}

// measureStreaming runs the case once and reports what Telegram saw.
func (b *bench) measureStreaming(ctx context.Context) error {
	const sec = "streaming"
	if err := b.flush(ctx); err != nil {
		return err
	}
	if err := b.sb.SetLimits(streamingLimits); err != nil {
		return err
	}
	defer func() { _ = b.sb.SetLimits(sandbox.Limits{}) }()
	l := streamingLimits
	b.progress("streaming: starting 6 workers with Telegram's limits")
	g, err := b.startWorkers(ctx, 6, [4]float64{l.Global, l.Chat, l.Group, l.Paid}, b.taskCheck, "", nil)
	if err != nil {
		return err
	}
	defer g.stop()
	ac := asynq.NewClient(asynq.RedisClientOpt{Addr: b.redis.Addr()})
	defer ac.Close()

	const private, group = 1001, -1001000000002
	b.progress("streaming: 300 edits of one message over 10 s, in a private chat and in a group, and 50 other messages")
	res, err := streamcase.Run(ctx, streamcase.Config{
		Client: ac, Inspector: b.insp, Redis: b.rdb, Sandbox: b.sb, BotID: sandboxBotID,
		Chats: []int64{private, group}, Edits: 300, Over: 10 * time.Second, Others: 50,
	})
	if err != nil {
		return err
	}
	margin := "0.03 (default)"
	if b.opts.margin > 0 {
		margin = ftoa(b.opts.margin)
	}
	b.report.add(sec, "6 × 10 workers, TELEGRAM_RATE_GLOBAL=30 CHAT=1 GROUP=20, margin "+margin+"; sandbox with the same limits", "", "", nil)
	ms := func(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }
	for _, st := range res.Streams {
		name := "private chat"
		if st.Chat == group {
			name = "group (20/min)"
		}
		final := st.FinalText == st.LastText
		b.report.add(sec, name+": edits offered / sent / superseded / archived",
			fmt.Sprintf("%d / %d / %d / %d", st.Offered, st.Sent, st.Superseded, st.Archived), "", nil)
		b.report.add(sec, "  least time between two calls to the chat", ms(st.MinGap), "≥ 1000 ms", ptr(st.MinGap >= time.Second))
		b.report.add(sec, "  final text is the last edit's", fmt.Sprint(final), "true", ptr(final))
		b.report.add(sec, "  last edit reached Telegram, after its enqueue", ms(st.AfterEnqueue), "", nil)
		b.report.add(sec, "  last edit reached Telegram, after the chat's first free slot (previous call + 1 s; + 3 s in the group)", ms(st.AfterFreeSlot), "", nil)
	}
	b.report.add(sec, "429s (limit violations, early retries)", fmt.Sprintf("%d (%d violations)", res.TooMany, res.Violations), "0", ptr(res.TooMany == 0))
	b.report.add(sec, fmt.Sprintf("other chats' messages (%d): enqueue→Telegram p50 / p95 / max", len(res.OtherLatency)),
		fmt.Sprintf("%s / %s / %s", ms(res.Percentile(50)), ms(res.Percentile(95)), ms(res.Percentile(100))), "", nil)
	return b.flush(ctx)
}

func ptr(v bool) *bool { return &v }
