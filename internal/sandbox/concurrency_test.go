package sandbox

import (
	"errors"
	"strconv"
	"strings"
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
	// Whole-number rates (W = 1 s; 1 min for Group). They must refuse some
	// sends: each chat gets 64 requests in 2.24 s of fake time, more than
	// Chat allows, and the bot more than Global allows.
	lim := Limits{Global: 60, Chat: 15, Group: 45}
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
	t.Logf("delivered %d, violations %v, early %d, faults %v, max/s %d",
		st.Delivered, st.Rejected429, st.EarlyRetry, st.Faults, st.MaxPerSecond)
	if st.Requests != 8*40 {
		t.Errorf("Requests = %d", st.Requests)
	}
	if got429 != st.Violations+st.EarlyRetry {
		t.Errorf("client saw %d 429s, stats %d + %d", got429, st.Violations, st.EarlyRetry)
	}
	if st.Delivered != s.Count() {
		t.Errorf("Delivered %d, Count %d", st.Delivered, s.Count())
	}
	if st.Violations == 0 {
		t.Error("no violations: the limits were not exercised")
	}
	// What was delivered fits every limit: per scope, the (N+1)-th delivery
	// of any N+1 consecutive ones is at least W after the first.
	var global []time.Time
	perChat := map[string][]time.Time{}
	for _, m := range s.Messages() {
		if m.ChatID == "3" {
			t.Errorf("delivered to the blocked chat: %+v", m)
		}
		global = append(global, m.At)
		perChat[m.ChatID] = append(perChat[m.ChatID], m.At)
	}
	checkWindows(t, "global", global, int(lim.Global), time.Second)
	for id, at := range perChat {
		checkWindows(t, "chat "+id, at, int(lim.Chat), time.Second)
		if strings.HasPrefix(id, "-") {
			checkWindows(t, "group "+id, at, int(lim.Group), time.Minute)
		}
	}
	if st.MaxPerSecond > int(lim.Global) {
		t.Errorf("MaxPerSecond %d > Global", st.MaxPerSecond)
	}
}

// checkWindows asserts that the delivery times at (in delivery order) never
// have more than n in a window of length w.
func checkWindows(t *testing.T, scope string, at []time.Time, n int, w time.Duration) {
	t.Helper()
	for i := n; i < len(at); i++ {
		if d := at[i].Sub(at[i-n]); d < w {
			t.Errorf("%s: deliveries #%d and #%d only %v apart: %d in a window of %v", scope, i-n, i, d, n+1, w)
			return
		}
	}
}

// TestConcurrentMethods runs sends, albums, edits, deletes and uploads from
// many goroutines (for the race detector) and checks the accounting and
// that every chat's message ids are 1..n without gaps.
func TestConcurrentMethods(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, Config{})
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			chat := int64(g%3 + 1)
			for i := range 10 {
				switch i % 5 {
				case 0:
					callJSON(t, s, "sendMessage", map[string]any{"chat_id": chat, "text": "t"})
				case 1:
					callJSON(t, s, "sendMediaGroup", map[string]any{"chat_id": chat, "media": []any{
						map[string]any{"type": "photo", "media": "https://x/1"}, map[string]any{"type": "photo", "media": "https://x/2"}}})
				case 2:
					callJSON(t, s, "editMessageText", map[string]any{"chat_id": chat, "message_id": 1, "text": "e" + strings.Repeat("x", g*10+i)})
				case 3:
					callForm(t, s, "sendPhoto", map[string]string{"chat_id": jsonInt(chat)}, map[string][]byte{"photo": tinyPNG})
				case 4:
					callJSON(t, s, "deleteMessage", map[string]any{"chat_id": chat, "message_id": i})
				}
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	checkConsistent(t, st)
	// Per goroutine: 2 texts, 2 albums of 2, 2 photos = 8 messages.
	if st.Delivered != 6*6 || st.Uploads != 12 {
		t.Errorf("Delivered %d, Uploads %d", st.Delivered, st.Uploads)
	}
	for chat := range 3 {
		msgs := s.ChatMessages(bot1, strconv.Itoa(chat+1))
		if len(msgs) != 16 {
			t.Errorf("chat %d: %d messages, want 16", chat+1, len(msgs))
		}
		for i, m := range msgs {
			if m.MessageID != int64(i+1) {
				t.Fatalf("chat %d: ids %v", chat+1, msgs)
			}
		}
	}
}
