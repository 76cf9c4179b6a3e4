package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/ratelimit"
	"github.com/telequeue/telequeue/tasks"
)

// defaultComplianceRates are the limits of the compliance run, for the
// workers and the sandbox alike: Telegram's, with the global one scaled from
// 30/s to 300/s so that a run takes seconds. -rates changes them.
const defaultComplianceRates = "300,1,20,1000"

// parseRates reads "global/s,chat/s,group/min,paid/s".
func parseRates(s string) (sandbox.Limits, error) {
	f := strings.Split(s, ",")
	if len(f) != 4 {
		return sandbox.Limits{}, fmt.Errorf("-rates %q: want global,chat,group,paid", s)
	}
	var v [4]float64
	for i, x := range f {
		n, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil || n <= 0 {
			return sandbox.Limits{}, fmt.Errorf("-rates %q: %q is not a positive number", s, x)
		}
		v[i] = n
	}
	return sandbox.Limits{Global: v[0], Chat: v[1], Group: v[2], Paid: v[3]}, nil
}

// complianceShape describes the work of the compliance run relative to the
// limits.
type complianceShape struct {
	broadcastFor time.Duration // unpaid broadcast: this long at the global limit
	burstChats   int
	burstEach    int
	groupMsgs    int
	paidFor      time.Duration // paid broadcast: this long at the paid limit
}

func (s complianceShape) load(l sandbox.Limits) complianceLoad {
	return complianceLoad{
		broadcast:  int(s.broadcastFor.Seconds() * l.Global),
		burstChats: s.burstChats,
		burstEach:  s.burstEach,
		groupMsgs:  s.groupMsgs,
		paid:       int(s.paidFor.Seconds() * l.Paid),
	}
}

// complianceLoad is the work of the compliance run.
type complianceLoad struct {
	broadcast  int // unpaid messages to distinct private chats
	burstChats int // private chats that get burstEach messages each
	burstEach  int
	groupMsgs  int // messages to one supergroup
	paid       int // allow_paid_broadcast messages to distinct private chats
}

// complianceResult are the figures of the compliance run.
type complianceResult struct {
	Total, Delivered int
	Stats            sandbox.Stats
	// Utilisation is the share of the global budget used from the first
	// unpaid delivery to the last broadcast delivery: while there was work
	// for it.
	Utilisation float64
	Window      time.Duration
	Archived    int
	Took        time.Duration
	TimedOut    bool
	// Tightest is, per bot-wide budget ("global", "paid"), the shortest
	// time any rate+1 consecutive deliveries spanned. Telegram's limit (and
	// the sandbox's) allows rate sends per second, so above 1 s means no
	// window was over the limit, and Tightest - 1 s is how much later the
	// earliest of those sends could have arrived without a violation.
	Tightest map[string]time.Duration
}

func (b *bench) measureCompliance(ctx context.Context) error {
	load := b.size.compliance.load(b.limits)
	res, err := b.compliance(ctx, load)
	if err != nil {
		return err
	}
	b.report.compliance = res
	st := res.Stats
	const sec = "compliance"
	l := b.limits
	margin := b.opts.margin
	if margin == 0 {
		margin = ratelimit.DefaultMargin
	}
	ok := !res.TimedOut
	b.report.add(sec, fmt.Sprintf("6 × 10, limits global %g/s, chat %g/s, group %g/min, paid %g/s; limiter margin %g%%",
		l.Global, l.Chat, l.Group, l.Paid, 100*margin),
		fmt.Sprintf("%d of %d delivered in %.1f s", res.Delivered, res.Total, res.Took.Seconds()), "all", &ok)
	b.report.add(sec, "  load", fmt.Sprintf("%d broadcast + %d chats × %d + group × %d + %d paid",
		load.broadcast, load.burstChats, load.burstEach, load.groupMsgs, load.paid), "", nil)
	ok = st.Violations == 0
	b.report.add(sec, "sends over a limit (sandbox violations)", fmt.Sprintf("%d %s", st.Violations, fmtRejected(st.Rejected429)), "0", &ok)
	n429 := st.Violations + st.EarlyRetry
	ok = n429 == 0
	b.report.add(sec, "429 answers", strconv.Itoa(n429), "0", &ok)
	ok = st.EarlyRetry == 0
	b.report.add(sec, "sends before retry_after ran out", strconv.Itoa(st.EarlyRetry), "0", &ok)
	ok = res.Utilisation >= targetUtilisation
	b.report.add(sec, fmt.Sprintf("global budget used while there was work (%.1f s)", res.Window.Seconds()),
		fmt.Sprintf("%.1f%%", 100*res.Utilisation), "≥ 95%", &ok)
	b.report.add(sec, "  most unpaid / paid sends in any 1 s", fmt.Sprintf("%d / %d", st.MaxPerSecond, st.MaxPaidPerSecond),
		fmt.Sprintf("≤ %g / %g", math.Floor(l.Global), math.Floor(l.Paid)), nil)
	b.report.add(sec, "  shortest span of rate+1 consecutive sends, unpaid / paid", gap(res.Tightest["global"])+" / "+gap(res.Tightest["paid"]), "> 1 s", nil)
	b.report.add(sec, "  smallest gap in one chat / in the group", gap(st.MinChatGap)+" / "+gap(st.MinGroupGap), "", nil)
	ok = res.Archived == 0
	b.report.add(sec, "  tasks archived", strconv.Itoa(res.Archived), "0", &ok)
	return nil
}

