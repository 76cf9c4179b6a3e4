package ratelimit

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/redistest"
)

// TestReserveWithin checks that a short per-call wait reserves nothing beyond
// it, so that a later Reserve with the full MaxWait gets the slot right after
// the last one actually granted.
func TestReserveWithin(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	rdb := redistest.Start(t).Client(t)
	// One send per 102 ms (10/s plus the 2% margin).
	l := newLimiter(t, rdb, Config{Global: 10, Prefix: "within:"})
	k := Key{Bot: "alpha", Chat: "1"}
	const lookahead = 50 * time.Millisecond

	first, err := l.reserveWithin(ctx, k, Within{MaxWait: lookahead})
	if err != nil || !first.ok || first.wait != 0 {
		t.Fatalf("first = %+v, %v; want ok without wait", first, err)
	}
	// The next slot is 102 ms away, beyond the lookahead: refused, several
	// times, without moving the slot.
	var refused reservation
	for i := range 3 {
		r, err := l.reserveWithin(ctx, Key{Bot: "alpha", Chat: "2"}, Within{MaxWait: lookahead})
		if err != nil || r.ok || r.wait <= lookahead {
			t.Fatalf("broadcast %d = %+v, %v; want refused with a wait over %v", i, r, err, lookahead)
		}
		if i > 0 && r.at != refused.at {
			t.Fatalf("refusal %d names %d, the first %d: a refusal must not reserve", i, r.at, refused.at)
		}
		refused = r
	}
	if got := refused.at - first.at; got != 102_000 {
		t.Errorf("refused slot %dµs after the first send, want 102 ms", got)
	}
	// A priority send with the full MaxWait takes that very slot.
	prio, err := l.reserve(ctx, Key{Bot: "alpha", Chat: "3"})
	if err != nil || !prio.ok || prio.at != refused.at {
		t.Fatalf("priority = %+v, %v; want ok at %d", prio, err, refused.at)
	}
	// The public method agrees, and a negative wait means MaxWait.
	r, err := l.Acquire(ctx, Key{Bot: "alpha", Chat: "4"}, Within{MaxWait: -1})
	if wait, ok := r.Wait, r.OK; err != nil || !ok || wait <= 0 || wait > 2*time.Second {
		t.Fatalf("Acquire(-1) = %v, %v, %v; want ok within MaxWait", wait, ok, err)
	}
}

// TestReserveShare checks that a send reserved with a share moves the bot's
// next slot T/share later, and that other sends keep their T.
func TestReserveShare(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	rdb := redistest.Start(t).Client(t)
	// T = 102 ms; chats 1/s, which Share does not scale.
	l := newLimiter(t, rdb, Config{Global: 10, Chat: 1, Prefix: "share:"})
	bulk := Within{MaxWait: time.Second, Share: 0.5}
	b1, err := l.reserveWithin(ctx, Key{Bot: "a", Chat: "1"}, bulk)
	if err != nil || !b1.ok {
		t.Fatalf("b1 = %+v, %v", b1, err)
	}
	b2, err := l.reserveWithin(ctx, Key{Bot: "a", Chat: "2"}, bulk)
	if err != nil || !b2.ok || b2.at-b1.at != 204_000 {
		t.Fatalf("b2 = %+v, %v; want 204 ms after b1", b2, err)
	}
	p, err := l.reserve(ctx, Key{Bot: "a", Chat: "3"})
	if err != nil || !p.ok || p.at-b2.at != 204_000 {
		t.Fatalf("priority = %+v, %v; want 204 ms after b2", p, err)
	}
	b3, err := l.reserveWithin(ctx, Key{Bot: "a", Chat: "4"}, bulk)
	if err != nil || !b3.ok || b3.at-p.at != 102_000 {
		t.Fatalf("b3 = %+v, %v; want 102 ms after the priority send", b3, err)
	}
	// The chat's own limit is not scaled: chat 1 again 1.02 s after b1.
	c, err := l.reserveWithin(ctx, Key{Bot: "a", Chat: "1"}, Within{MaxWait: 2 * time.Second, Share: 0.5})
	if err != nil || !c.ok || c.at-b1.at != 1_020_000 {
		t.Fatalf("chat 1 again = %+v, %v; want 1.02 s after b1", c, err)
	}
	for _, bad := range []float64{-0.1, 1.5} {
		if _, err := l.Acquire(ctx, Key{Bot: "a", Chat: "5"}, Within{Share: bad}); err == nil {
			t.Errorf("share %v accepted", bad)
		}
	}
}

