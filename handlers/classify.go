package handlers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	ta "github.com/mymmrac/telego/telegoapi"

	"github.com/telequeue/telequeue/tasks"
)

// class is what a Bot API answer means for the send that got it.
type class int

const (
	classSent         class = iota // delivered
	classRateLimited               // 429: wait retryAfter
	classMigrated                  // the group became a supergroup: resend to migrateTo
	classUnauthorized              // 401: the bot's token is wrong
	classTransient                 // 5xx, timeout, network: try again later
	classPermanent                 // 400, 403, other 4xx: never accepted
)

// verdict is the classification of one send's answer, shared by single
// messages, multi-part replies and broadcasts.
type verdict struct {
	class   class
	outcome Outcome // for the Observer
	// code is Telegram's error code (0 for success and transport errors).
	code       int
	retryAfter time.Duration // classRateLimited
	migrateTo  int64         // classMigrated
	// notModified, alreadyGone: an edit or delete whose effect was already
	// there, which completes as classSent.
	notModified, alreadyGone bool
	// err is the error to report, with our text only (never telego's,
	// which may hold the URL and with it the token); nil for classSent and
	// classMigrated. It is not wrapped with asynq.SkipRetry: see returned.
	err error
}

// returned is the error a task handler returns for v: err, wrapped with
// asynq.SkipRetry when a retry cannot help (a bad token, a message Telegram
// refuses).
func (v verdict) returned() error {
	switch v.class {
	case classUnauthorized, classPermanent:
		return fmt.Errorf("%w: %w", v.err, asynq.SkipRetry)
	}
	return v.err
}

// classify sorts the answer to a send of bot: sendErr is what the Sender
// returned, and migrations how often this send already followed
// migrate_to_chat_id (from maxMigrations on, a migration answer is
// permanent).
func classify(sendErr error, bot string, migrations int) verdict {
	if sendErr == nil {
		return verdict{class: classSent, outcome: OutcomeSent}
	}
	var apiErr *ta.Error
	if !errors.As(sendErr, &apiErr) {
		return verdict{class: classTransient, outcome: OutcomeTransient, err: transportError(sendErr)}
	}
	var rp ta.ResponseParameters
	if apiErr.Parameters != nil {
		rp = *apiErr.Parameters
	}
	code := apiErr.ErrorCode
	switch {
	case code == 429:
		after := time.Duration(max(rp.RetryAfter, 1)) * time.Second
		return verdict{class: classRateLimited, outcome: OutcomeRateLimited, code: code, retryAfter: after,
			err: &TooManyRequestsError{RetryAfter: after}}
	case rp.MigrateToChatID != 0 && migrations < maxMigrations:
		return verdict{class: classMigrated, outcome: OutcomeMigrated, code: code, migrateTo: rp.MigrateToChatID}
	case code == 401:
		return verdict{class: classUnauthorized, outcome: OutcomeUnauthorized, code: code,
			err: &TelegramError{Code: 401, Description: apiErr.Description + " (check the token of bot " + strconv.Quote(bot) + ")"}}
	case code >= 500:
		return verdict{class: classTransient, outcome: OutcomeTransient, code: code,
			err: &TelegramError{Code: code, Description: apiErr.Description}}
	default:
		// 400, 403 and other 4xx: Telegram will not accept this message
		// however often it is sent.
		return verdict{class: classPermanent, outcome: OutcomePermanent, code: code,
			err: &TelegramError{Code: code, Description: apiErr.Description}}
	}
}

// classifyCall is classify for a call of m, with the answers that mean
// success for it: an edit to the content the message already has ("message
// is not modified"), a delete of a message that is already gone.
func classifyCall(m *tasks.Method, callErr error, bot string, migrations int) verdict {
	v := classify(callErr, bot, migrations)
	if v.class != classPermanent || v.code != 400 {
		return v
	}
	var apiErr *ta.Error
	if !errors.As(callErr, &apiErr) {
		return v
	}
	desc := strings.ToLower(apiErr.Description)
	switch {
	case strings.HasPrefix(m.Name, "edit") && strings.Contains(desc, "message is not modified"):
		return verdict{class: classSent, outcome: OutcomeSent, notModified: true}
	case strings.HasPrefix(m.Name, "delete") && strings.Contains(desc, "message to delete not found"):
		return verdict{class: classSent, outcome: OutcomeSent, alreadyGone: true}
	}
	return v
}

// transportError maps a non-API telego error to an error whose text is safe
// to store: ours, never telego's (which may hold the URL and token).
func transportError(err error) error {
	var te *TransportError
	if errors.As(err, &te) {
		return te
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &TransportError{Kind: "timeout", err: context.DeadlineExceeded}
	}
	if errors.Is(err, context.Canceled) {
		return &TransportError{Kind: "network", err: context.Canceled}
	}
	return &TransportError{Kind: "response", err: errors.New("unexpected response")}
}
