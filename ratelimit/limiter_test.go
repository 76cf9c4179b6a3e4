package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/redistest"
)

// The tests run against real redis-servers. They check what Redis granted:
// the instants t* (µs of the Redis clock) that reserve returns, not how long
// this machine took, so their bounds hold on a slow, shared machine.

// newLimiter returns a Limiter for cfg; a zero Margin is set to 2%, which the
// expected instants of these tests are written for.
func newLimiter(t testing.TB, rdb redis.UniversalClient, cfg Config) *Limiter {
	t.Helper()
	if cfg.Margin == 0 {
		cfg.Margin = 0.02
	}
	l, err := New(rdb, cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return l
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// nominal is the spacing a limit of rate per period demands, in µs, without
// the margin: what Telegram sees.
func nominal(rate float64, per time.Duration) float64 {
	return float64(per/time.Microsecond) / rate
}

// checkSpacing fails if two of the instants (µs) are closer than minGap µs.
func checkSpacing(t *testing.T, what string, at []int64, minGap float64) {
	t.Helper()
	at = slices.Clone(at)
	slices.Sort(at)
	for i := 1; i < len(at); i++ {
		if gap := float64(at[i] - at[i-1]); gap < minGap {
			t.Errorf("%s: sends %d and %d are %.0fµs apart, limit needs %.0fµs", what, i-1, i, gap, minGap)
			return
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never contacted
	t.Cleanup(func() { _ = rdb.Close() })

	l, err := New(rdb, Config{Global: 30, Chat: 1, Group: 20, Paid: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if l.prefix != DefaultPrefix {
		t.Errorf("default prefix %q", l.prefix)
	}
	// MaxWait (µs), expiry slack (ms) and the intervals (µs) with the
	// default 3% margin (rounded up to whole µs), per kind of key.
	want := [8][]any{
		{int64(2_000_000), int64(100), int64(34_334), int64(1_030_000)},                   // private
		{int64(2_000_000), int64(100), int64(34_334), int64(1_030_000), int64(3_090_000)}, // group
		{int64(2_000_000), int64(100), int64(1_030), int64(1_030_000)},                    // paid private
		{int64(2_000_000), int64(100), int64(1_030), int64(1_030_000), int64(3_090_000)},  // paid group
		// ChatOnly (edits, deletes, chat actions): no bot-wide budget.
		{int64(2_000_000), int64(100), int64(1_030_000)},
		{int64(2_000_000), int64(100), int64(1_030_000), int64(3_090_000)},
		{int64(2_000_000), int64(100), int64(1_030_000)},
		{int64(2_000_000), int64(100), int64(1_030_000), int64(3_090_000)},
	}
	for i, s := range l.shapes {
		if !slices.Equal(s.args, want[i]) {
			t.Errorf("shape %d args %v, want %v", i, s.args, want[i])
		}
	}

	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"negative global", Config{Global: -1}},
		{"NaN chat", Config{Chat: math.NaN()}},
		{"infinite paid", Config{Paid: math.Inf(1)}},
		{"group below one a day", Config{Group: 1.0 / 2000}},
		{"negative max wait", Config{MaxWait: -time.Second}},
		{"margin 1", Config{Margin: 1}},
		{"negative margin", Config{Margin: -0.1}},
		{"brace in prefix", Config{Prefix: "rl:{x}:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(rdb, tc.cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("New(%+v) = %v, want ErrInvalidConfig", tc.cfg, err)
			}
		})
	}
	if _, err := New(nil, Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New(nil) = %v, want ErrInvalidConfig", err)
	}
}

func TestInvalidKey(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	l := newLimiter(t, rdb, Config{Chat: 1})
	ctx := testCtx(t, 10*time.Second)
	for _, k := range []Key{{}, {Bot: "b"}, {Chat: "1"}} {
		if _, _, err := l.Reserve(ctx, k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Reserve(%+v) = %v, want ErrInvalidKey", k, err)
		}
		if err := l.Throttled(ctx, k, time.Second); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Throttled(%+v) = %v, want ErrInvalidKey", k, err)
		}
	}
}

type grant struct {
	k  Key
	at int64
}

// hammer runs workers goroutines on each limiter (two limiters with their own
// clients stand for two processes) until d has passed. Each worker behaves
// like a handler: reserve, then sleep the wait ("send"), or back off a little
// when refused. next picks the key of the next send.
func hammer(t *testing.T, ls []*Limiter, workers int, d time.Duration, next func() Key) []grant {
	t.Helper()
	ctx := testCtx(t, d+30*time.Second)
	stop := time.Now().Add(d)
	var (
		mu     sync.Mutex
		grants []grant
		wg     sync.WaitGroup
		errc   = make(chan error, 1)
	)
	for _, l := range ls {
		for range workers {
			wg.Go(func() {
				for time.Now().Before(stop) {
					k := next()
					r, err := l.reserve(ctx, k)
					if err != nil {
						select {
						case errc <- err:
						default:
						}
						return
					}
					if !r.ok {
						time.Sleep(min(r.wait, 20*time.Millisecond))
						continue
					}
					mu.Lock()
					grants = append(grants, grant{k, r.at})
					mu.Unlock()
					time.Sleep(r.wait)
				}
			})
		}
	}
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	return grants
}

// roundRobin returns the keys in turn, safe for concurrent use.
func roundRobin(keys []Key) func() Key {
	var mu sync.Mutex
	i := 0
	return func() Key {
		mu.Lock()
		defer mu.Unlock()
		i++
		return keys[i%len(keys)]
	}
}

func TestLimitsHoldAcrossProcesses(t *testing.T) {
	t.Parallel()
	private := func(bot string, n int, paid bool) []Key {
		var ks []Key
		for i := range n {
			ks = append(ks, Key{Bot: bot, Chat: strconv.Itoa(1000 + i), Paid: paid})
		}
		return ks
	}
	groups := func(bot string, n int) []Key {
		var ks []Key
		for i := range n {
			ks = append(ks, Key{Bot: bot, Chat: "-100" + strconv.Itoa(i), Group: true})
		}
		return ks
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		keys []Key
	}{
		{
			// 6 chats × 20/s = 120/s wanted, the bot allows 80/s.
			name: "private chats",
			cfg:  Config{Global: 80, Chat: 20, MaxWait: 300 * time.Millisecond},
			keys: private("alpha", 6, false),
		},
		{
			name: "groups",
			cfg:  Config{Global: 80, Chat: 20, Group: 600, MaxWait: 300 * time.Millisecond},
			keys: append(groups("alpha", 4), private("alpha", 2, false)...),
		},
		{
			// Paid sends share chats with unpaid ones.
			name: "paid and unpaid",
			cfg:  Config{Global: 40, Chat: 20, Paid: 100, MaxWait: 300 * time.Millisecond},
			keys: append(private("alpha", 6, false), private("alpha", 6, true)...),
		},
		{
			name: "two bots",
			cfg:  Config{Global: 50, Chat: 20, Group: 900, MaxWait: 300 * time.Millisecond},
			keys: slices.Concat(private("alpha", 4, false), private("beta", 4, false), groups("beta", 2)),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := redistest.Start(t)
			ls := []*Limiter{newLimiter(t, s.Client(t), tc.cfg), newLimiter(t, s.Client(t), tc.cfg)}
			grants := hammer(t, ls, 8, 1500*time.Millisecond, roundRobin(tc.keys))

			perChat := map[string][]int64{}
			perGroup := map[string][]int64{}
			perBot := map[string][]int64{}
			perBotPaid := map[string][]int64{}
			for _, g := range grants {
				chat := g.k.Bot + "/" + g.k.Chat
				perChat[chat] = append(perChat[chat], g.at)
				if g.k.Group {
					perGroup[chat] = append(perGroup[chat], g.at)
				}
				if g.k.Paid {
					perBotPaid[g.k.Bot] = append(perBotPaid[g.k.Bot], g.at)
				} else {
					perBot[g.k.Bot] = append(perBot[g.k.Bot], g.at)
				}
			}
			chats := map[string]bool{}
			for _, k := range tc.keys {
				chats[k.Bot+"/"+k.Chat] = true
			}
			if len(perChat) != len(chats) {
				t.Errorf("%d of %d chats got a send", len(perChat), len(chats))
			}
			for chat, at := range perChat {
				if len(at) < 2 {
					t.Errorf("chat %s: %d sends, want several", chat, len(at))
				}
				checkSpacing(t, "chat "+chat, at, nominal(tc.cfg.Chat, time.Second))
			}
			for chat, at := range perGroup {
				checkSpacing(t, "group "+chat, at, nominal(tc.cfg.Group, time.Minute))
			}
			for bot, at := range perBot {
				checkSpacing(t, "bot "+bot, at, nominal(tc.cfg.Global, time.Second))
			}
			for bot, at := range perBotPaid {
				checkSpacing(t, "paid bot "+bot, at, nominal(tc.cfg.Paid, time.Second))
			}
			t.Logf("%d sends granted", len(grants))
		})
	}
}

// TestUtilisation: with enough work the bot's budget is used, not only
// respected. Granted instants are spaced by T = 1/300 s × 1.02, so at best
// 98% of the budget is used; the test asks for 95% over 2 s.
func TestUtilisation(t *testing.T) {
	const rate = 300.0
	s := redistest.Start(t)
	cfg := Config{Global: rate, Chat: 1}
	ls := []*Limiter{newLimiter(t, s.Client(t), cfg), newLimiter(t, s.Client(t), cfg)}
	var mu sync.Mutex
	n := 0
	next := func() Key { // a new chat each time: only the bot's budget binds
		mu.Lock()
		defer mu.Unlock()
		n++
		return Key{Bot: "alpha", Chat: strconv.Itoa(n)}
	}
	grants := hammer(t, ls, 24, 3*time.Second, next)
	at := make([]int64, len(grants))
	for i, g := range grants {
		at[i] = g.at
	}
	slices.Sort(at)
	checkSpacing(t, "bot", at, nominal(rate, time.Second))
	if len(at) == 0 {
		t.Fatal("no sends")
	}
	from := at[0] + 250_000 // skip the start-up
	to := from + 2_000_000
	inWindow := 0
	for _, a := range at {
		if a >= from && a < to {
			inWindow++
		}
	}
	if u := float64(inWindow) / (2 * rate); u < 0.95 {
		t.Errorf("%d sends in 2 s = %.1f%% of the budget, want >= 95%%", inWindow, 100*u)
	} else {
		t.Logf("%d sends in 2 s = %.1f%% of the budget", inWindow, 100*u)
	}
}

func TestReserveBeyondMaxWait(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	s := redistest.Start(t)
	rdb := s.Client(t)

	t.Run("chat", func(t *testing.T) {
		l := newLimiter(t, rdb, Config{Chat: 1, MaxWait: 500 * time.Millisecond, Prefix: "chat:"})
		k := Key{Bot: "alpha", Chat: "1"}
		first := mustReserve(ctx, t, l, k)
		if !first.ok || first.wait != 0 {
			t.Fatalf("first = %+v, want ok without wait", first)
		}
		second := mustReserve(ctx, t, l, k)
		if second.ok || second.wait <= 500*time.Millisecond || second.wait > 1020*time.Millisecond {
			t.Fatalf("second = %+v, want refused with a wait in (0.5s, 1.02s]", second)
		}
		// Nothing was reserved: the next refusal names the same instant,
		// not one second later.
		third := mustReserve(ctx, t, l, k)
		if third.ok || third.at != second.at {
			t.Fatalf("third = %+v, want refused at %d like second", third, second.at)
		}
		if second.at-first.at != 1_020_000 {
			t.Errorf("refused instant %dµs after the first, want 1.02 s", second.at-first.at)
		}
	})

	t.Run("all or nothing", func(t *testing.T) {
		// Bot: one per 510 ms. Chat 1: one per 1020 ms.
		l := newLimiter(t, rdb, Config{Global: 2, Chat: 1, MaxWait: 600 * time.Millisecond, Prefix: "aon:"})
		a := Key{Bot: "alpha", Chat: "1"}
		b := Key{Bot: "alpha", Chat: "2"}
		a1 := mustReserve(ctx, t, l, a)
		a2 := mustReserve(ctx, t, l, a) // the bot would allow it at +510 ms, the chat not
		if !a1.ok || a2.ok {
			t.Fatalf("a1 = %+v, a2 = %+v; want ok, refused", a1, a2)
		}
		b1 := mustReserve(ctx, t, l, b) // gets the bot slot a2 did not take
		if !b1.ok || b1.at-a1.at != 510_000 {
			t.Fatalf("b1 = %+v, %dµs after a1; want ok 510 ms after a1", b1, b1.at-a1.at)
		}
	})

	t.Run("group per minute", func(t *testing.T) {
		l := newLimiter(t, rdb, Config{Chat: 1, Group: 20, Prefix: "group:"})
		k := Key{Bot: "alpha", Chat: "-1001", Group: true}
		g1 := mustReserve(ctx, t, l, k)
		g2 := mustReserve(ctx, t, l, k)
		if !g1.ok || g2.ok || g2.at-g1.at != 3_060_000 {
			t.Fatalf("g1 = %+v, g2 = %+v; want ok, then refused 3.06 s later", g1, g2)
		}
		// The private chat with the same id is not a group.
		if p := mustReserve(ctx, t, l, Key{Bot: "alpha", Chat: "-1002"}); !p.ok || p.wait != 0 {
			t.Fatalf("other chat = %+v, want ok without wait", p)
		}
	})

	t.Run("within max wait", func(t *testing.T) {
		l := newLimiter(t, rdb, Config{Chat: 1, Prefix: "within:"})
		k := Key{Bot: "alpha", Chat: "1"}
		r1 := mustReserve(ctx, t, l, k)
		r2 := mustReserve(ctx, t, l, k)
		if !r1.ok || !r2.ok || r2.at-r1.at != 1_020_000 || r2.wait <= 0 {
			t.Fatalf("r1 = %+v, r2 = %+v; want both ok, 1.02 s apart", r1, r2)
		}
	})
}

func mustReserve(ctx context.Context, t *testing.T, l *Limiter, k Key) reservation {
	t.Helper()
	r, err := l.reserve(ctx, k)
	if err != nil {
		t.Fatalf("reserve(%+v): %v", k, err)
	}
	return r
}

func TestPaidBudget(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	rdb := redistest.Start(t).Client(t)
	l := newLimiter(t, rdb, Config{Global: 5, Chat: 1, Paid: 100, MaxWait: time.Second})

	// Use up the global budget up to MaxWait.
	var refused reservation
	for i := 0; ; i++ {
		r := mustReserve(ctx, t, l, Key{Bot: "alpha", Chat: "u" + strconv.Itoa(i)})
		if !r.ok {
			refused = r
			break
		}
		if i > 10 {
			t.Fatal("global budget never ran out")
		}
	}
	// Paid sends do not wait for it and do not consume it.
	var paid []int64
	for i := range 40 {
		r := mustReserve(ctx, t, l, Key{Bot: "alpha", Chat: "p" + strconv.Itoa(i), Paid: true})
		if !r.ok || r.wait > 500*time.Millisecond {
			t.Fatalf("paid send %d = %+v, want ok within its own budget", i, r)
		}
		paid = append(paid, r.at)
	}
	checkSpacing(t, "paid", paid, nominal(100, time.Second))
	// The next unpaid send gets the instant the refused one was offered
	// (granted now if time has moved it within MaxWait).
	if after := mustReserve(ctx, t, l, Key{Bot: "alpha", Chat: "later"}); after.at != refused.at {
		t.Errorf("unpaid send after paid ones = %+v, want the instant %d offered before them", after, refused.at)
	}
	// The chat limit still applies to paid sends.
	if r := mustReserve(ctx, t, l, Key{Bot: "alpha", Chat: "p0", Paid: true}); r.ok && r.wait < 500*time.Millisecond {
		t.Errorf("second paid send to a chat = %+v, want it delayed by the chat limit", r)
	}

	// With Paid off, paid sends have no bot-wide limit.
	l = newLimiter(t, rdb, Config{Global: 1, Chat: 1, Prefix: "nopaid:"})
	for i := range 20 {
		if r := mustReserve(ctx, t, l, Key{Bot: "alpha", Chat: strconv.Itoa(i), Paid: true}); !r.ok || r.wait != 0 {
			t.Fatalf("paid send %d with Paid off = %+v, want ok without wait", i, r)
		}
	}
}

func TestThrottled(t *testing.T) {
	t.Parallel()
	const retry = 3 * time.Second
	group := func(chat string) Key { return Key{Bot: "alpha", Chat: chat, Group: true} }
	for _, tc := range []struct {
		name    string
		before  []Key // earlier 429s with retry
		k       Key
		retry   time.Duration
		wantBot bool
	}{
		{name: "private chat", k: Key{Bot: "alpha", Chat: "1"}, retry: retry, wantBot: true},
		{name: "paid private chat", k: Key{Bot: "alpha", Chat: "1", Paid: true}, retry: retry, wantBot: true},
		{name: "group", k: group("-1001"), retry: retry, wantBot: false},
		{name: "same group twice", before: []Key{group("-1001")}, k: group("-1001"), retry: retry, wantBot: false},
		{name: "long retry in a group (slow mode)", k: group("-1001"), retry: 30 * time.Second, wantBot: false},
		{name: "second group within a second", before: []Key{group("-1002")}, k: group("-1001"), retry: retry, wantBot: true},
		{name: "no retry_after", k: group("-1001"), retry: 0, wantBot: false},
	} {
		for _, limits := range []Config{{Global: 30, Chat: 1, Group: 20}, {}} {
			name := tc.name + "/limits on"
			if limits == (Config{}) {
				name = tc.name + "/limits off"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				ctx := testCtx(t, 20*time.Second)
				s := redistest.Start(t)
				cfg := limits
				cfg.MaxWait = 500 * time.Millisecond
				a, b := newLimiter(t, s.Client(t), cfg), newLimiter(t, s.Client(t), cfg)

				for _, k := range tc.before {
					if err := a.Throttled(ctx, k, retry); err != nil {
						t.Fatal(err)
					}
				}
				botPaused, err := a.throttle(ctx, tc.k, tc.retry)
				if err != nil {
					t.Fatal(err)
				}
				if botPaused != tc.wantBot {
					t.Errorf("bot paused = %v, want %v", botPaused, tc.wantBot)
				}
				want := tc.retry
				if want <= 0 {
					want = time.Second
				}
				// The other process may not send to the chat before the
				// pause ends; it reschedules.
				r := mustReserve(ctx, t, b, tc.k)
				if r.ok || r.wait > want || r.wait < want-2*time.Second {
					t.Errorf("reserve for the chat = %+v, want refused for about %v", r, want)
				}
				other := mustReserve(ctx, t, b, Key{Bot: "alpha", Chat: "777"})
				if tc.wantBot && (other.ok || other.wait < want-2*time.Second) {
					t.Errorf("reserve for another chat = %+v, want the bot paused for about %v", other, want)
				}
				if !tc.wantBot && (!other.ok || other.wait != 0) {
					t.Errorf("reserve for another chat = %+v, want ok without wait", other)
				}
				if r := mustReserve(ctx, t, b, Key{Bot: "beta", Chat: tc.k.Chat, Group: tc.k.Group}); !r.ok || r.wait != 0 {
					t.Errorf("reserve for another bot = %+v, want ok without wait", r)
				}
			})
		}
	}
}