// tightestSpan returns the shortest time n+1 consecutive instants of at span
// (in time order), or -1 if at has n or fewer.
func tightestSpan(at []time.Time, n int) time.Duration {
	at = slices.Clone(at)
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	best := time.Duration(-1)
	for i := 0; i+n < len(at); i++ {
		if d := at[i+n].Sub(at[i]); best < 0 || d < best {
			best = d
		}
	}
	return best
}

// gap formats a sandbox gap, -1 meaning no chat got two messages.
func gap(d time.Duration) string {
	if d < 0 {
		return "n/a"
	}
	return ms(d)
}

func fmtRejected(m map[sandbox.LimitKind]int) string {
	var parts []string
	for k, v := range m {
		if v > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, v))
		}
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return ""
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// compliance runs six workers with the limits on against the sandbox with
// the same limits.
func (b *bench) compliance(ctx context.Context, load complianceLoad) (*complianceResult, error) {
	if err := b.flush(ctx); err != nil {
		return nil, err
	}
	l := b.limits
	if err := b.sb.SetLimits(l); err != nil {
		return nil, err
	}
	defer func() { _ = b.sb.SetLimits(sandbox.Limits{}) }()
	b.progress("compliance: starting 6 workers with limits on")
	g, err := b.startWorkers(ctx, 6, [4]float64{l.Global, l.Chat, l.Group, l.Paid}, b.taskCheck, "", nil)
	if err != nil {
		return nil, err
	}
	defer g.stop()

	var msgs []*tasks.SendMessage
	add := func(chat int64, kind string, i int, paid bool) {
		msgs = append(msgs, &tasks.SendMessage{ChatID: telego.ChatID{ID: chat}, Text: text150(kind + strconv.Itoa(i)), AllowPaidBroadcast: paid})
	}
	for i := range load.broadcast {
		add(2_000_000+int64(i), "b", i, false)
	}
	for c := range load.burstChats {
		for i := range load.burstEach {
			add(3_000_000+int64(c), "u", i, false)
		}
	}
	for i := range load.groupMsgs {
		add(-1001000000001, "g", i, false)
	}
	for i := range load.paid {
		add(4_000_000+int64(i), "p", i, true)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })

	if err := b.insp.PauseQueue(queue); err != nil {
		return nil, err
	}
	c, err := b.newClient()
	if err != nil {
		return nil, err
	}
	err = enqueueMany(ctx, c, msgs)
	_ = c.Close()
	if err != nil {
		return nil, err
	}
	b.sb.Reset()
	if b.tracer != nil {
		b.tracer.start()
		defer func() {
			if err := b.tracer.write(b.opts.trace); err != nil {
				b.progress("trace: " + err.Error())
			}
		}()
	}
	b.progress(fmt.Sprintf("compliance: %d messages", len(msgs)))
	start := time.Now()
	if err := b.insp.UnpauseQueue(queue); err != nil {
		return nil, err
	}
	// The group needs (groupMsgs-1) × 3 s; the rest is bounded by the
	// global budget; rescheduled tasks come back in whole seconds.
	limit := time.Duration(float64(load.groupMsgs)*60/l.Group+float64(load.broadcast+load.burstChats*load.burstEach)/l.Global)*time.Second + 60*time.Second
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.sb.WaitFor(wctx, len(msgs)) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	timedOut := false
wait:
	for {
		select {
		case err := <-done:
			timedOut = err != nil
			break wait
		case <-tick.C:
			if err := g.alive(); err != nil {
				return nil, err
			}
		}
	}
	res := &complianceResult{Total: len(msgs), Took: time.Since(start), Stats: b.sb.Stats(), TimedOut: timedOut}
	delivered := b.sb.Messages()
	res.Delivered = len(delivered)

	var unpaid []time.Time
	var lastBroadcast time.Time
	for _, m := range delivered {
		if m.Paid {
			continue
		}
		unpaid = append(unpaid, m.At)
		if strings.HasPrefix(m.Text, "b") && m.At.After(lastBroadcast) {
			lastBroadcast = m.At
		}
	}
	slices.SortFunc(unpaid, func(a, b time.Time) int { return a.Compare(b) })
	if len(unpaid) > 1 {
		res.Window = lastBroadcast.Sub(unpaid[0])
		in := 0
		for _, t := range unpaid {
			if !t.After(lastBroadcast) {
				in++
			}
		}
		res.Utilisation = float64(in-1) / (res.Window.Seconds() * l.Global)
	}
	var paid []time.Time
	for _, m := range delivered {
		if m.Paid {
			paid = append(paid, m.At)
		}
	}
	res.Tightest = map[string]time.Duration{
		"global": tightestSpan(unpaid, int(l.Global)),
		"paid":   tightestSpan(paid, int(l.Paid)),
	}
	// Give asynq a moment to record the last completions.
	time.Sleep(500 * time.Millisecond)
	qi, err := b.insp.GetQueueInfo(queue)
	if err != nil {
		return nil, err
	}
	res.Archived = qi.Archived
	return res, nil
}
