package sandbox

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mymmrac/telego"
	tg "github.com/mymmrac/telego/telegoutil"
)

// step is one send in a limit scenario at a fake time.
type step struct {
	at    time.Duration // since the start of the scenario
	token string
	chat  telego.ChatID
	paid  bool
	retry int // 0 = must be delivered; else the 429's retry_after
}

// times returns n copies of s.
func times(n int, s step) []step {
	steps := make([]step, n)
	for i := range steps {
		steps[i] = s
	}
	return steps
}

func TestLimitsTelego(t *testing.T) {
	t.Parallel()
	var (
		ms       = time.Millisecond
		sec      = time.Second
		private  = tg.ID(42)
		private2 = tg.ID(43)
		group    = tg.ID(-123)
		channel  = tg.Username("@chan")
	)
	tests := []struct {
		name   string
		limits Limits
		rule   *Rule // installed before the first step
		steps  []step
		want   Stats // Violations, EarlyRetry, Rejected429 and Delivered are compared
	}{
		{
			name:   "chat 1/s: second immediate send is 429, early retry counted, retry after wait ok",
			limits: Limits{Chat: 1},
			steps: []step{
				{at: 0, chat: private},
				{at: 0, chat: private, retry: 1},
				{at: 0, chat: private2},                 // other chat: own budget
				{at: 500 * ms, chat: private, retry: 1}, // before the 429 ran out
				{at: 1000 * ms, chat: private},
			},
			want: Stats{Delivered: 3, Violations: 1, EarlyRetry: 1, Rejected429: map[LimitKind]int{LimitChat: 1}},
		},
		{
			name:   "chat 1/s: exactly W apart fits, 1 ms less does not",
			limits: Limits{Chat: 1},
			steps: []step{
				{at: 0, chat: private},
				{at: 1000 * ms, chat: private},
				{at: 1999 * ms, chat: private, retry: 1}, // waits 1 ms
				{at: 2999 * ms, chat: private},           // 429 ran out; last delivery 1 s ago
			},
			want: Stats{Delivered: 3, Violations: 1, Rejected429: map[LimitKind]int{LimitChat: 1}},
		},
		{
			name:   "global 5/s: 5 at once fit, the 6th waits 1 s",
			limits: Limits{Global: 5},
			steps: slices.Concat(
				times(5, step{at: 0, chat: private}),
				[]step{
					{at: 0, chat: private, retry: 1},
					{at: 999 * ms, chat: private, retry: 1}, // early retry
				},
				times(5, step{at: sec, chat: private}), // the first five left the window
				[]step{{at: sec, chat: private, retry: 1}},
			),
			want: Stats{Delivered: 10, Violations: 2, EarlyRetry: 1, Rejected429: map[LimitKind]int{LimitGlobal: 2}},
		},
		{
			name:   "global 3/s slides: a send fits once the 3rd most recent left the window",
			limits: Limits{Global: 3},
			steps: []step{
				{at: 0, chat: private},
				{at: 400 * ms, chat: private},
				{at: 800 * ms, chat: private},
				{at: 1000 * ms, chat: private},           // the one at 0 left (0, 1 s]
				{at: 1200 * ms, chat: private, retry: 1}, // the one at 400 ms leaves at 1.4 s
				{at: 2200 * ms, chat: private},
			},
			want: Stats{Delivered: 5, Violations: 1, Rejected429: map[LimitKind]int{LimitGlobal: 1}},
		},
		{
			name:   "chat 0.5/s: 1 per 2 s",
			limits: Limits{Chat: 0.5},
			steps: []step{
				{at: 0, chat: private},
				{at: 0, chat: private2},
				{at: 500 * ms, chat: private, retry: 2}, // waits 1.5 s
				{at: 2500 * ms, chat: private},
				{at: 4500 * ms, chat: private},           // exactly W apart
				{at: 6499 * ms, chat: private, retry: 1}, // waits 1 ms
			},
			want: Stats{Delivered: 4, Violations: 2, Rejected429: map[LimitKind]int{LimitChat: 2}},
		},
		{
			name:   "global 2.5/s: 2 per 800 ms",
			limits: Limits{Global: 2.5},
			steps: []step{
				{at: 0, chat: private},
				{at: 0, chat: private},
				{at: 0, chat: private, retry: 1}, // waits 800 ms
				{at: 500 * ms, chat: private, retry: 1},
				{at: 1000 * ms, chat: private},
				{at: 1500 * ms, chat: private},
				{at: 1800 * ms, chat: private},           // exactly W after the one at 1 s
				{at: 2299 * ms, chat: private, retry: 1}, // waits 1 ms for the one at 1.5 s
			},
			want: Stats{Delivered: 5, Violations: 2, EarlyRetry: 1, Rejected429: map[LimitKind]int{LimitGlobal: 2}},
		},
		{
			name:   "group 20/min: 20 at once fit, the 21st waits 60 s; private chats not group-limited",
			limits: Limits{Group: 20},
			steps: slices.Concat(
				times(20, step{at: 0, chat: group}),
				[]step{{at: 0, chat: group, retry: 60}},
				times(21, step{at: 0, chat: private}),
				[]step{{at: 0, chat: channel}},              // @username counts as a group, with its own budget
				times(19, step{at: sec, chat: channel}),     // 20 within 60 s
				[]step{{at: sec, chat: channel, retry: 59}}, // the one at 0 leaves at 60 s
				[]step{
					{at: 30 * sec, chat: group, retry: 30}, // early retries
					{at: 60*sec - ms, chat: group, retry: 1},
					{at: 60 * sec, chat: group},
				},
			),
			want: Stats{Delivered: 62, Violations: 2, EarlyRetry: 2, Rejected429: map[LimitKind]int{LimitGroup: 2}},
		},
		{
			name:   "paid has its own budget, not counted in global and not counting it",
			limits: Limits{Global: 1, Paid: 2},
			steps: []step{
				{at: 0, chat: tg.ID(1)},
				{at: 0, chat: tg.ID(2), paid: true}, // global spent, paid not
				{at: 0, chat: tg.ID(3), paid: true},
				{at: 0, chat: tg.ID(4), paid: true, retry: 1},
				{at: 500 * ms, chat: tg.ID(5), retry: 1},             // global violation: a paid 429 covers only paid sends
				{at: 500 * ms, chat: tg.ID(6), paid: true, retry: 1}, // early retry
				{at: 1000 * ms, chat: tg.ID(7), paid: true},
				{at: 1000 * ms, chat: tg.ID(8), paid: true},
				{at: 1500 * ms, chat: tg.ID(9)}, // the paid sends at 1 s do not count in global
			},
			want: Stats{Delivered: 6, Violations: 2, EarlyRetry: 1, Rejected429: map[LimitKind]int{LimitPaid: 1, LimitGlobal: 1}},
		},
		{
			name:   "a rejected send consumes nothing",
			limits: Limits{Global: 2, Chat: 0.5},
			steps: []step{
				{at: 0, chat: private},
				{at: 1500 * ms, chat: private, retry: 1}, // chat: waits 500 ms; global would fit
				{at: 1600 * ms, chat: private2},          // had the 429 counted, global would be full
				{at: 2500 * ms, chat: private},           // had it counted, the chat would wait until 3.5 s
			},
			want: Stats{Delivered: 3, Violations: 1, Rejected429: map[LimitKind]int{LimitChat: 1}},
		},
		{
			name:   "global per bot across chats, other bot unaffected",
			limits: Limits{Global: 2},
			steps: []step{
				{at: 0, chat: tg.ID(1)},
				{at: 10 * ms, chat: tg.ID(2)},
				{at: 20 * ms, chat: tg.ID(3), retry: 1},
				{at: 20 * ms, chat: tg.ID(3), token: token2},
				{at: 400 * ms, chat: tg.ID(4), retry: 1}, // global 429 covers every chat of bot1
				{at: 1020 * ms, chat: tg.ID(5)},
			},
			want: Stats{Delivered: 4, Violations: 1, EarlyRetry: 1, Rejected429: map[LimitKind]int{LimitGlobal: 1}},
		},
		{
			name:   "longest wait names the violation: group",
			limits: Limits{Global: 1, Chat: 0.5, Group: 1},
			steps: []step{
				{at: 0, chat: group},
				{at: 50 * ms, chat: group, retry: 60}, // global 950 ms, chat 1950 ms, group 59950 ms
			},
			want: Stats{Delivered: 1, Violations: 1, Rejected429: map[LimitKind]int{LimitGroup: 1}},
		},
		{
			name:   "longest wait names the violation: chat",
			limits: Limits{Global: 1, Chat: 0.5},
			steps: []step{
				{at: 0, chat: private},
				{at: 50 * ms, chat: private, retry: 2}, // global 950 ms, chat 1950 ms
				{at: 1000 * ms, chat: private2},        // the chat's 429 covers only that chat
			},
			want: Stats{Delivered: 2, Violations: 1, Rejected429: map[LimitKind]int{LimitChat: 1}},
		},
		{
			name:   "equal waits: global before chat",
			limits: Limits{Global: 1, Chat: 1},
			steps: []step{
				{at: 0, chat: private},
				{at: 500 * ms, chat: private, retry: 1},  // both wait 500 ms
				{at: 700 * ms, chat: private2, retry: 1}, // so the bot-wide 429 applies
			},
			want: Stats{Delivered: 1, Violations: 1, EarlyRetry: 1, Rejected429: map[LimitKind]int{LimitGlobal: 1}},
		},
		{
			name:   "429 rule penalty counts early retries",
			limits: Limits{},
			rule:   &Rule{Kind: KindTooManyRequests, RetryAfter: 3, Times: 1},
			steps: []step{
				{at: 0, chat: private, retry: 3}, // from the rule
				{at: 2 * time.Second, chat: private, retry: 1},
				{at: 2 * time.Second, chat: private2},
				{at: 3 * time.Second, chat: private},
			},
			want: Stats{Delivered: 2, EarlyRetry: 1, Rejected429: map[LimitKind]int{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, Config{Limits: tt.limits})
			if tt.rule != nil {
				s.AddRule(*tt.rule)
			}
			clock := useFakeClock(s)
			bots := map[string]*telego.Bot{token1: newBot(t, s, token1), token2: newBot(t, s, token2)}
			var now time.Duration
			for i, st := range tt.steps {
				clock.Advance(st.at - now)
				now = st.at
				tok := st.token
				if tok == "" {
					tok = token1
				}
				p := tg.Message(st.chat, "m")
				if st.paid {
					p = p.WithAllowPaidBroadcast()
				}
				_, err := bots[tok].SendMessage(ctx(t), p)
				if st.retry == 0 {
					if err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					continue
				}
				e := apiError(t, err)
				if e.ErrorCode != 429 || e.Parameters == nil || e.Parameters.RetryAfter != st.retry ||
					e.Description != tooManyRequests(st.retry) {
					t.Fatalf("step %d: got %v, want 429 retry after %d", i, e, st.retry)
				}
			}
			got := s.Stats()
			checkConsistent(t, got)
			if got.Delivered != tt.want.Delivered || got.Violations != tt.want.Violations || got.EarlyRetry != tt.want.EarlyRetry {
				t.Errorf("delivered/violations/early = %d/%d/%d, want %d/%d/%d", got.Delivered, got.Violations, got.EarlyRetry,
					tt.want.Delivered, tt.want.Violations, tt.want.EarlyRetry)
			}
			for k, n := range tt.want.Rejected429 {
				if got.Rejected429[k] != n {
					t.Errorf("Rejected429 = %v, want %v", got.Rejected429, tt.want.Rejected429)
				}
			}
			if len(got.Rejected429) != len(tt.want.Rejected429) {
				t.Errorf("Rejected429 = %v, want %v", got.Rejected429, tt.want.Rejected429)
			}
		})
	}
}

