package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	tg "github.com/mymmrac/telego/telegoutil"
)

func TestAdminAPIRoundTrip(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	c := NewClient(s.URL(), nil)
	b := newBot(t, s, token1)

	// Rules: add, list, hit, remove.
	id, err := c.AddRule(ctx(t), Rule{Kind: KindBlocked, Chat: "42"})
	if err != nil {
		t.Fatalf("AddRule: %v", err)
	}
	if _, err := c.AddRule(ctx(t), Rule{Kind: "bogus"}); err == nil || !strings.Contains(err.Error(), "unknown kind") {
		t.Errorf("AddRule(bogus) = %v", err)
	}
	_, err = send(ctx(t), b, tg.ID(42), "blocked?")
	if e := apiError(t, err); e.ErrorCode != 403 {
		t.Errorf("got %v", e)
	}
	if err := c.RemoveRule(ctx(t), id); err != nil {
		t.Fatalf("RemoveRule: %v", err)
	}
	if err := c.RemoveRule(ctx(t), id); err == nil {
		t.Error("RemoveRule twice succeeded")
	}

	// Raw JSON rule with string kind and duration.
	code, body := rawCall(t, "POST", s.URL()+"/sandbox/rules", "application/json",
		`{"kind":"429","chat":"@chan","retry_after":4,"times":1}`)
	if code != http.StatusCreated || !strings.Contains(body, `"id":`) {
		t.Fatalf("POST rules: %d %s", code, body)
	}
	code, body = rawCall(t, "GET", s.URL()+"/sandbox/rules", "", "")
	var infos []RuleInfo
	if err := json.Unmarshal([]byte(body), &infos); code != 200 || err != nil || len(infos) != 1 ||
		infos[0].Rule.Kind != KindTooManyRequests || infos[0].Remaining != 1 {
		t.Fatalf("GET rules: %d %s", code, body)
	}
	_, err = send(ctx(t), b, tg.Username("@chan"), "x")
	if e := apiError(t, err); e.ErrorCode != 429 || e.Parameters.RetryAfter != 4 {
		t.Errorf("got %v", e)
	}
	if err := c.ClearRules(ctx(t)); err != nil {
		t.Fatal(err)
	}

	// Messages, WaitFor and Stats.
	waited := make(chan error, 1)
	go func() { waited <- c.WaitFor(ctx(t), 2) }()
	for _, chat := range []int64{1, 2} {
		if _, err := send(ctx(t), b, tg.ID(chat), "hello"); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-waited; err != nil {
		t.Fatalf("WaitFor: %v", err)
	}
	all, err := c.Messages(ctx(t), "")
	if err != nil || len(all) != 2 {
		t.Fatalf("Messages: %v %+v", err, all)
	}
	one, err := c.Messages(ctx(t), "2")
	if err != nil || len(one) != 1 || one[0].ChatID != "2" || one[0].BotID != bot1 || one[0].Params["text"] != "hello" {
		t.Fatalf("Messages(2): %v %+v", err, one)
	}
	code, body = rawCall(t, "GET", s.URL()+"/sandbox/messages?since=1", "", "")
	if code != 200 || strings.Count(body, `"seq"`) != 1 || strings.Contains(body, token1) {
		t.Errorf("since=1: %d %s", code, body)
	}
	st, err := c.Stats(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Delivered != 2 || st.Faults[KindBlocked] != 1 || st.Faults[KindTooManyRequests] != 1 || st.Bots[bot1].Chats["1"].Delivered != 1 {
		t.Errorf("Stats = %+v", st)
	}
	checkConsistent(t, st)

	// Limits at runtime.
	if err := c.SetLimits(ctx(t), Limits{Chat: 1}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetLimits(ctx(t), Limits{Chat: -1}); err == nil {
		t.Error("SetLimits(-1) succeeded")
	}
	code, body = rawCall(t, "GET", s.URL()+"/sandbox/limits", "", "")
	if code != 200 || !strings.Contains(body, `"chat":1`) {
		t.Errorf("GET limits: %d %s", code, body)
	}
	if _, err := send(ctx(t), b, tg.ID(9), "a"); err != nil {
		t.Fatal(err)
	}
	_, err = send(ctx(t), b, tg.ID(9), "b")
	if e := apiError(t, err); e.ErrorCode != 429 {
		t.Errorf("got %v", e)
	}

	// Reset.
	if err := c.Reset(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Stats(ctx(t)); st.Delivered != 0 || st.Requests != 0 {
		t.Errorf("after reset: %+v", st)
	}

	// WaitFor times out via the server's long poll.
	short, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := c.WaitFor(short, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor = %v", err)
	}

	// Unknown admin paths and wrong methods.
	if code, _ := rawCall(t, "GET", s.URL()+"/sandbox/nope", "", ""); code != 404 {
		t.Errorf("unknown admin path: %d", code)
	}
	if code, _ := rawCall(t, "POST", s.URL()+"/sandbox/stats", "", ""); code != 405 {
		t.Errorf("POST stats: %d", code)
	}
}

// The admin API answers message state and waits for sends.
func TestAdminState(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	c := NewClient(s.URL(), nil)
	sendText(t, s, 42, "one")
	uploadPhoto(t, s, 42, "cap")
	ok(t, callJSON(t, s, "editMessageText", map[string]any{"chat_id": 42, "message_id": 1, "text": "two"}), nil)
	ok(t, callJSON(t, s, "deleteMessage", map[string]any{"chat_id": 42, "message_id": 2}), nil)

	m, err := c.Message(ctx(t), bot1, "42", 1)
	if err != nil || m.Text != "two" || m.Edits != 1 || m.Deleted || m.Kind != "text" {
		t.Errorf("Message(1) = %+v, %v", m, err)
	}
	all, err := c.ChatMessages(ctx(t), bot1, "42")
	if err != nil || len(all) != 2 || !all[1].Deleted || all[1].Caption != "cap" || all[1].FileID == "" {
		t.Errorf("ChatMessages = %+v, %v", all, err)
	}
	if _, err := c.Message(ctx(t), bot1, "42", 3); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Message(3) err = %v", err)
	}
	if empty, err := c.ChatMessages(ctx(t), bot1, "7"); err != nil || len(empty) != 0 {
		t.Errorf("ChatMessages(7) = %v, %v", empty, err)
	}
	code, body := rawCall(t, "GET", s.URL()+"/sandbox/wait?n=2&sends=1&timeout=1s", "", "")
	if code != 200 || !strings.Contains(body, `"count":2`) {
		t.Errorf("wait sends: %d %s", code, body)
	}
	code, body = rawCall(t, "GET", s.URL()+"/sandbox/wait?n=3&sends=1&timeout=50ms", "", "")
	if code != http.StatusRequestTimeout || !strings.Contains(body, `"count":2`) {
		t.Errorf("wait 3 sends: %d %s", code, body)
	}
	if n := s.Count(); n != 4 {
		t.Errorf("Count = %d, want 4 records", n)
	}
	c2, cancel := context.WithTimeout(ctx(t), 50*time.Millisecond)
	defer cancel()
	if err := s.WaitForSends(c2, 3); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitForSends(3) = %v", err)
	}
}