func TestPauseNeverShortens(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	rdb := redistest.Start(t).Client(t)
	l := newLimiter(t, rdb, Config{Chat: 1, MaxWait: time.Second})
	k := Key{Bot: "alpha", Chat: "1"}
	steps := []struct {
		retry  time.Duration
		lo, hi time.Duration // bounds of the wait afterwards
	}{
		{5 * time.Second, 4 * time.Second, 5 * time.Second},
		{1 * time.Second, 4 * time.Second, 5 * time.Second}, // shorter: kept
		{8 * time.Second, 7 * time.Second, 8 * time.Second}, // longer: extended
		{2 * time.Second, 6 * time.Second, 8 * time.Second},
	}
	for i, st := range steps {
		if err := l.Throttled(ctx, k, st.retry); err != nil {
			t.Fatal(err)
		}
		for _, k := range []Key{k, {Bot: "alpha", Chat: "2"}} { // chat and bot
			r := mustReserve(ctx, t, l, k)
			if r.ok || r.wait < st.lo || r.wait > st.hi {
				t.Errorf("step %d (%v), chat %s: %+v, want refused for %v..%v", i, st.retry, k.Chat, r, st.lo, st.hi)
			}
		}
	}
}

// TestPauseEnds: a pause shorter than MaxWait is waited out in the handler,
// and the granted instant is not before the pause's end.
func TestPauseEnds(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	rdb := redistest.Start(t).Client(t)
	for _, cfg := range []Config{{Global: 30, Chat: 1}, {}} {
		cfg.Prefix = fmt.Sprintf("p%v:", cfg.Global)
		l := newLimiter(t, rdb, cfg)
		k := Key{Bot: "alpha", Chat: "1"}
		if err := l.Throttled(ctx, k, 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		end, err := rdb.Get(ctx, cfg.Prefix+"{alpha}:pause").Int64()
		if err != nil {
			t.Fatal(err)
		}
		r := mustReserve(ctx, t, l, Key{Bot: "alpha", Chat: "2"})
		if !r.ok || r.wait <= 0 || r.wait > 300*time.Millisecond || r.at != end {
			t.Errorf("%+v: reserve during a 300 ms pause = %+v, want ok at the pause's end %d", cfg, r, end)
		}
		// The pause keys disappear when the pause ends.
		waitFor(ctx, t, "pause keys to expire", func() bool {
			n, err := rdb.Exists(ctx, cfg.Prefix+"{alpha}:pause", cfg.Prefix+"{alpha}:pause:chat:1").Result()
			return err == nil && n == 0
		})
	}
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

func TestKeysExpire(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	rdb := redistest.Start(t).Client(t)
	l := newLimiter(t, rdb, Config{Global: 10, Chat: 5, Group: 600, Paid: 10})
	// One key per bot, so that every TAT is one interval after now.
	for _, k := range []Key{
		{Bot: "a", Chat: "1"},
		{Bot: "b", Chat: "-1001", Group: true},
		{Bot: "c", Chat: "2", Paid: true},
	} {
		mustReserve(ctx, t, l, k)
	}
	if err := l.Throttled(ctx, Key{Bot: "d", Chat: "3"}, 400*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	slack := expirySlack
	for key, maxTTL := range map[string]time.Duration{
		"telequeue:rl:{a}:global":       102*time.Millisecond + slack,
		"telequeue:rl:{a}:chat:1":       204*time.Millisecond + slack,
		"telequeue:rl:{b}:global":       102*time.Millisecond + slack,
		"telequeue:rl:{b}:chat:-1001":   204*time.Millisecond + slack,
		"telequeue:rl:{b}:group:-1001":  102*time.Millisecond + slack,
		"telequeue:rl:{c}:paid":         102*time.Millisecond + slack,
		"telequeue:rl:{c}:chat:2":       204*time.Millisecond + slack,
		"telequeue:rl:{d}:pause":        400 * time.Millisecond,
		"telequeue:rl:{d}:pause:chat:3": 400 * time.Millisecond,
		"telequeue:rl:{d}:429":          distinctWindow,
		"telequeue:rl:{d}:pauses":       400 * time.Millisecond,
	} {
		ttl, err := rdb.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 || ttl > maxTTL {
			t.Errorf("%s: TTL %v, want in (0, %v]", key, ttl, maxTTL)
		}
	}
	keys, _ := rdb.Keys(ctx, "*").Result()
	if len(keys) != 11 {
		t.Errorf("keys %v, want the 11 above", keys)
	}
	waitFor(ctx, t, "every key to expire", func() bool {
		n, err := rdb.DBSize(ctx).Result()
		return err == nil && n == 0
	})
}

func TestLimitsOff(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	rdb := redistest.Start(t).Client(t)
	l := newLimiter(t, rdb, Config{})
	for i := range 50 {
		k := Key{Bot: "alpha", Chat: "1", Group: i%2 == 0, Paid: i%3 == 0}
		if r := mustReserve(ctx, t, l, k); !r.ok || r.wait != 0 {
			t.Fatalf("reserve %d = %+v, want ok without wait", i, r)
		}
	}
	if n, _ := rdb.DBSize(ctx).Result(); n != 0 {
		t.Errorf("%d keys written with every limit off", n)
	}
	// 429 pauses still apply, also to another process.
	if err := l.Throttled(ctx, Key{Bot: "alpha", Chat: "1"}, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	b := newLimiter(t, rdb, Config{MaxWait: 3 * time.Second})
	r := mustReserve(ctx, t, b, Key{Bot: "alpha", Chat: "2"})
	if !r.ok || r.wait <= time.Second || r.wait > 2*time.Second {
		t.Errorf("reserve during the pause = %+v, want ok after about 2 s", r)
	}
}

// TestRedisCluster runs the scripts on a one-node Redis Cluster, which
// refuses (CROSSSLOT) any call whose keys are not in one slot.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 30*time.Second)
	s := redistest.Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	if err := s.Client(t).Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "cluster state ok", func() bool {
		info, err := s.Client(t).ClusterInfo(ctx).Result()
		return err == nil && strings.Contains(info, "cluster_state:ok")
	})
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{s.Addr()}})
	t.Cleanup(func() { _ = rdb.Close() })

	for _, cfg := range []Config{{Global: 30, Chat: 1, Group: 20, Paid: 1000}, {}} {
		l := newLimiter(t, rdb, cfg)
		for _, k := range []Key{
			{Bot: "alpha", Chat: "1"},
			{Bot: "alpha", Chat: "-1001", Group: true},
			{Bot: "alpha", Chat: "@channel", Group: true, Paid: true},
			{Bot: "we}ird{", Chat: "2"},
		} {
			if _, _, err := l.Reserve(ctx, k); err != nil {
				t.Fatalf("Reserve(%+v): %v", k, err)
			}
			if err := l.Throttled(ctx, k, time.Second); err != nil {
				t.Fatalf("Throttled(%+v): %v", k, err)
			}
			if _, _, err := l.Reserve(ctx, k); err != nil {
				t.Fatalf("Reserve(%+v) while paused: %v", k, err)
			}
		}
	}
}