func TestPaused(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 10*time.Second)
	rdb := redistest.Start(t).Client(t)
	l := newLimiter(t, rdb, Config{Global: 30, Prefix: "paused:"})
	k := Key{Bot: "alpha", Chat: "7"}
	if d, err := l.Paused(ctx, k); err != nil || d != 0 {
		t.Fatalf("before any 429: %v, %v", d, err)
	}
	// A private chat's 429 pauses the whole bot.
	if err := l.Throttled(ctx, k, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"7", "8"} {
		if d, err := l.Paused(ctx, Key{Bot: "alpha", Chat: c}); err != nil || d <= 2*time.Second || d > 3*time.Second {
			t.Errorf("chat %s: paused %v, %v; want about 3s", c, d, err)
		}
	}
	if d, err := l.Paused(ctx, Key{Bot: "beta", Chat: "7"}); err != nil || d != 0 {
		t.Errorf("another bot: %v, %v", d, err)
	}
	// A group's 429 pauses that group only.
	g := Key{Bot: "gamma", Chat: "-100", Group: true}
	if err := l.Throttled(ctx, g, time.Second); err != nil {
		t.Fatal(err)
	}
	if d, _ := l.Paused(ctx, g); d <= 0 {
		t.Errorf("group not paused")
	}
	if d, _ := l.Paused(ctx, Key{Bot: "gamma", Chat: "5"}); d != 0 {
		t.Errorf("the group's 429 paused chat 5 for %v", d)
	}
	if _, err := l.Paused(ctx, Key{Bot: "alpha"}); err == nil {
		t.Error("key without chat accepted")
	}
}

// TestPausedAfter: pre's commands go in the pause check's round trip and
// answer for themselves; a missing key read by pre (redis.Nil) is no error
// of the check.
func TestPausedAfter(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 10*time.Second)
	rdb := redistest.Start(t).Client(t)
	l := newLimiter(t, rdb, Config{Global: 30, Prefix: "pausedafter:"})
	k := Key{Bot: "alpha", Chat: "7"}
	if err := rdb.Set(ctx, "rider", "here", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := l.Throttled(ctx, k, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key  string
		want string
		err  error
	}{
		{key: "rider", want: "here"},
		{key: "absent", err: redis.Nil},
	}
	for _, tt := range tests {
		var got *redis.StringCmd
		d, err := l.PausedAfter(ctx, k, func(p redis.Pipeliner) { got = p.Get(ctx, tt.key) })
		if err != nil || d <= time.Second || d > 2*time.Second {
			t.Errorf("%s: paused %v, %v; want about 2s", tt.key, d, err)
		}
		if v, err := got.Result(); v != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("%s: pre's GET = %q, %v; want %q, %v", tt.key, v, err, tt.want, tt.err)
		}
	}
}

