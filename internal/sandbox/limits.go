package sandbox

import (
	"math"
	"time"
)

// LimitKind names one of the flood limits in [Limits]; it keys
// [Stats.Rejected429].
type LimitKind string

// The limit kinds.
const (
	LimitGlobal LimitKind = "global"
	LimitChat   LimitKind = "chat"
	LimitGroup  LimitKind = "group"
	LimitPaid   LimitKind = "paid"
)

// Bounds that keep absurd rates computable: a count above maxCount (2^31-1
// per period) is cut to it, its window shrinking in step, and a window longer
// than maxWindow (a rate below about one per century) is cut to it.
const (
	maxCount  = math.MaxInt32
	maxWindow = 100 * 365 * 24 * time.Hour
)

// limit is one flood limit in its sliding-window form: at most count
// deliveries in any window of length window. A count of 0 means the limit is
// off.
type limit struct {
	count  int
	window time.Duration
}

// newLimit turns rate deliveries per period into a limit: count =
// max(1, floor(rate)) and window = period·count/rate, so whole rates are
// exact (30/s: 30 per 1 s) and fractional ones keep their average (0.5/s: 1
// per 2 s; 2.5/s: 2 per 800 ms).
func newLimit(rate float64, per time.Duration) limit {
	if rate <= 0 {
		return limit{}
	}
	n := min(max(1, math.Floor(rate)), maxCount)
	w := min(float64(per)*n/rate, float64(maxWindow))
	return limit{count: int(n), window: time.Duration(w)}
}

// wait returns how long after t a send of n deliveries would fit the limit
// given the scope's deliveries h; 0 means it fits at t: at most count-n
// deliveries fall in (t-window, t]. n is capped at count, so that a call
// worth more than count (an album of 10 under a 1/s chat limit) fits an
// empty window.
func (l limit) wait(h *history, t time.Duration, n int) time.Duration {
	if l.count == 0 {
		return 0
	}
	n = min(n, l.count)
	keep := l.count - n // deliveries that may remain in the window
	if h.n <= keep {
		return 0
	}
	// The (keep+1)-th most recent delivery leaves the window at w.
	if w := h.at(h.n-keep-1) + l.window - t; w > 0 {
		return w
	}
	return 0
}

// record adds n deliveries at t to the scope's deliveries h.
func (l limit) record(h *history, t time.Duration, n int) {
	if l.count == 0 {
		return
	}
	for range min(n, l.count) {
		h.push(t, l.count, t-l.window)
	}
}

// history is one scope's recent deliveries for one limit: their times,
// oldest first, in a ring buffer that grows as needed up to the limit's
// count. It keeps only the times that can still matter, at most count and
// none at or before t-window of the latest delivery t, so a chat under a
// 1/s limit holds one time and a bot's paid budget at 1000/s at most 1000.
type history struct {
	buf  []time.Duration // the ring; len(buf) is its capacity
	head int             // index of the oldest time
	n    int             // number of times held
}

// at returns the i-th oldest time held, 0 <= i < h.n.
func (h *history) at(i int) time.Duration {
	i += h.head
	if i >= len(h.buf) {
		i -= len(h.buf)
	}
	return h.buf[i]
}

// push appends t (never before the last time pushed), first dropping the
// times at or before cut and as many of the oldest as keep at most keep
// times in all.
func (h *history) push(t time.Duration, keep int, cut time.Duration) {
	for h.n > 0 && (h.n >= keep || h.buf[h.head] <= cut) {
		h.n--
		if h.head++; h.head == len(h.buf) {
			h.head = 0
		}
	}
	if h.n == len(h.buf) {
		buf := make([]time.Duration, min(max(1, 2*len(h.buf)), keep))
		for i := range h.n {
			buf[i] = h.at(i)
		}
		h.buf, h.head = buf, 0
	}
	i := h.head + h.n
	if i >= len(h.buf) {
		i -= len(h.buf)
	}
	h.buf[i] = t
	h.n++
}

// limiters is the compiled form of [Limits].
type limiters struct {
	global, chat, group, paid limit
}

func compileLimits(l Limits) limiters {
	return limiters{
		global: newLimit(l.Global, time.Second),
		chat:   newLimit(l.Chat, time.Second),
		group:  newLimit(l.Group, time.Minute),
		paid:   newLimit(l.Paid, time.Second),
	}
}

// retryAfter converts a wait to Telegram's retry_after: whole seconds,
// rounded up, at least 1.
func retryAfter(wait time.Duration) int {
	n := int((wait + time.Second - 1) / time.Second)
	return max(n, 1)
}

// checkLimitsLocked judges a call worth n deliveries at t against every
// limit that applies: Global or Paid when bot is set (sends), Chat, and
// Group for group chats. If it fits them all, it records the deliveries in
// each and returns wait 0. If not, it returns the limit needing the longest
// wait (ties go to the first of global, paid, chat, group) and changes
// nothing.
func (s *Sandbox) checkLimitsLocked(b *botState, c *chatState, bot, paid, group bool, n int, t time.Duration) (LimitKind, time.Duration) {
	lim := &s.lim
	var kind LimitKind
	var worst time.Duration
	consider := func(k LimitKind, l limit, h *history) {
		if w := l.wait(h, t, n); w > worst {
			kind, worst = k, w
		}
	}
	switch {
	case !bot:
	case paid:
		consider(LimitPaid, lim.paid, &b.paidSent)
	default:
		consider(LimitGlobal, lim.global, &b.globalSent)
	}
	consider(LimitChat, lim.chat, &c.chatSent)
	if group {
		consider(LimitGroup, lim.group, &c.groupSent)
	}
	if worst > 0 {
		return kind, worst
	}
	switch {
	case !bot:
	case paid:
		lim.paid.record(&b.paidSent, t, n)
	default:
		lim.global.record(&b.globalSent, t, n)
	}
	lim.chat.record(&c.chatSent, t, n)
	if group {
		lim.group.record(&c.groupSent, t, n)
	}
	return "", 0
}
