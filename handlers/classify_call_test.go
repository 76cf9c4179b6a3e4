package handlers

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	ta "github.com/mymmrac/telego/telegoapi"

	"github.com/telequeue/telequeue/tasks"
)

// TestClassifyCall sorts each of Telegram's answers to a call of every
// method of the table: 429, 403, 5xx and network errors, migrations and
// other 400s get the same class whatever the method; "message is not
// modified" completes an edit and "message to delete not found" a delete,
// and is permanent for every other method.
func TestClassifyCall(t *testing.T) {
	t.Parallel()
	// The methods that complete on a 400 are named here, not derived from
	// their names as classifyCall does, so that a method given the wrong
	// class fails.
	edits := map[string]bool{"editMessageText": true, "editMessageCaption": true, "editMessageMedia": true, "editMessageReplyMarkup": true}
	deletes := map[string]bool{"deleteMessage": true, "deleteMessages": true}
	noChat := map[string]bool{"answerCallbackQuery": true} // no chat_id: never migrated
	for _, set := range []map[string]bool{edits, deletes, noChat} {
		for name := range set {
			if _, ok := tasks.MethodByName(name); !ok {
				t.Fatalf("%s is not a method of the table", name)
			}
		}
	}

	// The answers as botClient.CallMethod returns them: a refused call
	// wraps a *ta.Error, anything else the caller's *TransportError (a 5xx
	// is one of "server", with or without a Bot API body).
	api := func(code int, desc string, p *ta.ResponseParameters) error {
		return fmt.Errorf("api: %w", &ta.Error{ErrorCode: code, Description: desc, Parameters: p})
	}
	transport := func(kind string, status int, cause error) error {
		return fmt.Errorf("internal execution: %w", &TransportError{Kind: kind, StatusCode: status, err: cause})
	}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &net.AddrError{Err: syscall.ECONNREFUSED.Error(), Addr: "127.0.0.1:443"}}

	// want is the verdict a call must get; skipRetry and failure are what
	// its returned error, if any, tells asynq and IsFailure.
	type want struct {
		class                    class
		outcome                  Outcome
		code                     int
		retryAfter               time.Duration
		migrateTo                int64
		notModified, alreadyGone bool
		skipRetry, failure       bool
	}
	permanent := func(code int) want {
		return want{class: classPermanent, outcome: OutcomePermanent, code: code, skipRetry: true, failure: true}
	}
	transient := func(code int) want {
		return want{class: classTransient, outcome: OutcomeTransient, code: code, failure: true}
	}
	answers := []struct {
		name       string
		err        error
		migrations int
		want       want
		// except holds the methods that get exceptWant instead of want.
		except     map[string]bool
		exceptWant want
		skip       map[string]bool // methods Telegram never gives this answer
	}{
		{name: "sent", want: want{class: classSent, outcome: OutcomeSent}},
		{name: "429 retry_after", err: api(429, "Too Many Requests: retry after 7", &ta.ResponseParameters{RetryAfter: 7}),
			want: want{class: classRateLimited, outcome: OutcomeRateLimited, code: 429, retryAfter: 7 * time.Second}},
		{name: "403", err: api(403, "Forbidden: bot was blocked by the user", nil), want: permanent(403)},
		{name: "500", err: transport("server", 500, nil), want: transient(0)},
		{name: "502", err: transport("server", 502, nil), want: transient(0)},
		{name: "network", err: transport("network", 0, refused), want: transient(0)},
		{name: "migrated", err: api(400, "Bad Request: group chat was upgraded to a supergroup chat", &ta.ResponseParameters{MigrateToChatID: -1002003}),
			want: want{class: classMigrated, outcome: OutcomeMigrated, code: 400, migrateTo: -1002003}, skip: noChat},
		{name: "migrated too often", migrations: maxMigrations,
			err:  api(400, "Bad Request: group chat was upgraded to a supergroup chat", &ta.ResponseParameters{MigrateToChatID: -1002003}),
			want: permanent(400), skip: noChat},
		{name: "not modified", err: api(400, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message", nil),
			want: permanent(400), except: edits, exceptWant: want{class: classSent, outcome: OutcomeSent, notModified: true}},
		{name: "to delete not found", err: api(400, "Bad Request: message to delete not found", nil),
			want: permanent(400), except: deletes, exceptWant: want{class: classSent, outcome: OutcomeSent, alreadyGone: true}},
		{name: "400", err: api(400, "Bad Request: chat not found", nil), want: permanent(400)},
	}
	methods := tasks.Methods()
	for _, m := range methods {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			for _, a := range answers {
				if a.skip[m.Name] {
					continue
				}
				w := a.want
				if a.except[m.Name] {
					w = a.exceptWant
				}
				v := classifyCall(m, a.err, "main", a.migrations)
				got := want{class: v.class, outcome: v.outcome, code: v.code, retryAfter: v.retryAfter, migrateTo: v.migrateTo,
					notModified: v.notModified, alreadyGone: v.alreadyGone}
				err := v.returned()
				got.skipRetry, got.failure = errors.Is(err, asynq.SkipRetry), err != nil && IsFailure(err)
				if got != w {
					t.Errorf("%s: got %+v, want %+v", a.name, got, w)
				}
				if sent := w.class == classSent || w.class == classMigrated; sent != (err == nil) {
					t.Errorf("%s: returned %v", a.name, err)
				}
			}
		})
	}
}
