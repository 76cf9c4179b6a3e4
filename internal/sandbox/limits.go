package sandbox

import "time"

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

// gcra is one limit's emission interval and tolerance; an interval of 0 means
// the limit is off.
type gcra struct {
	interval  time.Duration
	tolerance time.Duration
}

func newGCRA(rate float64, per time.Duration, tol float64) gcra {
	if rate <= 0 {
		return gcra{}
	}
	T := time.Duration(float64(per) / rate)
	if T <= 0 {
		T = 1 // absurdly high rates still form a (tiny) limit
	}
	return gcra{interval: T, tolerance: time.Duration(tol * float64(T))}
}

// wait returns how long after t a send would be allowed given the
// theoretical arrival time tat; 0 means it is allowed at t.
func (g gcra) wait(tat, t time.Duration) time.Duration {
	if g.interval == 0 {
		return 0
	}
	if allowAt := tat - g.tolerance; t < allowAt {
		return allowAt - t
	}
	return 0
}

// commit records a send at t.
func (g gcra) commit(tat *time.Duration, t time.Duration) {
	if g.interval == 0 {
		return
	}
	*tat = max(*tat, t) + g.interval
}

// limiters is the compiled form of [Limits].
type limiters struct {
	global, chat, group, paid gcra
}

func compileLimits(l Limits) limiters {
	tol := l.tolerance()
	return limiters{
		global: newGCRA(l.Global, time.Second, tol),
		chat:   newGCRA(l.Chat, time.Second, tol),
		group:  newGCRA(l.Group, time.Minute, tol),
		paid:   newGCRA(l.Paid, time.Second, tol),
	}
}

// retryAfter converts a wait to Telegram's retry_after: whole seconds,
// rounded up, at least 1.
func retryAfter(wait time.Duration) int {
	n := int((wait + time.Second - 1) / time.Second)
	return max(n, 1)
}

// checkLimitsLocked judges a send at t against every budget that applies. If
// it fits, it commits the send to those budgets and returns wait 0. If not,
// it returns the limit needing the longest wait (ties go to the first of
// global, paid, chat, group) and commits nothing.
func (s *Sandbox) checkLimitsLocked(b *botState, c *chatState, paid, group bool, t time.Duration) (LimitKind, time.Duration) {
	lim := &s.lim
	var kind LimitKind
	var worst time.Duration
	consider := func(k LimitKind, g gcra, tat time.Duration) {
		if w := g.wait(tat, t); w > worst {
			kind, worst = k, w
		}
	}
	if paid {
		consider(LimitPaid, lim.paid, b.paidTAT)
	} else {
		consider(LimitGlobal, lim.global, b.globalTAT)
	}
	consider(LimitChat, lim.chat, c.chatTAT)
	if group {
		consider(LimitGroup, lim.group, c.groupTAT)
	}
	if worst > 0 {
		return kind, worst
	}
	if paid {
		lim.paid.commit(&b.paidTAT, t)
	} else {
		lim.global.commit(&b.globalTAT, t)
	}
	lim.chat.commit(&c.chatTAT, t)
	if group {
		lim.group.commit(&c.groupTAT, t)
	}
	return "", 0
}
