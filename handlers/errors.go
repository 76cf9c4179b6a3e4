package handlers

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/internal/recovery"
	"github.com/telequeue/telequeue/tasks"
)

// Rescheduled is implemented by the errors that reschedule a task without
// counting a failed attempt: [*TooManyRequestsError], [*LimiterWaitError],
// [*WaitingError], [*SnoozeError] and [*FencedError]. [IsFailure] and
// [RetryDelay] read every one of them through this interface, so a new kind
// only has to implement it.
type Rescheduled interface {
	error
	// RescheduleAfter is how long the task waits before its next run.
	RescheduleAfter() time.Duration
}

var (
	_ Rescheduled = (*TooManyRequestsError)(nil)
	_ Rescheduled = (*LimiterWaitError)(nil)
	_ Rescheduled = (*WaitingError)(nil)
	_ Rescheduled = (*SnoozeError)(nil)
	_ Rescheduled = (*FencedError)(nil)
)

// TooManyRequestsError means Telegram answered 429 Too Many Requests. The
// task is rescheduled after RetryAfter (Telegram's retry_after) without
// counting a failure; the limiter pauses the bot or chat meanwhile.
type TooManyRequestsError struct {
	RetryAfter time.Duration
}

func (e *TooManyRequestsError) Error() string {
	return fmt.Sprintf("telegram: 429 Too Many Requests: retry after %s", e.RetryAfter.Round(time.Millisecond))
}

// RescheduleAfter returns RetryAfter.
func (e *TooManyRequestsError) RescheduleAfter() time.Duration { return e.RetryAfter }

// LimiterWaitError means the cluster-wide limiter had no slot soon enough
// for the send (a busy chat or group, the bot's budget, a 429 pause). The
// task is rescheduled after RetryAfter, when its slot comes, without
// counting a failure.
type LimiterWaitError struct {
	RetryAfter time.Duration
}

func (e *LimiterWaitError) Error() string {
	return fmt.Sprintf("rate limit: next slot in %s", e.RetryAfter.Round(time.Millisecond))
}

// RescheduleAfter returns RetryAfter.
func (e *LimiterWaitError) RescheduleAfter() time.Duration { return e.RetryAfter }

// FencedError means another worker's recoverer took the task from this
// worker process, which it held for dead (silent longer than
// RECOVERY_DEAD_AFTER: stopped, starved), and gave it to another worker:
// this run returns without sending. It wraps the fence sentinel of
// internal/recovery.
//
// It is a [Rescheduled] error, not a failure: asynq's record of this run
// then fails harmlessly (the task is no longer in its active list), or, if
// the new owner runs the task at that instant, moves it to the retry set,
// whence its next run finds the sent marker the new owner wrote (a
// broadcast chunk: the progress it stored). Returning
// nil or asynq.RevokeTask instead would delete the task under the new owner.
type FencedError struct{}

func (*FencedError) Error() string { return recovery.ErrFenced.Error() }

// Unwrap returns the fence sentinel.
func (*FencedError) Unwrap() error { return recovery.ErrFenced }

// RescheduleAfter is long enough for the new owner to finish its send.
func (*FencedError) RescheduleAfter() time.Duration { return fencedRescheduleAfter }

const fencedRescheduleAfter = time.Minute

// TelegramError is a Bot API error answer. Permanent ones are wrapped with
// asynq.SkipRetry by the handler. Error() is Telegram's code and description.
type TelegramError struct {
	Code        int
	Description string
}

func (e *TelegramError) Error() string {
	return fmt.Sprintf("telegram %d: %s", e.Code, e.Description)
}

// ErrUnknownBot is returned (wrapped with asynq.SkipRetry) when a payload
// names a bot this worker has no token for. It is [tasks.ErrUnknownBot], the
// value the client and the API return for a bot they do not know, so one
// errors.Is matches both.
var ErrUnknownBot = tasks.ErrUnknownBot

// ErrInvalidPayload is returned (wrapped with asynq.SkipRetry) for a payload
// that cannot be decoded or validated.
var ErrInvalidPayload = errors.New("invalid payload")

// ErrNewerPayload is returned for a payload whose version ("v") is newer than
// this worker reads. It is not wrapped with asynq.SkipRetry: the task is
// retried, so that during a rolling deploy an upgraded worker sends it, and
// archived with this reason once its retries run out.
var ErrNewerPayload = errors.New("payload from a newer version")

// IsFailure reports whether err counts as a failed attempt. A [Rescheduled]
// error (a rate-limit wait, an ordered message waiting for its turn, a
// broadcast chunk snoozing) does not: it neither uses up MaxRetry nor counts
// in the failed statistics.
func IsFailure(err error) bool {
	var r Rescheduled
	return !errors.As(err, &r)
}

// Backoff bounds of [RetryDelay] for transient failures.
const (
	BackoffBase = 2 * time.Second
	BackoffMax  = 10 * time.Minute
)

// RetryDelay is the asynq RetryDelayFunc: a [Rescheduled] task waits
// RescheduleAfter (plus up to 5% jitter, so that a burst does not return at one
// instant); a transient failure waits BackoffBase·2^n, capped at BackoffMax,
// with full jitter in its upper half.
//
// asynq stores a retry's time in whole Unix seconds, truncated, so a task can
// come back up to a second early. The delay is rounded up so that the stored
// second is never before the wanted time: a task told to wait for Telegram's
// retry_after never returns before it ran out.
func RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	return ceilToSecond(time.Now(), retryDelay(n, err))
}

func retryDelay(n int, err error) time.Duration {
	var r Rescheduled
	if errors.As(err, &r) {
		after := max(r.RescheduleAfter(), 0)
		return after + time.Duration(rand.Int64N(int64(after/20)+1))
	}
	d := BackoffMax
	if n < 20 {
		d = min(BackoffBase<<n, BackoffMax)
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// ceilToSecond returns the delay from now to now+d rounded up to the next
// whole Unix second.
func ceilToSecond(now time.Time, d time.Duration) time.Duration {
	at := now.Add(d)
	if t := at.Truncate(time.Second); !t.Equal(at) {
		at = t.Add(time.Second)
	}
	return at.Sub(now)
}
