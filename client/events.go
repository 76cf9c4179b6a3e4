package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/telequeue/telequeue/internal/events"
	"github.com/telequeue/telequeue/internal/webhook"
	"github.com/telequeue/telequeue/tasks"
)

// EventsConfig says how [Client.Events] reads the outcome stream.
type EventsConfig struct {
	// Group names the consumer group. Every event goes to one consumer of
	// the group, so the processes of one application share the events by
	// using the same Group; another application (or purpose) uses another
	// Group and sees every event too. Required.
	Group string
	// Consumer names this reader within the group, e.g. the host name and
	// process id. A process restarted under the same name first gets the
	// events it had not finished. Required.
	Consumer string
	// FromStart makes a group that does not exist yet start with every
	// event the stream still holds; by default it starts with the events
	// appended from then on. An existing group keeps its place either way.
	FromStart bool
	// ClaimIdle is how long an event may stay unfinished at another consumer
	// of the group (a process that died) before this one takes it over.
	// Default 1 minute.
	ClaimIdle time.Duration
}

// Events reads the outcome stream: one [tasks.Event] per message that ended
// (sent, with its message ids; archived or blocked, with Telegram's answer;
// superseded, dropped, cancelled) and per broadcast recipient that blocked
// the bot. Workers append them as outcomes happen.
//
// Each event is acknowledged when the loop body that received it returns
// (continues or breaks): an event whose body did not finish — the process
// died — is delivered again, to this consumer when it restarts under the
// same name, or to another consumer of the group after ClaimIdle. So every
// event is handled at least once: make the handling idempotent (e.g. keyed by
// the event's TaskID).
//
// The iteration ends when ctx ends. A Redis error is yielded (wrapping
// [ErrUnavailable] when Redis cannot be reached) and, if the loop goes on,
// reading resumes after a second's pause; a malformed entry is yielded as an
// error and skipped.
func (c *Client) Events(ctx context.Context, cfg EventsConfig) iter.Seq2[*tasks.Event, error] {
	start := "$"
	if cfg.FromStart {
		start = "0"
	}
	r, err := events.NewGroupReader(c.rdb, events.GroupConfig{
		Group: cfg.Group, Consumer: cfg.Consumer, Start: start, ClaimIdle: cfg.ClaimIdle,
	})
	return func(yield func(*tasks.Event, error) bool) {
		if err != nil {
			yield(nil, fmt.Errorf("client: events: %w: %w", ErrInvalidOption, err))
			return
		}
		for ctx.Err() == nil {
			e, err := r.Next(ctx)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				if !yield(nil, fmt.Errorf("client: events: %w", unavailable(err))) {
					return
				}
				if errors.Is(err, ErrUnavailable) || isConnError(err) {
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Second):
					}
				}
				continue
			}
			more := yield(e, nil)
			// Acknowledge even when the caller's ctx has just ended: the body
			// ran to its end.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			ackErr := r.Ack(actx, e.ID)
			cancel()
			if ackErr != nil && more {
				more = yield(nil, fmt.Errorf("client: events: %w", unavailable(ackErr)))
			}
			if !more {
				return
			}
		}
	}
}

// WebhookSignatureHeader is the header that signs a webhook delivery.
const WebhookSignatureHeader = webhook.SignatureHeader

// VerifyWebhook checks a webhook delivery: header is its
// Telequeue-Signature, body the raw request body, secret the workers'
// WEBHOOK_SECRET. It returns nil when a signature matches and its timestamp
// is within 5 minutes of now; otherwise answer 401 and ignore the request.
// Deliveries are at least once: dedupe by the event's ID.
func VerifyWebhook(secret []byte, header string, body []byte) error {
	return webhook.Verify(secret, header, body, time.Now(), webhook.DefaultTolerance)
}