// TestLimitsRealClock runs the plain cases on the real clock: n immediate
// sends fit, the next one is refused with a retry_after between the bounds
// (a send takes well under a second, so the wait is nearly W).
func TestLimitsRealClock(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		limits             Limits
		chat               int64
		n                  int
		minRetry, maxRetry int
	}{
		{"chat 1/s", Limits{Chat: 1}, 1, 1, 1, 1},
		{"group 20/min", Limits{Group: 20}, -1, 20, 55, 60},
		{"group 20/min under global 30/s", Limits{Global: 30, Group: 20}, -1, 20, 55, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, Config{Limits: tt.limits})
			b := newBot(t, s, token1)
			for i := range tt.n {
				if _, err := send(ctx(t), b, tg.ID(tt.chat), "a"); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			_, err := send(ctx(t), b, tg.ID(tt.chat), "b")
			e := apiError(t, err)
			if e.ErrorCode != 429 || e.Parameters == nil ||
				e.Parameters.RetryAfter < tt.minRetry || e.Parameters.RetryAfter > tt.maxRetry {
				t.Fatalf("got %v, want 429 retry after %d to %d", e, tt.minRetry, tt.maxRetry)
			}
			if st := s.Stats(); s.Count() != tt.n || st.Violations != 1 {
				t.Errorf("count %d stats %+v", s.Count(), st)
			}
		})
	}
}

