package sandbox

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mymmrac/telego/telegoapi"
	tg "github.com/mymmrac/telego/telegoutil"
)

// TestConcurrentAccounting hammers the limits from many goroutines and
// checks that what was delivered never breaks a limit and that every request
// is accounted for exactly once.
func TestConcurrentAccounting(t *testing.T) {
	t.Parallel()
	lim := Limits{Global: 200, Chat: 50, Group: 1200} // T = 5 ms, 20 ms, 50 ms
	s := start(t, Config{Limits: lim})
	// A fake clock that every sender moves 7 ms forward: a 429's whole-second
	// penalty then ends within the test, so chats get several deliveries.
	clock := useFakeClock(s)
	s.AddRule(Rule{Kind: KindBlocked, Chat: "3"})
	b := newBot(t, s, token1)
	chats := []int64{1, 2, 3, -4, -5}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got429 := 0
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				clock.Advance(7 * time.Millisecond)
				_, err := send(ctx(t), b, tg.ID(chats[(g+i)%len(chats)]), "c")
				var e *telegoapi.Error
				if errors.As(err, &e) && e.ErrorCode == 429 {
					mu.Lock()
					got429++
					mu.Unlock()
				} else if err != nil && (e == nil || e.ErrorCode != 403) {
					t.Errorf("send: %v", err)
				}
			}
		})
	}
	wg.Wait()

	st := s.Stats()
	checkConsistent(t, st)
	t.Logf("delivered %d, violations %v, early %d, faults %v, min gaps %v/%v, max/s %d",
		st.Delivered, st.Rejected429, st.EarlyRetry, st.Faults, st.MinChatGap, st.MinGroupGap, st.MaxPerSecond)
	if st.Requests != 8*40 {
		t.Errorf("Requests = %d", st.Requests)
	}
	if got429 != st.Violations+st.EarlyRetry {
		t.Errorf("client saw %d 429s, stats %d + %d", got429, st.Violations, st.EarlyRetry)
	}
	if st.Delivered != s.Count() {
		t.Errorf("Delivered %d, Count %d", st.Delivered, s.Count())
	}
	// Burst 1 with tolerance τ = T/10: consecutive deliveries are >= T - τ apart.
	if minGap := 18 * time.Millisecond; st.MinChatGap < minGap { // also fails if no chat got two
		t.Errorf("MinChatGap %v < %v", st.MinChatGap, minGap)
	}
	if minGap := 45 * time.Millisecond; st.MinGroupGap >= 0 && st.MinGroupGap < minGap {
		t.Errorf("MinGroupGap %v < %v", st.MinGroupGap, minGap)
	}
	// The same from the records' timestamps, per chat.
	last := map[string]time.Time{}
	for _, m := range s.Messages() {
		if p, ok := last[m.ChatID]; ok && m.At.Sub(p) < 18*time.Millisecond {
			t.Errorf("chat %s: gap %v", m.ChatID, m.At.Sub(p))
		}
		last[m.ChatID] = m.At
	}
	if st.MaxPerSecond > 201 {
		t.Errorf("MaxPerSecond %d > Global+1", st.MaxPerSecond)
	}
}