// TestRedisRestart: errors are returned while Redis is down, and the scripts
// are loaded again (EVALSHA falls back to EVAL) after a restart.
func TestRedisRestart(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 30*time.Second)
	s := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	l := newLimiter(t, rdb, Config{Chat: 1})
	k := Key{Bot: "alpha", Chat: "1"}
	if _, _, err := l.Reserve(ctx, k); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	_, ok, err := l.Reserve(ctx, k)
	if err == nil || ok || !strings.HasPrefix(err.Error(), "ratelimit: reserve") {
		t.Fatalf("Reserve with Redis down = %v, %v; want a ratelimit error", ok, err)
	}
	if err := l.Throttled(ctx, k, time.Second); err == nil {
		t.Fatal("Throttled with Redis down succeeded")
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "Reserve after the restart", func() bool {
		_, ok, err := l.Reserve(ctx, k)
		return err == nil && ok
	})
	if err := l.Throttled(ctx, k, time.Second); err != nil {
		t.Fatalf("Throttled after the restart: %v", err)
	}
}

// BenchmarkReserve measures one Reserve (one round trip to a local
// redis-server) with every limit on, to distinct chats, and with limits off;
// "parallel" runs 16 goroutines per CPU, like many handlers sharing a client.
// PING is the round trip alone, for comparison.
func BenchmarkReserve(b *testing.B) {
	s := redistest.Start(b)
	ctx := context.Background()
	b.Run("PING/serial", func(b *testing.B) {
		rdb := s.Client(b)
		for b.Loop() {
			if err := rdb.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, bc := range []struct {
		name string
		cfg  Config
		k    func(i int) Key
	}{
		// A bot budget high enough that every reservation is granted and
		// written, as in a steady state.
		{"limits on/private", Config{Global: 1e6, Chat: 1, Group: 20}, func(i int) Key {
			return Key{Bot: "alpha", Chat: strconv.Itoa(i)}
		}},
		{"limits on/group", Config{Global: 1e6, Chat: 1, Group: 20}, func(i int) Key {
			return Key{Bot: "alpha", Chat: "-100" + strconv.Itoa(i), Group: true}
		}},
		{"limits off", Config{}, func(i int) Key {
			return Key{Bot: "alpha", Chat: strconv.Itoa(i)}
		}},
	} {
		l := newLimiter(b, s.Client(b), bc.cfg)
		b.Run(bc.name+"/serial", func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				if _, _, err := l.Reserve(ctx, bc.k(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			var mu sync.Mutex
			n := 0
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				mu.Lock()
				n++
				base := n << 32
				mu.Unlock()
				i := 0
				for pb.Next() {
					i++
					if _, _, err := l.Reserve(ctx, bc.k(base+i)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// TestCostAndChatOnly: a send that counts as n messages (an album) takes n
// slots of every limit; a ChatOnly send (an edit) takes the chat's slot but
// none of the bot's budget.
func TestCostAndChatOnly(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	// 10/s for the bot, 1/s per chat: intervals 100 ms and 1 s.
	l := newLimiter(t, rdb, Config{Global: 10, Chat: 1, Margin: 0, MaxWait: 10 * time.Second})
	ctx := testCtx(t, 10*time.Second)
	wait := func(k Key) time.Duration {
		t.Helper()
		w, ok, err := l.Reserve(ctx, k)
		if err != nil || !ok {
			t.Fatalf("Reserve(%+v) = %v, %v, %v", k, w, ok, err)
		}
		return w
	}
	// An album of 5 to chat a: the next send to another chat waits for 5
	// bot-wide slots (≈500 ms), not 1.
	wait(Key{Bot: "b", Chat: "a", Cost: 5})
	if w := wait(Key{Bot: "b", Chat: "c"}); w < 450*time.Millisecond || w > 550*time.Millisecond {
		t.Errorf("after an album of 5 another chat waits %v, want about 500ms", w)
	}
	// And chat a waits for 5 of its own slots (≈5 s).
	if w := wait(Key{Bot: "b", Chat: "a", ChatOnly: true}); w < 4500*time.Millisecond || w > 5100*time.Millisecond {
		t.Errorf("after an album of 5 its chat waits %v, want about 5s", w)
	}
	// Edits of chats d..m take no bot-wide slot: none of them waits,
	// although ten sends would have waited up to 1 s.
	for i := range 10 {
		k := Key{Bot: "b", Chat: fmt.Sprintf("e%d", i), ChatOnly: true}
		if w := wait(k); w != 0 {
			t.Errorf("edit %d waits %v; edits do not use the bot's budget", i, w)
		}
	}
	// An edit still waits for its chat's slot.
	wait(Key{Bot: "b", Chat: "z", ChatOnly: true})
	if w := wait(Key{Bot: "b", Chat: "z", ChatOnly: true}); w < 900*time.Millisecond {
		t.Errorf("a second edit of chat z waits %v, want about 1s", w)
	}
}
