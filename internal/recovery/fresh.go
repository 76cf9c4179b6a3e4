package recovery

import (
	"math"
	"sync/atomic"
	"time"
)

// continuity tells whether a process's heartbeat has been continuous since
// a moment: if it has, and its last good beat is recent, no recoverer can
// have found the process silent for DeadAfter, so none has taken a task it
// started after that moment, and the run need not read its fence (see
// [QueueFence]). A process that was stopped (SIGSTOP, a long GC pause, a
// starved CPU) sees the gap when it wakes, by its own monotonic clock: its
// runs that started before the gap closed read their fences as before.
//
// Silence is measured as Redis may have seen it, conservatively: from the
// moment a good beat was sent to the moment the next good beat's answer
// came back.
type continuity struct {
	t0     time.Time     // monotonic origin of the two instants below
	maxGap time.Duration // longest silence that counts as continuous
	// lastSent is when the last good beat was sent; noBeat: none yet.
	lastSent atomic.Int64 // ns since t0
	// gapClosed is when the first good beat after a silence of maxGap or
	// more (or the first good beat of all) answered.
	gapClosed atomic.Int64 // ns since t0
}

// noBeat is lastSent before the first good beat.
const noBeat = math.MinInt64

func newContinuity(maxGap time.Duration) *continuity {
	c := &continuity{t0: time.Now(), maxGap: maxGap}
	c.lastSent.Store(noBeat)
	return c
}

// beat records a good beat sent at sent whose answer came at acked.
func (c *continuity) beat(sent, acked time.Time) {
	s, a := int64(sent.Sub(c.t0)), int64(acked.Sub(c.t0))
	if prev := c.lastSent.Load(); prev == noBeat || time.Duration(a-prev) >= c.maxGap {
		// Stored before lastSent, so that a reader that sees the new
		// lastSent sees the gap too.
		c.gapClosed.Store(a)
	}
	c.lastSent.Store(s)
}

// fresh reports whether, at now, the heartbeat has been continuous since
// start and its last good beat is less than maxGap old.
func (c *continuity) fresh(start, now time.Time) bool {
	last := c.lastSent.Load() // before gapClosed: see beat
	if last == noBeat || time.Duration(int64(now.Sub(c.t0))-last) >= c.maxGap {
		return false
	}
	return int64(start.Sub(c.t0)) > c.gapClosed.Load()
}
