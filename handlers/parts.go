package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redisx"
	"github.com/telequeue/telequeue/tasks"
)

// SendMessagesHandler handles [tasks.TypeSendMessages]: a multi-part reply,
// sent part after part to one chat by one task, each part through the same
// limiter, error classes and migration handling as a single message.
//
// Right after Telegram confirms a part, its result is written to the
// reply's progress in Redis (a hash per task), insisting while Redis is
// unreachable like the "sent" marker. A run of the task (a retry after a 5xx
// or a timeout, a reschedule after a 429, a rerun after a crash) skips the
// parts recorded there, so a part is never sent twice unless Telegram's
// answer to it was lost (then nothing can tell it was delivered, and it is
// sent again, like any message). When the last part is confirmed, the
// result — every part's message_id ([tasks.SendMessagesResult]) — becomes
// the task's result and sent marker, and the progress is deleted.
//
// A part that fails for good (400, 403) archives the task with the part's
// number in the reason; the parts before it stay delivered. Progress needs
// the handler's Redis client: without it (SENT_MARKERS=false) a retried
// reply starts again from its first part.
type SendMessagesHandler struct {
	h *SendMessageHandler
}

var _ asynq.Handler = (*SendMessagesHandler)(nil)

// NewSendMessagesHandler returns a handler that sends each part with send's
// bots, limiter, Redis and observer.
func NewSendMessagesHandler(send *SendMessageHandler) *SendMessagesHandler {
	return &SendMessagesHandler{h: send}
}

// ProcessTask sends the parts not sent yet, in order.
func (p *SendMessagesHandler) ProcessTask(ctx context.Context, t *asynq.Task) (err error) {
	defer func() { err = Expired(t, err) }()
	h := p.h
	ctx, cancel, err := withDeadline(ctx, t)
	defer cancel()
	if err != nil {
		return err
	}
	r, err := decodeTask(t, tasks.ParseSendMessages)
	if err != nil {
		return err
	}
	botName := r.BotName()
	bot, err := senderOf(h.bots, botName)
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	taskID, _ := asynq.GetTaskID(ctx)
	if done, err := h.alreadySent(ctx, t, taskID); err != nil || done {
		return err
	}
	done, err := p.progress(ctx, taskID)
	if err != nil {
		return fmt.Errorf("read reply progress: %w", err)
	}
	results := make([]tasks.SendResult, len(r.Parts))
	chat := r.ChatID
	// The task's fence is read before every part: with a limiter in its
	// calls (see waitForSlot), without one in the round trip that records
	// the part before (the first part's rode with the marker's read).
	var ride *fenceRide
	if h.limiter == nil {
		ride = newFenceRide(ctx, h.log)
	}
	for i := range r.Parts {
		if res, ok := done[i]; ok {
			results[i] = res
			if res.MigratedFrom != 0 && res.ChatID != 0 {
				chat = telego.ChatID{ID: res.ChatID}
			}
			continue
		}
		msg, sentTo, migratedFrom, err := h.send(ctx, botName, bot, taskID, &r.Parts[i], chat, nil)
		if err != nil {
			return fmt.Errorf("part %d of %d: %w", i+1, len(r.Parts), err)
		}
		chat = sentTo
		results[i] = sendResult(msg, sentTo, migratedFrom)
		data, err := json.Marshal(results[i])
		if err != nil {
			return err
		}
		var pre func(redis.Pipeliner)
		if i < len(r.Parts)-1 {
			pre = ride.pre(ctx)
		}
		if err := h.recordPart(ctx, taskID, i, data, pre); err != nil {
			return fmt.Errorf("part %d of %d: %w", i+1, len(r.Parts), err)
		}
		if err := ride.check(ctx); err != nil {
			return fmt.Errorf("before part %d of %d: %w", i+2, len(r.Parts), err)
		}
		h.log.DebugContext(ctx, "reply part sent", "task_id", taskID, "part", i+1, "parts", len(r.Parts), "chat_id", chat.String())
	}
	out := tasks.SendMessagesResult{SendResult: results[0], Parts: results}
	for _, res := range results {
		out.MessageIDs = append(out.MessageIDs, res.MessageID)
	}
	data, err := json.Marshal(out)
	if err != nil {
		return err
	}
	ev := newEvent(ctx, t, tasks.OutcomeSent, botName, r.ChatID.String())
	ev.ChatID, ev.MessageIDs = results[len(results)-1].ChatID, out.MessageIDs
	for _, res := range results {
		if res.MigratedFrom != 0 {
			ev.MigratedFrom = res.MigratedFrom
		}
	}
	// The marker answers any rerun now: the progress goes.
	return h.recordDelivery(ctx, t, taskID, data, ev, keys.Parts(taskID))
}

// progress reads the parts of the reply that Telegram already confirmed.
func (p *SendMessagesHandler) progress(ctx context.Context, taskID string) (map[int]tasks.SendResult, error) {
	h := p.h
	if h.rdb == nil || taskID == "" {
		return nil, nil
	}
	var fields map[string]string
	err := redisx.UntilAnswers(ctx, func() (err error) {
		fields, err = h.rdb.HGetAll(ctx, keys.Parts(taskID)).Result()
		return err
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	done := make(map[int]tasks.SendResult, len(fields))
	for k, v := range fields {
		i, err := strconv.Atoi(k)
		var res tasks.SendResult
		if err != nil || json.Unmarshal([]byte(v), &res) != nil {
			h.log.WarnContext(ctx, "ignoring an unreadable reply progress entry", "task_id", taskID, "field", k)
			continue
		}
		done[i] = res
	}
	return done, nil
}
