package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/internal/leaktest"
	"github.com/telequeue/telequeue/internal/redistest"
)

type waitError struct{ after time.Duration }

func (e *waitError) Error() string {
	return fmt.Sprintf("wait %v: %s", e.after, strings.Repeat("w", 1000))
}

func TestCapError(t *testing.T) {
	t.Parallel()
	short := errors.New("telegram: 403 Forbidden: bot was blocked by the user")
	tests := []struct {
		name     string
		err      error
		wantSame bool // returned unchanged
		is       error
		as       bool // errors.As finds the *waitError
	}{
		{"nil", nil, true, nil, false},
		{"short stays the same value", short, true, nil, false},
		{"exactly the limit", errors.New(strings.Repeat("x", MaxErrorChars)), true, nil, false},
		{"limit in characters, not bytes", errors.New(strings.Repeat("я", MaxErrorChars)), true, nil, false},
		{"long, wrapping SkipRetry", fmt.Errorf("chat %q: %w", strings.Repeat("a", 200_000), asynq.SkipRetry), false, asynq.SkipRetry, false},
		{"long multi-byte", errors.New(strings.Repeat("я", 10*MaxErrorChars)), false, nil, false},
		{"long typed", fmt.Errorf("send: %w", &waitError{after: time.Second}), false, nil, true},
		{"long invalid UTF-8", errors.New(strings.Repeat("\xff", 2*MaxErrorChars)), false, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := capError(tt.err)
			if tt.wantSame {
				if got != tt.err {
					t.Fatalf("capError changed %v", tt.err)
				}
				return
			}
			text := got.Error()
			if n := utf8.RuneCountInString(text); n != MaxErrorChars+1 || !strings.HasSuffix(text, "…") {
				t.Errorf("text has %d characters, want %d ending in …", n, MaxErrorChars+1)
			}
			if !utf8.ValidString(text) {
				t.Error("text is not valid UTF-8")
			}
			if !strings.HasPrefix(tt.err.Error(), strings.TrimSuffix(text, "…")) && utf8.ValidString(tt.err.Error()) {
				t.Error("text is not the start of the original")
			}
			if tt.is != nil && !errors.Is(got, tt.is) {
				t.Errorf("errors.Is(%v) lost", tt.is)
			}
			var we *waitError
			if tt.as && !errors.As(got, &we) {
				t.Error("errors.As lost the typed error")
			}
		})
	}
}

// TestStoredErrorIsCapped runs a handler that fails for good with a huge
// error text: asynq archives the task at once (SkipRetry still seen) and
// stores the capped text.
func TestStoredErrorIsCapped(t *testing.T) {
	rs := redistest.Start(t)
	opt := asynq.RedisClientOpt{Addr: rs.Addr()}
	huge := strings.Repeat("b", 200_000)
	h := asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		return fmt.Errorf("bot %q unknown: %w", huge, asynq.SkipRetry)
	})
	s, err := New(Config{Redis: opt, SendMessage: h, Concurrency: 1, TaskCheckInterval: 10 * time.Millisecond,
		ShutdownTimeout: time.Second, DrainTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	cl := asynq.NewClient(opt)
	defer cl.Close()
	info, err := cl.Enqueue(asynq.NewTask("telegram:send_message", []byte(`{}`)), asynq.MaxRetry(5))
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	var ti *asynq.TaskInfo
	leaktest.WaitFor(t, "the task to be archived", func() bool {
		ti, err = insp.GetTaskInfo(info.Queue, info.ID)
		return err == nil && ti.State == asynq.TaskStateArchived
	})
	if ti.Retried != 0 {
		t.Errorf("retried %d times: SkipRetry was not seen", ti.Retried)
	}
	if n := utf8.RuneCountInString(ti.LastErr); n > MaxErrorChars+1 || !strings.HasPrefix(ti.LastErr, `bot "bbb`) {
		t.Errorf("stored error has %d characters: %.80s…", n, ti.LastErr)
	}
}