// TestSetLimitsKeepsDeliveries checks that deliveries made before
// SetLimits count against the new limits, raised or lowered.
func TestSetLimitsKeepsDeliveries(t *testing.T) {
	t.Parallel()
	s := start(t, Config{Limits: Limits{Global: 5, Chat: 3}})
	useFakeClock(s) // time stands still
	b := newBot(t, s, token1)
	for i, chat := range []int64{1, 1, 1, 2, 2} {
		if _, err := send(ctx(t), b, tg.ID(chat), "a"); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := s.SetLimits(Limits{Global: 10, Chat: 2}); err != nil {
		t.Fatal(err)
	}
	for i, tt := range []struct {
		chat  int64
		is429 bool
	}{
		{1, true}, {2, true}, // each already has more than 2
		{3, false}, {3, false}, {4, false}, {4, false}, {5, false}, // global: 10 in all
		{6, true},
	} {
		_, err := send(ctx(t), b, tg.ID(tt.chat), "b")
		if got := err != nil; got != tt.is429 {
			t.Fatalf("send %d to chat %d: err %v, want 429 %v", i, tt.chat, err, tt.is429)
		}
		if err != nil {
			if e := apiError(t, err); e.ErrorCode != 429 {
				t.Fatalf("send %d: %v", i, e)
			}
		}
	}
	want := map[LimitKind]int{LimitChat: 2, LimitGlobal: 1}
	if st := s.Stats(); st.Delivered != 10 || !maps.Equal(st.Rejected429, want) {
		t.Errorf("delivered %d, rejected %v; want 10, %v", st.Delivered, st.Rejected429, want)
	}
}

func TestNewLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rate  float64
		per   time.Duration
		count int
		w     time.Duration
	}{
		{0, time.Second, 0, 0},
		{30, time.Second, 30, time.Second},
		{1, time.Second, 1, time.Second},
		{1000, time.Second, 1000, time.Second},
		{20, time.Minute, 20, time.Minute},
		{0.5, time.Second, 1, 2 * time.Second},
		{2.5, time.Second, 2, 800 * time.Millisecond},
		{0.3, time.Second, 1, 3333333333},
		{1e-300, time.Second, 1, maxWindow},
		{1e300, time.Second, maxCount, 0},
	}
	for _, tt := range tests {
		if got := newLimit(tt.rate, tt.per); got.count != tt.count || got.window != tt.w {
			t.Errorf("newLimit(%v, %v) = %d per %v, want %d per %v", tt.rate, tt.per, got.count, got.window, tt.count, tt.w)
		}
	}
}

