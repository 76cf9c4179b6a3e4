package sandbox

import (
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

func TestLimitsTelego(t *testing.T) {
	t.Parallel()
	var (
		ms       = time.Millisecond
		private  = tg.ID(42)
		private2 = tg.ID(43)
		group    = tg.ID(-123)
		channel  = tg.Username("@chan")
	)
	tests := []struct {
		name   string
		limits Limits
		steps  []step
		want   Stats // Violations, EarlyRetry, Rejected429 and Delivered are compared
	}{
		{
			name:   "chat: second immediate send is 429, early retry counted, retry after wait ok",
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
			name:   "chat: 10% tolerance",
			limits: Limits{Chat: 1},
			steps: []step{
				{at: 0, chat: private},
				{at: 900 * ms, chat: private},            // TAT 1s - 100ms
				{at: 1790 * ms, chat: private, retry: 1}, // TAT 2 s: allowed from 1.9 s
				{at: 2790 * ms, chat: private},
			},
			want: Stats{Delivered: 3, Violations: 1, Rejected429: map[LimitKind]int{LimitChat: 1}},
		},
		{
			name:   "chat: no tolerance",
			limits: Limits{Chat: 1, Tolerance: -1},
			steps: []step{
				{at: 0, chat: private},
				{at: 999 * ms, chat: private, retry: 1},
				{at: 1999 * ms, chat: private},
			},
			want: Stats{Delivered: 2, Violations: 1, Rejected429: map[LimitKind]int{LimitChat: 1}},
		},
		{
			name:   "global per bot across chats, other bot unaffected",
			limits: Limits{Global: 2},
			steps: []step{
				{at: 0, chat: tg.ID(1)},
				{at: 10 * ms, chat: tg.ID(2), retry: 1},
				{at: 10 * ms, chat: tg.ID(2), token: token2},
				{at: 400 * ms, chat: tg.ID(3), retry: 1}, // global 429 covers every chat of bot1
				{at: 1010 * ms, chat: tg.ID(4)},
			},
			want: Stats{Delivered: 3, Violations: 1, EarlyRetry: 1, Rejected429: map[LimitKind]int{LimitGlobal: 1}},
		},
		{
			name:   "group per minute; private chats not group-limited",
			limits: Limits{Group: 20}, // one per 3 s
			steps: []step{
				{at: 0, chat: group},
				{at: 1000 * ms, chat: group, retry: 2}, // allowed at 2.7 s
				{at: 1000 * ms, chat: private},
				{at: 1000 * ms, chat: private},
				{at: 1000 * ms, chat: channel},           // @username counts as a group
				{at: 2000 * ms, chat: channel, retry: 2}, // allowed at 3.7 s
				{at: 3000 * ms, chat: group},
			},
			want: Stats{Delivered: 5, Violations: 2, Rejected429: map[LimitKind]int{LimitGroup: 2}},
		},
		{
			name:   "paid has its own budget, not counted in global",
			limits: Limits{Global: 1, Paid: 2},
			steps: []step{
				{at: 0, chat: tg.ID(1)},
				{at: 0, chat: tg.ID(2), paid: true},
				{at: 100 * ms, chat: tg.ID(3), paid: true, retry: 1},
				{at: 600 * ms, chat: tg.ID(4), paid: true, retry: 1}, // paid penalty until 1.1 s
				{at: 600 * ms, chat: tg.ID(5), retry: 1},             // global TAT 1 s
				{at: 1100 * ms, chat: tg.ID(6), paid: true},
			},
			want: Stats{Delivered: 3, Violations: 2, EarlyRetry: 1, Rejected429: map[LimitKind]int{LimitPaid: 1, LimitGlobal: 1}},
		},
		{
			name:   "longest wait names the violation",
			limits: Limits{Global: 10, Chat: 1, Group: 20},
			steps: []step{
				{at: 0, chat: group},
				{at: 50 * ms, chat: group, retry: 3}, // global 50 ms, chat 850 ms, group 2650 ms
			},
			want: Stats{Delivered: 1, Violations: 1, Rejected429: map[LimitKind]int{LimitGroup: 1}},
		},
		{
			name:   "429 rule penalty counts early retries",
			limits: Limits{},
			steps: []step{
				{at: 0, chat: private, retry: 3}, // from the rule below
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
			if tt.name == "429 rule penalty counts early retries" {
				s.AddRule(Rule{Kind: KindTooManyRequests, RetryAfter: 3, Times: 1})
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

// TestChatLimitRealClock is the plain case without a fake clock: two
// immediate sends to one chat at 1/s.
func TestChatLimitRealClock(t *testing.T) {
	t.Parallel()
	s := start(t, Config{Limits: Limits{Chat: 1}})
	b := newBot(t, s, token1)
	if _, err := send(ctx(t), b, tg.ID(1), "a"); err != nil {
		t.Fatal(err)
	}
	_, err := send(ctx(t), b, tg.ID(1), "b")
	e := apiError(t, err)
	if e.ErrorCode != 429 || e.Parameters == nil || e.Parameters.RetryAfter < 1 {
		t.Fatalf("got %v", e)
	}
	if s.Count() != 1 || s.Stats().Violations != 1 {
		t.Errorf("count %d stats %+v", s.Count(), s.Stats())
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
