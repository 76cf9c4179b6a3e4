package handlers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redisx"
	"github.com/telequeue/telequeue/tasks"
)

// Recording what Telegram confirmed, shared by single messages and
// multi-part replies (broadcasts record each recipient in their own state,
// with the same insistence: see BroadcastHandler.settle).

// sendResult is the result of one delivered message.
func sendResult(msg *telego.Message, chat telego.ChatID, migratedFrom int64) tasks.SendResult {
	res := tasks.SendResult{MessageID: int64(msg.MessageID), ChatID: msg.Chat.ID, MigratedFrom: migratedFrom, Date: msg.Date}
	if chat.Username != "" {
		res.ChatUsername = chat.Username
	}
	return res
}

// tidyTimeout bounds a best-effort write after a send, whose failure only
// delays something: a second upload, a retention's end, an ordered chat's
// hand-over to its park delay.
const tidyTimeout = 10 * time.Second

// tidyContext returns a context for such a write: not canceled with the
// task's, and bounded by tidyTimeout.
func tidyContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), tidyTimeout)
}

// afterSend returns a context for the writes that record a confirmed send:
// not canceled with the task's (a shutdown or a lost lease must not lose
// what Telegram confirmed), and bounded by MarkerWriteTimeout.
func (h *SendMessageHandler) afterSend(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), h.markerWriteTimeout)
}

// recordDelivery records task t's confirmed delivery: its sent marker, its
// result, data, and its outcome event ev, and deletes the keys in obsolete,
// which the marker makes unneeded (a reply's progress).
//
// With [Completions], they ride in the round trip in which asynq completes
// the task (see there), and recordDelivery returns at once. Otherwise they go
// in one round trip of their own; if that fails, the marker is written
// insisting while Redis is unreachable, then the event, then the result.
func (h *SendMessageHandler) recordDelivery(ctx context.Context, t *asynq.Task, taskID string, data []byte, ev *tasks.Event, obsolete ...string) error {
	return h.record(ctx, t, taskID, data, ev, true, obsolete)
}

// recordDeliveryNow is recordDelivery without the ride: the records are
// written when it returns, for a caller that frees what a rerun would need
// (an upload) once the marker is stored.
func (h *SendMessageHandler) recordDeliveryNow(ctx context.Context, t *asynq.Task, taskID string, data []byte, ev *tasks.Event) error {
	return h.record(ctx, t, taskID, data, ev, false, nil)
}

func (h *SendMessageHandler) record(ctx context.Context, t *asynq.Task, taskID string, data []byte, ev *tasks.Event, ride bool, obsolete []string) error {
	qname, _ := asynq.GetQueueName(ctx)
	if ride && h.rdb != nil && taskID != "" && qname != "" && h.completions != nil {
		h.rideDelivery(ctx, qname, taskID, data, ev, obsolete)
		return nil
	}
	return h.recordNow(ctx, qname, taskID, data, ev, obsolete, func() error {
		_, err := t.ResultWriter().Write(data)
		return err
	})
}

// recordNow writes a delivery's records in one round trip; if that fails,
// the marker insisting while Redis is unreachable, then the event, then the
// result with writeResult, retried while Redis is unreachable until ctx is
// done. It fails only if neither the marker nor the result was stored.
func (h *SendMessageHandler) recordNow(ctx context.Context, qname, taskID string, data []byte, ev *tasks.Event, obsolete []string, writeResult func() error) error {
	marked := false
	if h.rdb != nil && taskID != "" {
		if qname != "" && h.recordSent(ctx, qname, taskID, data, ev, obsolete) {
			return nil
		}
		marked = h.recordAlone(ctx, taskID, data, ev, obsolete)
	}
	// asynq's connection may come back later than ours after an outage.
	err := redisx.UntilAnswers(ctx, writeResult)
	switch {
	case err == nil:
		return nil
	case marked:
		// The message is delivered and the marker holds its result, which
		// client.Status falls back to: completing beats a rerun that only
		// finds the marker, after asynq's lease recovery if Redis is down.
		h.log.WarnContext(ctx, "could not store the task's result; its sent marker holds it", "task_id", taskID, "error", err)
		return nil
	default:
		return fmt.Errorf("write result: %w", err)
	}
}

// rideDelivery leaves the writes of recordDelivery to asynq's completion of
// the task (see [Completions]). If they do not ride (the round trip failed,
// or asynq did not end the task in time), they are written on their own, in
// the background, as recordDelivery would have: the task's run is over.
func (h *SendMessageHandler) rideDelivery(ctx context.Context, qname, taskID string, data []byte, ev *tasks.Event, obsolete []string) {
	ctx = context.WithoutCancel(ctx)
	p := h.rdb.Pipeline()
	waiters := h.queueDelivery(ctx, p, qname, taskID, data, ev, obsolete)
	h.completions.add(taskID, p.Cmds(), func(err error) {
		if err == nil {
			wakeRefWaiters(h.insp, h.log, taskID, waiters.Val())
			return
		}
		h.log.DebugContext(ctx, "the delivery's record did not ride with asynq's completion; writing it on its own", "task_id", taskID, "reason", err)
		h.completions.background(func() {
			// The task's ResultWriter went with its context: the result is
			// written where that writer puts it (see queueDelivery).
			rctx, cancel := h.afterSend(ctx)
			defer cancel()
			if err := h.recordNow(rctx, qname, taskID, data, ev, obsolete, func() error {
				return h.rdb.HSet(rctx, keys.AsynqTask(qname, taskID), "result", data).Err()
			}); err != nil {
				h.log.ErrorContext(ctx, "a delivered message's record is lost; it may be sent again", "task_id", taskID, "error", err)
			}
		})
	})
}