// TestLimitMatchesNaive checks limit.wait and limit.record against a plain
// count over every delivery, on random arrival times in phases: bursts,
// steady sends near the rate, slow sends, idle spells and, with the window
// kept, a count that changes as [Sandbox.SetLimits] can change it.
func TestLimitMatchesNaive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		counts [2]int // alternated by phase
		window time.Duration
	}{
		{[2]int{1, 1}, time.Second},
		{[2]int{3, 1}, time.Second},
		{[2]int{2, 5}, 800 * time.Millisecond},
		{[2]int{20, 7}, time.Minute},
		{[2]int{1000, 10}, time.Second},
	}
	for _, tt := range tests {
		rnd := rand.New(rand.NewPCG(uint64(tt.counts[0]), 1))
		var h history
		var all []time.Duration // every delivery
		var now time.Duration
		for phase := range 40 {
			l := limit{count: tt.counts[phase%2], window: tt.window}
			gap := 2 * l.window / time.Duration(l.count) // mean gap ~ the rate
			switch phase % 4 {
			case 1:
				gap /= 8
			case 2:
				gap *= 4
			case 3:
				now += l.window // idle
			}
			for i := range 500 {
				if rnd.IntN(3) > 0 { // a third arrive at once
					now += time.Duration(rnd.Int64N(int64(gap)))
				}
				var want time.Duration
				if len(all) >= l.count {
					// The count-th most recent delivery leaves (now-W, now] at:
					want = max(0, all[len(all)-l.count]+l.window-now)
				}
				if got := l.wait(&h, now, 1); got != want {
					t.Fatalf("%d per %v, phase %d attempt %d at %v: wait %v, want %v", l.count, l.window, phase, i, now, got, want)
				}
				if want == 0 {
					l.record(&h, now, 1)
					all = append(all, now)
				}
				if h.n > max(tt.counts[0], tt.counts[1]) || len(h.buf) > max(tt.counts[0], tt.counts[1]) {
					t.Fatalf("%d per %v: holds %d in %d slots", l.count, l.window, h.n, len(h.buf))
				}
			}
		}
		if len(all) < 2000 {
			t.Errorf("%v per %v: only %d deliveries", tt.counts, tt.window, len(all))
		}
	}
}