// TestAcquireChatBound checks that Acquire tells chat-bound waits from
// bot-bound ones, and that ChatMaxWait refuses only chat-bound waits and
// reserves nothing when it does.
func TestAcquireChatBound(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	rdb := redistest.Start(t).Client(t)
	short := Within{MaxWait: -1, ChatMaxWait: 100 * time.Millisecond}
	tests := []struct {
		name string
		cfg  Config
		// first is sent, then second is asked for with short.
		first, second Key
		throttle      *Key // recorded (1 s) before first, if set
		wantOK        bool
		wantChatBound bool
	}{
		{"same chat: chat-bound, refused", Config{Global: 10, Chat: 1}, Key{Chat: "1"}, Key{Chat: "1"}, nil, false, true},
		{"other chat: bot-bound, reserved", Config{Global: 1, Chat: 1}, Key{Chat: "1"}, Key{Chat: "2"}, nil, true, false},
		{"group's minute: chat-bound, refused", Config{Global: 10, Chat: 10, Group: 20}, Key{Chat: "-5", Group: true}, Key{Chat: "-5", Group: true}, nil, false, true},
		{"paused group: chat-bound, refused", Config{}, Key{Chat: "-6", Group: true}, Key{Chat: "-6", Group: true}, &Key{Chat: "-6", Group: true}, false, true},
		{"paused bot: bot-bound, reserved", Config{}, Key{Chat: "7"}, Key{Chat: "8"}, &Key{Chat: "7"}, true, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bot := "bot" + string(rune('a'+i))
			l := newLimiter(t, rdb, tt.cfg)
			first, second := tt.first, tt.second
			first.Bot, second.Bot = bot, bot
			if tt.throttle != nil {
				k := *tt.throttle
				k.Bot = bot
				if err := l.Throttled(ctx, k, time.Second); err != nil {
					t.Fatal(err)
				}
			} else if r, err := l.Acquire(ctx, first, Within{MaxWait: -1}); err != nil || !r.OK || r.Wait != 0 || r.ChatBound {
				t.Fatalf("first = %+v, %v; want reserved at once", r, err)
			}
			r, err := l.Acquire(ctx, second, short)
			if err != nil || r.OK != tt.wantOK || r.ChatBound != tt.wantChatBound || r.Wait <= short.ChatMaxWait {
				t.Fatalf("second = %+v, %v; want OK %v, chat-bound %v, a wait over %v", r, err, tt.wantOK, tt.wantChatBound, short.ChatMaxWait)
			}
			// Long: refused, and beyond the limiter's MaxWait (2 s).
			if wantLong := !r.OK && r.Wait > 2*time.Second; r.Long != wantLong {
				t.Errorf("second = %+v: Long %v, want %v", r, r.Long, wantLong)
			}
			if tt.wantOK {
				return
			}
			// Refused: nothing reserved, so asking again with the full
			// wait names the same instant.
			again, err := l.Acquire(ctx, second, Within{MaxWait: 5 * time.Second})
			if err != nil || !again.OK || again.Wait > r.Wait || r.Wait-again.Wait > 50*time.Millisecond {
				t.Fatalf("again = %+v, %v; want reserved about %v away", again, err, r.Wait)
			}
		})
	}
}

// TestAcquireAfter checks that pre's commands run in the reservation's round
// trip and keep their own results, with limits on and off, and after SCRIPT
// FLUSH (the pipelined EVALSHA answers NOSCRIPT and the script is loaded).
func TestAcquireAfter(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	rdb := redistest.Start(t).Client(t)
	if err := rdb.Set(ctx, "present", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		cfg   Config
		flush bool
		key   string // read by pre
	}{
		{"limits on, key present", Config{Global: 30, Chat: 1}, false, "present"},
		{"limits on, key missing", Config{Global: 30, Chat: 1}, false, "missing"},
		{"limits on, scripts flushed", Config{Global: 30, Chat: 1}, true, "present"},
		{"limits off, key present", Config{}, false, "present"},
		{"limits off, key missing", Config{}, false, "missing"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.flush {
				if err := rdb.ScriptFlush(ctx).Err(); err != nil {
					t.Fatal(err)
				}
			}
			l := newLimiter(t, rdb, tt.cfg)
			var get *redis.StringCmd
			k := Key{Bot: "after" + strconv.Itoa(i), Chat: "1"}
			r, err := l.AcquireAfter(ctx, k, Within{MaxWait: -1}, func(p redis.Pipeliner) { get = p.Get(ctx, tt.key) })
			if err != nil || !r.OK || r.Wait != 0 {
				t.Fatalf("AcquireAfter = %+v, %v; want reserved at once", r, err)
			}
			switch v, err := get.Result(); {
			case tt.key == "present" && (err != nil || v != "v"):
				t.Errorf("GET present = %q, %v", v, err)
			case tt.key == "missing" && !errors.Is(err, redis.Nil):
				t.Errorf("GET missing = %q, %v; want redis.Nil", v, err)
			}
			// The reservation counted: with the chat limit on, the chat's
			// next send waits.
			if tt.cfg.Chat > 0 {
				if r2, err := l.Acquire(ctx, k, Within{MaxWait: -1}); err != nil || r2.Wait < 900*time.Millisecond {
					t.Errorf("next send = %+v, %v; want a wait of about 1 s", r2, err)
				}
			}
		})
	}
}