// recordAlone writes the marker, insisting while Redis is unreachable, then
// the event, then deletes obsolete, for a delivery whose round trip failed.
// It reports whether the marker was stored.
func (h *SendMessageHandler) recordAlone(ctx context.Context, taskID string, data []byte, ev *tasks.Event, obsolete []string) bool {
	marked := h.writeMarker(ctx, taskID, data)
	h.appendEvent(ctx, ev)
	if marked && len(obsolete) > 0 {
		dctx, cancel := h.afterSend(ctx)
		if err := h.rdb.Del(dctx, obsolete...).Err(); err != nil {
			h.log.WarnContext(ctx, "could not delete the task's progress; it expires with the marker TTL", "task_id", taskID, "error", err)
		}
		cancel()
	}
	return marked
}

// queueDelivery adds a confirmed delivery's writes to p: the sent marker,
// the task's result, the outcome event, the deletion of obsolete, and the
// pop of the calls parked on this message (message_task_id), whose answer
// it returns. The result goes where asynq's ResultWriter puts it, the
// "result" field of the task's hash (an HSET, as ResultWriter does);
// TestResultKeyMatchesAsynq checks the key against asynq.
func (h *SendMessageHandler) queueDelivery(ctx context.Context, p redis.Pipeliner, qname, taskID string, data []byte, ev *tasks.Event, obsolete []string) *redis.StringSliceCmd {
	p.Set(ctx, keys.Sent(taskID), data, h.markerTTL)
	waiters := p.SPopN(ctx, keys.RefWaiters(taskID), refWaitersMax)
	p.HSet(ctx, keys.AsynqTask(qname, taskID), "result", data)
	if len(obsolete) > 0 {
		p.Del(ctx, obsolete...)
	}
	if h.outcomes != nil && ev != nil {
		h.outcomes.Queue(ctx, p, ev)
	}
	return waiters
}

// recordSent writes a delivery's records (see queueDelivery) in one round
// trip and reports whether all succeeded. A pipeline, not a transaction: in
// Redis Cluster the keys live in different slots. On any error the caller
// falls back to writing them one after the other, insisting on the marker.
func (h *SendMessageHandler) recordSent(ctx context.Context, qname, taskID string, data []byte, ev *tasks.Event, obsolete []string) bool {
	ctx, cancel := h.afterSend(ctx)
	defer cancel()
	var waiters *redis.StringSliceCmd
	_, err := h.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		waiters = h.queueDelivery(ctx, p, qname, taskID, data, ev, obsolete)
		return nil
	})
	if err == nil {
		wakeRefWaiters(h.insp, h.log, taskID, waiters.Val())
	}
	return err == nil
}

// appendEvent writes ev on its own, waiting while Redis is unreachable up to
// MarkerWriteTimeout, for a delivery whose round trip failed. Giving up loses
// the event, never the message.
func (h *SendMessageHandler) appendEvent(ctx context.Context, ev *tasks.Event) {
	if h.outcomes == nil || ev == nil {
		return
	}
	ctx, cancel := h.afterSend(ctx)
	defer cancel()
	if err := redisx.UntilAnswers(ctx, func() error { return h.outcomes.Append(ctx, ev) }); err != nil {
		h.log.WarnContext(ctx, "could not record the outcome event", "task_id", ev.TaskID, "error", err)
	}
}

// writeMarker keeps trying, with backoff and independent of the task's
// cancellation, until the marker is stored or MarkerWriteTimeout passes. It
// reports whether the marker was stored.
func (h *SendMessageHandler) writeMarker(ctx context.Context, taskID string, data []byte) bool {
	ctx, cancel := h.afterSend(ctx)
	defer cancel()
	err := redisx.Insist(ctx, h.log, "sent marker", "the message may be sent again", []any{"task_id", taskID}, nil,
		func(ctx context.Context) error { return h.rdb.Set(ctx, keys.Sent(taskID), data, h.markerTTL).Err() })
	return err == nil
}

// recordPart writes a confirmed part of a multi-part reply to the reply's
// progress, insisting, like writeMarker, until Redis answers or
// MarkerWriteTimeout passes. If it gives up, the error makes the task
// retry, which sends that part again: a duplicate rather than a loss, and
// never a part out of order.
//
// pre, if not nil, queues commands that go in the same round trip (the
// task's fence, read before the next part).
func (h *SendMessageHandler) recordPart(ctx context.Context, taskID string, part int, data []byte, pre func(redis.Pipeliner)) error {
	if h.rdb == nil || taskID == "" {
		return nil
	}
	ctx, cancel := h.afterSend(ctx)
	defer cancel()
	key := keys.Parts(taskID)
	err := redisx.Insist(ctx, h.log, "reply progress", "a sent part may be sent again", []any{"task_id", taskID, "part", part + 1}, nil,
		func(ctx context.Context) error {
			_, err := h.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				pipe.HSet(ctx, key, strconv.Itoa(part), data)
				pipe.PExpire(ctx, key, h.markerTTL)
				if pre != nil {
					// Last: Exec returns the first error, so a redis.Nil
					// of pre's read never hides the write's.
					pre(pipe)
				}
				return nil
			})
			if errors.Is(err, redis.Nil) {
				return nil // pre's read of a missing key
			}
			return err
		})
	if err != nil {
		return fmt.Errorf("sent, but its progress could not be recorded: %w", err)
	}
	return nil
}