func TestStatsRatesAndGaps(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	clock := useFakeClock(s)
	b := newBot(t, s, token1)
	ms := time.Millisecond
	// bot1: 5 sends within 400 ms, then one 2 s later; chat 1 gaps 100 ms and 2 s.
	plan := []struct {
		after time.Duration
		chat  int64
		paid  bool
	}{{0, 1, false}, {100 * ms, 1, false}, {100 * ms, -2, false}, {100 * ms, -2, false}, {100 * ms, 3, true}, {2 * time.Second, 1, false}}
	for _, p := range plan {
		clock.Advance(p.after)
		m := tg.Message(tg.ID(p.chat), "s")
		if p.paid {
			m = m.WithAllowPaidBroadcast()
		}
		if _, err := b.SendMessage(ctx(t), m); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	bs := st.Bots[bot1]
	if st.MaxPerSecond != 4 || bs.MaxPerSecond != 4 || bs.MaxPaidPerSecond != 1 || bs.Paid != 1 || bs.Delivered != 6 {
		t.Errorf("rates: %+v / %+v", st, bs)
	}
	if st.MinChatGap != 100*ms || st.MinGroupGap != 100*ms || bs.MinChatGap != 100*ms {
		t.Errorf("gaps: chat %v group %v", st.MinChatGap, st.MinGroupGap)
	}
	if c := bs.Chats["1"]; c.Delivered != 3 || c.MinGap != 100*ms || c.Group {
		t.Errorf("chat 1: %+v", c)
	}
	if c := bs.Chats["3"]; c.Delivered != 1 || c.MinGap != -1 {
		t.Errorf("chat 3: %+v", c)
	}
	if c := bs.Chats["-2"]; !c.Group {
		t.Errorf("chat -2: %+v", c)
	}
	if sum := s.stats(false); sum.Bots[bot1].Chats != nil {
		t.Error("summary kept per-chat stats")
	}
}

func TestWindow(t *testing.T) {
	t.Parallel()
	var w window
	ms := time.Millisecond
	for i, tt := range []struct {
		at   time.Duration
		want int
	}{{0, 1}, {500 * ms, 2}, {999 * ms, 3}, {1000 * ms, 3}, {1500 * ms, 3}, {1501 * ms, 4}, {5000 * ms, 1}} {
		if got := w.add(tt.at); got != tt.want {
			t.Errorf("add #%d at %v = %d, want %d", i, tt.at, got, tt.want)
		}
	}
	for i := range 5000 { // compaction keeps counting right
		if got := w.add(10*time.Second + time.Duration(i)*ms/10); got != i+1 {
			t.Fatalf("dense add %d = %d", i, got)
		}
	}
}
