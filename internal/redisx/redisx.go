// Package redisx answers "is Redis unreachable?" once for the client and
// the workers, holds the loops that wait for Redis to answer again, and
// reads the answer of a one-key MGET.
package redisx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Unreachable reports whether err means Redis could not be reached or
// answered that it cannot serve now (loading, failing over, a read-only
// replica): refused, reset or dropped connections, network timeouts, an
// exhausted pool, a closed client. It is false for nil, for the caller's
// context ending (context.DeadlineExceeded satisfies net.Error, but the
// caller's own deadline is not an outage) and for replies that will not
// change (a script error, a wrong type).
func Unreachable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var netErr net.Error
	switch {
	case errors.As(err, &netErr),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, redis.ErrClosed),
		errors.Is(err, redis.ErrPoolTimeout),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE):
		return true
	}
	// Errors that lost their type on the way, and Redis replies that mean
	// "not now" rather than "wrong request".
	msg := err.Error()
	for _, s := range unreachableTexts {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

var unreachableTexts = []string{
	"connection refused", "connection reset", "broken pipe", "i/o timeout",
	"client is closed", "use of closed network connection",
	"LOADING ", "MASTERDOWN ", "CLUSTERDOWN ", "READONLY ", "TRYAGAIN ",
}

// Recoverable reports whether waiting may make an operation that failed
// with err succeed: Redis is [Unreachable], but through a client that is
// still open (a closed client never answers again).
func Recoverable(err error) bool {
	return Unreachable(err) && !errors.Is(err, redis.ErrClosed) && !strings.Contains(err.Error(), redis.ErrClosed.Error())
}

// UntilAnswers runs op until it succeeds, fails for a reason other than an
// unreachable Redis (see [Recoverable]), or ctx ends, backing off from 50ms
// to 1s. It returns op's last error.
//
// A worker's handler that returns a Redis error while Redis is down leaves
// its task stuck: asynq cannot record the retry either, and the task waits
// for the lease recoverer (60-120s after Redis is back). Waiting here
// instead lets the task go on as soon as Redis answers.
func UntilAnswers(ctx context.Context, op func() error) error {
	delay := 50 * time.Millisecond
	for {
		err := op()
		if err == nil || !Recoverable(err) {
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

// Insist runs write until it succeeds, ctx ends, or it fails with an error
// that retry reports as not worth retrying (a nil retry retries every
// error), backing off from 50ms to 2s, and returns write's last error. It is
// for writes that record what Telegram already confirmed: it logs the first
// failure, a success after retries and giving up, naming what (e.g. "sent
// marker") and what giving up risks, with attrs.
func Insist(ctx context.Context, log *slog.Logger, what, risk string, attrs []any, retry func(error) bool, write func(context.Context) error) error {
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
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			log.Error("gave up writing "+what+"; "+risk, append(attrs, "error", err)...)
			return err
		case <-timer.C:
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// OneValue reads the answer of an MGET of one key: its value and true, or
// false if the key does not exist. A read of a key that may be missing is
// queued as MGET rather than GET in a pipeline that answers something else
// too: a missing key is then a nil element, not the redis.Nil error that
// makes go-redis classify the whole pipeline's error.
func OneValue(cmd *redis.SliceCmd) (string, bool, error) {
	res, err := cmd.Result()
	if err == nil && len(res) != 1 {
		err = fmt.Errorf("MGET of one key answered %d values", len(res))
	}
	if err != nil {
		return "", false, err
	}
	v, ok := res[0].(string)
	return v, ok, nil
}
