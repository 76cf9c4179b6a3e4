package handlers

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/internal/ordering"
)

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		n        int
		err      error
		min, max time.Duration
		failure  bool
	}{
		{"429 3s", 5, &TooManyRequestsError{RetryAfter: 3 * time.Second}, 3 * time.Second, 4*time.Second + 150*time.Millisecond, false},
		{"limiter wait", 0, fmt.Errorf("wrapped: %w", &LimiterWaitError{RetryAfter: 200 * time.Millisecond}), 200 * time.Millisecond, 1300 * time.Millisecond, false},
		{"ordered wait", 3, fmt.Errorf("part 1 of 2: %w", &WaitingError{Ahead: "a", Position: 1, RetryAfter: 2 * time.Second}), 2 * time.Second, 3*time.Second + 150*time.Millisecond, false},
		{"broadcast snooze", 0, &SnoozeError{Reason: "busy", RetryAfter: time.Second}, time.Second, 2*time.Second + 100*time.Millisecond, false},
		{"broadcast slice", 0, &SnoozeError{Reason: "slice", RetryAfter: 0}, 0, time.Second, false},
		{"first transient", 0, &TransportError{Kind: "timeout"}, time.Second, 3 * time.Second, true},
		{"third transient", 3, &TelegramError{Code: 502}, 8 * time.Second, 17 * time.Second, true},
		{"capped", 40, errors.New("x"), BackoffMax / 2, BackoffMax + time.Second, true},
		{"permanent", 0, fmt.Errorf("%w: %w", &TelegramError{Code: 403}, asynq.SkipRetry), time.Second, 3 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for i := 0; i < 50; i++ {
				now := time.Now()
				d := RetryDelay(tt.n, tt.err, nil)
				asynqNow := time.Now() // asynq adds d to its own, later, now
				if d < tt.min || d > tt.max {
					t.Fatalf("RetryDelay = %s, want [%s, %s]", d, tt.min, tt.max)
				}
				// asynq keeps whole seconds: the stored second must not be
				// before the wanted delay.
				if stored := time.Unix(asynqNow.Add(d).Unix(), 0); stored.Before(now.Add(tt.min)) {
					t.Fatalf("stored retry time %s is before now+%s", stored.Sub(now), tt.min)
				}
			}
			if got := IsFailure(tt.err); got != tt.failure {
				t.Fatalf("IsFailure = %v, want %v", got, tt.failure)
			}
		})
	}
}

func TestTransportErrorTextHasNoURL(t *testing.T) {
	t.Parallel()
	cause := fmt.Errorf(`Post "http://127.0.0.1:1/bot123:SECRET/sendMessage": dial tcp: connection refused`)
	for _, e := range []*TransportError{
		{Kind: "network", err: cause}, {Kind: "timeout", err: cause}, {Kind: "server", StatusCode: 502, err: cause}, {Kind: "response", err: cause},
	} {
		if s := e.Error(); s == "" || strings.Contains(s, "SECRET") || strings.Contains(s, "http") {
			t.Fatalf("%q leaks the URL", s)
		}
		if !errors.Is(e, cause) {
			t.Fatal("cause lost for errors.Is")
		}
	}
}

// TestWaitingErrorIsParked: the dashboard and client.Status tell a parked
// ordered task by its last error's prefix, which WaitingError's doc states.
func TestWaitingErrorIsParked(t *testing.T) {
	t.Parallel()
	e := &WaitingError{Ahead: "a", Position: 2, RetryAfter: time.Second}
	if !ordering.IsParked(e.Error()) || !strings.HasPrefix(e.Error(), "ordered: waiting for its turn") {
		t.Fatalf("%q is not a parked task's error", e.Error())
	}
}
