package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/mymmrac/telego"
	"github.com/mymmrac/telego/telegoapi"
)

// Tokens shaped like real ones (telego validates ^\d+:[\w-]{35}$).
const (
	token1 = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawX"
	token2 = "987654321:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsawY"
	bot1   = int64(123456789)
	bot2   = int64(987654321)
)

// start returns a started sandbox that is closed when the test ends.
func start(t *testing.T, cfg Config) *Sandbox {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newBot returns a telego bot talking to s.
func newBot(t *testing.T, s *Sandbox, token string, opts ...telego.BotOption) *telego.Bot {
	t.Helper()
	opts = append([]telego.BotOption{telego.WithAPIServer(s.URL()), telego.WithDiscardLogger()}, opts...)
	b, err := telego.NewBot(token, opts...)
	if err != nil {
		t.Fatalf("NewBot: %v", err)
	}
	return b
}

// ctx returns a context bounded to a few seconds for one call.
func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// fakeClock is a manual clock for limit tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// useFakeClock switches s (before its first request) to a manual clock.
func useFakeClock(s *Sandbox) *fakeClock {
	c := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now, s.epoch = c.Now, c.now
	return c
}

// apiError extracts the *telegoapi.Error from err, failing if there is none.
func apiError(t *testing.T, err error) *telegoapi.Error {
	t.Helper()
	var e *telegoapi.Error
	if !errors.As(err, &e) {
		t.Fatalf("want *telegoapi.Error, got %v", err)
	}
	return e
}

// send sends text to chat with b.
func send(ctx context.Context, b *telego.Bot, chat telego.ChatID, text string) (*telego.Message, error) {
	return b.SendMessage(ctx, &telego.SendMessageParams{ChatID: chat, Text: text})
}

// formConstructor makes telego send every call as multipart/form-data (the
// way it sends files) or as application/x-www-form-urlencoded.
type formConstructor struct {
	urlencoded bool
}

func (f formConstructor) JSONRequest(parameters any) (*telegoapi.RequestData, error) {
	b, err := json.Marshal(parameters)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	form := make(map[string]string, len(fields))
	for k, v := range fields {
		var s string
		if json.Unmarshal(v, &s) == nil {
			form[k] = s
		} else {
			form[k] = string(v)
		}
	}
	if !f.urlencoded {
		return telegoapi.DefaultConstructor{}.MultipartRequest(form, nil)
	}
	vals := url.Values{}
	for k, v := range form {
		vals.Set(k, v)
	}
	return &telegoapi.RequestData{
		ContentType: "application/x-www-form-urlencoded",
		BodyRaw:     []byte(vals.Encode()),
	}, nil
}

func (f formConstructor) MultipartRequest(p map[string]string, files map[string]telegoapi.NamedReader) (*telegoapi.RequestData, error) {
	return telegoapi.DefaultConstructor{}.MultipartRequest(p, files)
}

// checkConsistent asserts the accounting identities documented on Stats.
func checkConsistent(t *testing.T, st Stats) {
	t.Helper()
	sum := 0
	for _, n := range st.Rejected429 {
		sum += n
	}
	if sum != st.Violations {
		t.Errorf("sum(Rejected429) = %d, Violations = %d", sum, st.Violations)
	}
	parts := st.Delivered + st.OtherOK + st.Violations + st.EarlyRetry + st.BadRequests + st.Unauthorized + st.NotFound
	for k, n := range st.Faults {
		if !k.delivers() {
			parts += n
		}
	}
	if st.Requests != parts {
		t.Errorf("Requests = %d, parts add up to %d (%+v)", st.Requests, parts, st)
	}
}
