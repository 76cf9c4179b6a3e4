package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/tasks"
)

// References to queued messages (tasks.FieldMessageTaskID): a call that
// names the task of a message instead of its message_id runs once that task
// has sent it. Until then it waits parked (a [RefWaitError]: rescheduled,
// not a failure, holding no sender), registered in the referenced task's
// waiter set; the referenced task wakes its waiters (asynq's RunTask) in the
// round trip that records its delivery, or when it ends archived, so that
// the call runs within a worker poll. A waiter that misses its wake-up looks
// again after refPoll.

// refPoll is how long a call waits for its referenced message before it
// looks again if no wake-up came; refWaitersTTL bounds a waiter set.
const (
	refPoll       = time.Second
	refWaitersTTL = 24 * time.Hour
)

// RefWaitError parks a call whose referenced message is not sent yet. It is
// [Rescheduled]: asynq runs the task again after RetryAfter without counting
// a failure, or earlier when the referenced task wakes it.
type RefWaitError struct {
	// TaskID is the referenced task.
	TaskID string
	// State is its asynq state ("pending", "active", "retry", ...).
	State string
	// RetryAfter is when the call looks again if not woken.
	RetryAfter time.Duration
}

func (e *RefWaitError) Error() string {
	return fmt.Sprintf("waiting for the message of task %s (%s); looks again in %s unless woken", e.TaskID, e.State, e.RetryAfter)
}

// RescheduleAfter returns RetryAfter.
func (e *RefWaitError) RescheduleAfter() time.Duration { return e.RetryAfter }

// ErrRefFailed: a referenced message was never sent (its task was archived,
// or is unknown and its result expired); the call is archived with the
// reason.
var ErrRefFailed = errors.New("referenced message not sent")

// refResolver resolves the references of calls.
type refResolver struct {
	rdb  redis.UniversalClient
	insp *asynq.Inspector
	log  *slog.Logger
}

// resolve returns c with its references replaced by the messages they name,
// a *RefWaitError while one is not sent yet, or an error wrapping
// ErrRefFailed and asynq.SkipRetry when one never will be.
func (r *refResolver) resolve(ctx context.Context, queue, taskID string, c *tasks.Call) (*tasks.Call, error) {
	var ids []string
	for _, ref := range refsOf(c) {
		if !containsString(ids, ref.TaskID) {
			ids = append(ids, ref.TaskID)
		}
	}
	if r.rdb == nil {
		return nil, fmt.Errorf("%w: this worker keeps no sent markers, which references need: %w", ErrRefFailed, asynq.SkipRetry)
	}
	// Register as a waiter and read the markers in one round trip: a
	// referenced task that records its delivery after this finds the
	// waiter, one that did before left its marker.
	markers := make([]*redis.StringCmd, len(ids))
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			markers[i] = p.Get(ctx, keys.Sent(id))
			if taskID != "" {
				w := keys.RefWaiters(id)
				p.SAdd(ctx, w, queue+"|"+taskID)
				p.Expire(ctx, w, refWaitersTTL)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read referenced messages: %w", err)
	}
	targets := make(map[string]tasks.RefTarget, len(ids))
	for i, id := range ids {
		raw, err := markers[i].Bytes()
		if err == nil {
			if t, ok := refTarget(raw); ok {
				targets[id] = t
				continue
			}
		}
		t, err := r.lookup(ctx, id)
		if err != nil {
			return nil, err
		}
		targets[id] = t
	}
	out, err := c.Resolve(targets)
	if err != nil {
		return nil, fmt.Errorf("%w: %w: %w", ErrRefFailed, err, asynq.SkipRetry)
	}
	return out, nil
}

