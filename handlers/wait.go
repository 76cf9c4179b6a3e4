package handlers

import (
	"context"
	"fmt"
	"time"

	"github.com/telequeue/telequeue/ratelimit"
)

// The sleeps of a send waiting for its limiter slot, shared by single
// messages, multi-part replies and broadcasts.

// pauseCheckLead is how long before its slot a send checks for a 429
// pause: more than a Redis round trip.
const pauseCheckLead = 5 * time.Millisecond

// sleepToSlot sleeps wait with sleep, checking for a 429 pause of k shortly
// before the slot (not at it, so that the check's round trip does not delay
// the send). It returns again = true if a pause began meanwhile: the slot is
// lost and the caller asks for another.
//
// The task's fence rides in the pause check: a process stopped during the
// sleep (a GC pause, a starved container) whose task was taken meanwhile
// returns a *FencedError instead of sending.
func sleepToSlot(ctx context.Context, l Limiter, k ratelimit.Key, wait time.Duration, sleep func(context.Context, time.Duration) error, ride *fenceRide) (again bool, err error) {
	if wait <= pauseCheckLead {
		return false, sleep(ctx, wait)
	}
	if err := sleep(ctx, wait-pauseCheckLead); err != nil {
		return false, err
	}
	start := time.Now()
	paused, err := l.PausedAfter(ctx, k, ride.pre(ctx))
	if err != nil {
		return false, fmt.Errorf("rate limiter unavailable: %w", err)
	}
	if err := ride.check(ctx); err != nil {
		return false, err
	}
	if paused > 0 {
		return true, nil
	}
	return false, sleep(ctx, pauseCheckLead-time.Since(start))
}

// sleepFor sleeps d, or returns ctx's error if it ends first.
func sleepFor(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sleepSend sleeps d, or returns the transient error of a send whose task
// was stopped (shutdown or deadline) while it waited.
func sleepSend(ctx context.Context, d time.Duration) error {
	if err := sleepFor(ctx, d); err != nil {
		return &TransportError{Kind: "network", err: err}
	}
	return nil
}

// sleepCtx sleeps d, or returns the error of a chunk run stopped meanwhile.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if err := sleepFor(ctx, d); err != nil {
		return fmt.Errorf("broadcast: run stopped: %w", err)
	}
	return nil
}
