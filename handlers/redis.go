package handlers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// untilRedisAnswers runs op until it succeeds, fails for a reason other than
// an unreachable Redis, or ctx ends (the task's deadline or lease), backing
// off from 50ms to 1s.
//
// A handler that returns a Redis error while Redis is down leaves its task
// stuck: asynq cannot record the retry either, and the task waits for the
// lease recoverer (60-120s after Redis is back). Waiting here instead lets
// the task go on as soon as Redis answers.
func untilRedisAnswers(ctx context.Context, op func() error) error {
	delay := 50 * time.Millisecond
	for {
		err := op()
		if err == nil || !redisUnreachable(err) {
			return err
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return err
		case <-timer.C:
		}
		delay = min(2*delay, time.Second)
	}
}

// insist runs write until it succeeds, ctx ends, or it fails with an error
// that retry reports as not worth retrying (a nil retry retries every
// error), backing off from 50ms to 2s. It is for writes that record what
// Telegram already confirmed: it logs the first failure, a success after
// retries and giving up, naming what (e.g. "sent marker") and what giving up
// risks, with attrs.
func insist(ctx context.Context, log *slog.Logger, what, risk string, attrs []any, retry func(error) bool, write func(context.Context) error) error {
	delay := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := write(ctx)
		if err == nil || (retry != nil && !retry(err)) {
			if err == nil && attempt > 1 {
				log.Info(what+" written after retries", append(attrs, "attempts", attempt)...)
			}
			return err
		}
		if attempt == 1 {
			log.Warn("cannot write "+what+"; retrying until Redis answers", append(attrs, "error", err)...)
		}
		select {
		case <-ctx.Done():
			log.Error("gave up writing "+what+"; "+risk, append(attrs, "error", err)...)
			return err
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// redisUnreachable reports whether err means Redis could not be reached or
// cannot serve now (restarting, failing over), as opposed to a reply that
// will not change, the caller's context ending, or our client being closed.
func redisUnreachable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, redis.ErrClosed) {
		return false
	}
	var netErr net.Error
	if errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, redis.ErrPoolTimeout) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) {
		return true
	}
	msg := err.Error()
	for _, prefix := range []string{"LOADING ", "MASTERDOWN ", "CLUSTERDOWN ", "READONLY ", "TRYAGAIN "} {
		if strings.Contains(msg, prefix) {
			return true
		}
	}
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "connection reset")
}