// lookup finds a referenced task without a sent marker in asynq's queues: a
// task still to be sent parks the call, an archived one fails it, a
// completed one gives its result.
func (r *refResolver) lookup(ctx context.Context, id string) (tasks.RefTarget, error) {
	for _, q := range append(tasks.Queues[:], tasks.QueueCallbacks) {
		info, err := r.insp.GetTaskInfo(q, id)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
			continue
		case err != nil:
			return tasks.RefTarget{}, fmt.Errorf("look up referenced task %s: %w", id, err)
		}
		switch info.State {
		case asynq.TaskStateArchived:
			return tasks.RefTarget{}, fmt.Errorf("%w: task %s was archived: %s: %w", ErrRefFailed, id, firstLine(info.LastErr), asynq.SkipRetry)
		case asynq.TaskStateCompleted:
			if t, ok := refTarget(info.Result); ok {
				return t, nil
			}
			return tasks.RefTarget{}, fmt.Errorf("%w: task %s completed without sending a message: %w", ErrRefFailed, id, asynq.SkipRetry)
		}
		return tasks.RefTarget{}, &RefWaitError{TaskID: id, State: info.State.String(), RetryAfter: refPoll}
	}
	return tasks.RefTarget{}, fmt.Errorf("%w: task %s is unknown, or its result expired: %w", ErrRefFailed, id, asynq.SkipRetry)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// refsOf lists c's references.
func refsOf(c *tasks.Call) []*tasks.Ref {
	ref, reply := c.Refs()
	var out []*tasks.Ref
	for _, r := range []*tasks.Ref{ref, reply} {
		if r != nil {
			out = append(out, r)
		}
	}
	return out
}

// refTarget reads the chat and messages of a send's result or marker: a
// message's (tasks.SendResult), a multi-part reply's
// (tasks.SendMessagesResult) or a call's (tasks.CallResult).
func refTarget(raw []byte) (tasks.RefTarget, bool) {
	var v struct {
		MessageID  int64   `json:"message_id"`
		MessageIDs []int64 `json:"message_ids"`
		ChatID     int64   `json:"chat_id"`
	}
	if json.Unmarshal(raw, &v) != nil || v.ChatID == 0 {
		return tasks.RefTarget{}, false
	}
	ids := v.MessageIDs
	if len(ids) == 0 && v.MessageID != 0 {
		ids = []int64{v.MessageID}
	}
	if len(ids) == 0 {
		return tasks.RefTarget{}, false
	}
	return tasks.RefTarget{ChatID: v.ChatID, MessageIDs: ids}, true
}

// wakeRefWaiters runs at once the calls parked on taskID's message (members
// "queue|id" of its waiter set, already taken from Redis). A waiter still
// finishing its run when it is woken is tried again briefly; one that is
// missed looks again after refPoll.
func wakeRefWaiters(insp *asynq.Inspector, log *slog.Logger, taskID string, waiters []string) {
	if insp == nil || len(waiters) == 0 {
		return
	}
	go func() {
		for _, w := range waiters {
			queue, id, ok := strings.Cut(w, "|")
			if !ok {
				continue
			}
			for attempt := range 10 {
				err := insp.RunTask(queue, id)
				if err == nil || errors.Is(err, asynq.ErrTaskNotFound) {
					break
				}
				if attempt == 9 {
					log.Debug("could not wake a call waiting for a message; it looks again by itself", "task_id", id, "ref", taskID, "error", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
}

// WakeRefWaiters wakes the calls that wait for the message of taskID, a
// task that just ended for good without sending it (archived, dropped), so
// that they fail at once instead of after their next look. The server calls
// it for every task that ends archived.
func WakeRefWaiters(ctx context.Context, rdb redis.UniversalClient, insp *asynq.Inspector, log *slog.Logger, taskID string) {
	if rdb == nil || taskID == "" {
		return
	}
	waiters, err := rdb.SPopN(ctx, keys.RefWaiters(taskID), refWaitersMax).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		log.WarnContext(ctx, "could not read the calls waiting for a task's message; they look again by themselves", "task_id", taskID, "error", err)
		return
	}
	wakeRefWaiters(insp, log, taskID, waiters)
}

// refWaitersMax is how many waiters one wake-up takes.
const refWaitersMax = 1000
