package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	ta "github.com/mymmrac/telego/telegoapi"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	// telego's net/http caller puts the URL, and with it the token, in
	// its errors.
	leaky := fmt.Errorf(`internal execution: http do request: Post "http://127.0.0.1:1/bot123:SECRET/sendMessage": %w`, errors.New("dial tcp: connection refused"))
	api := func(code int, desc string, p *ta.ResponseParameters) error {
		return fmt.Errorf(`telego: sendMessage: api: %w`, &ta.Error{ErrorCode: code, Description: desc, Parameters: p})
	}
	tests := []struct {
		name       string
		err        error
		migrations int
		class      class
		outcome    Outcome
		code       int
		retryAfter time.Duration
		migrateTo  int64
		text       string // the returned error's text
		skipRetry  bool
		failure    bool // counted as a failed attempt
	}{
		{name: "sent", class: classSent, outcome: OutcomeSent},
		{name: "transport, URL in the text", err: leaky, class: classTransient, outcome: OutcomeTransient,
			text: "telegram: unreadable response", failure: true},
		{name: "our transport error", err: &TransportError{Kind: "timeout", err: leaky}, class: classTransient, outcome: OutcomeTransient,
			text: "telegram: request timed out", failure: true},
		{name: "deadline", err: fmt.Errorf("x: %w", context.DeadlineExceeded), class: classTransient, outcome: OutcomeTransient,
			text: "telegram: request timed out", failure: true},
		{name: "429 with retry_after", err: api(429, "Too Many Requests: retry after 3", &ta.ResponseParameters{RetryAfter: 3}),
			class: classRateLimited, outcome: OutcomeRateLimited, code: 429, retryAfter: 3 * time.Second,
			text: "telegram: 429 Too Many Requests: retry after 3s"},
		{name: "429 without retry_after", err: api(429, "Too Many Requests", nil),
			class: classRateLimited, outcome: OutcomeRateLimited, code: 429, retryAfter: time.Second,
			text: "telegram: 429 Too Many Requests: retry after 1s"},
		{name: "migrated", err: api(400, "Bad Request: group chat was upgraded to a supergroup chat", &ta.ResponseParameters{MigrateToChatID: -100123}),
			class: classMigrated, outcome: OutcomeMigrated, code: 400, migrateTo: -100123},
		{name: "migrated too often", migrations: maxMigrations, err: api(400, "Bad Request: group chat was upgraded", &ta.ResponseParameters{MigrateToChatID: -100123}),
			class: classPermanent, outcome: OutcomePermanent, code: 400,
			text: "telegram 400: Bad Request: group chat was upgraded", skipRetry: true, failure: true},
		{name: "401", err: api(401, "Unauthorized", nil), class: classUnauthorized, outcome: OutcomeUnauthorized, code: 401,
			text: `telegram 401: Unauthorized (check the token of bot "main")`, skipRetry: true, failure: true},
		{name: "500", err: api(500, "Internal Server Error", nil), class: classTransient, outcome: OutcomeTransient, code: 500,
			text: "telegram 500: Internal Server Error", failure: true},
		{name: "502", err: api(502, "Bad Gateway", nil), class: classTransient, outcome: OutcomeTransient, code: 502,
			text: "telegram 502: Bad Gateway", failure: true},
		{name: "403 blocked", err: api(403, "Forbidden: bot was blocked by the user", nil), class: classPermanent, outcome: OutcomePermanent, code: 403,
			text: "telegram 403: Forbidden: bot was blocked by the user", skipRetry: true, failure: true},
		{name: "400", err: api(400, "Bad Request: chat not found", nil), class: classPermanent, outcome: OutcomePermanent, code: 400,
			text: "telegram 400: Bad Request: chat not found", skipRetry: true, failure: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := classify(tt.err, "main", tt.migrations)
			if v.class != tt.class || v.outcome != tt.outcome || v.code != tt.code || v.retryAfter != tt.retryAfter || v.migrateTo != tt.migrateTo {
				t.Fatalf("verdict %+v, want class %d outcome %s code %d retry after %s migrate to %d",
					v, tt.class, tt.outcome, tt.code, tt.retryAfter, tt.migrateTo)
			}
			err := v.returned()
			if tt.text == "" {
				if err != nil {
					t.Fatalf("returned %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("returned nil")
			}
			if got := strings.TrimSuffix(err.Error(), ": "+asynq.SkipRetry.Error()); got != tt.text {
				t.Errorf("text %q, want %q", got, tt.text)
			}
			if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "http") {
				t.Errorf("text %q leaks telego's error", err)
			}
			if got := errors.Is(err, asynq.SkipRetry); got != tt.skipRetry {
				t.Errorf("SkipRetry %v, want %v", got, tt.skipRetry)
			}
			if got := IsFailure(err); got != tt.failure {
				t.Errorf("IsFailure %v, want %v", got, tt.failure)
			}
		})
	}
}
