package tasks

import "time"

// Task headers telequeue sets.
const (
	// HeaderIdempotencyKey carries the idempotency key a message was queued
	// with, so that its outcome [Event] can name it.
	HeaderIdempotencyKey = "idempotency_key"
	// HeaderDeadline carries the time (Unix milliseconds) after which a
	// message is not worth sending: a worker that takes it later drops it
	// (outcome "dropped") instead of sending it or retrying it.
	HeaderDeadline = "deadline"
)

// Outcome is how a task, or one recipient of a broadcast, ended for good.
type Outcome string

// Final outcomes reported in an [Event].
const (
	// OutcomeSent: Telegram accepted the message; the event holds its
	// message_id(s) and the chat it went to.
	OutcomeSent Outcome = "sent"
	// OutcomeArchived: the message failed for good (a 400 such as "chat not
	// found", a rejected token, an invalid payload, or retries exhausted);
	// the event holds Telegram's code and description, or telequeue's reason.
	OutcomeArchived Outcome = "archived"
	// OutcomeBlocked: Telegram answered 403 (the user blocked the bot or was
	// deactivated, the bot was kicked from the group): mark the chat
	// inactive.
	OutcomeBlocked Outcome = "blocked"
	// OutcomeSuperseded: a newer edit of the same message made this one
	// pointless; it was not sent.
	OutcomeSuperseded Outcome = "superseded"
	// OutcomeDropped: the message was too late to be worth sending (its
	// deadline passed) and was dropped without being sent.
	OutcomeDropped Outcome = "dropped"
	// OutcomeCancelled: the message was cancelled before it was sent (a
	// cancelled broadcast's recipients).
	OutcomeCancelled Outcome = "cancelled"
)

// Event reports a final outcome. Workers append one to the outcome stream
// (a Redis Stream) for every task that ends and for every broadcast
// recipient that is blocked; read them with the client package's Events,
// GET /v1/events, a webhook, or XREADGROUP from any language.
type Event struct {
	// ID is the event's stream entry id ("<ms>-<seq>"): resume after it.
	ID string `json:"id"`
	// Outcome is how it ended.
	Outcome Outcome `json:"outcome"`
	// TaskID is the receipt id of the message (for a broadcast recipient,
	// of the chunk task that sent it).
	TaskID string `json:"task_id"`
	// IdempotencyKey is the key the message was queued with, if any.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Method is the Bot API method ("sendMessage").
	Method string `json:"method"`
	// Type is the task type, e.g. [TypeSendMessage] or [TypeSendMessages]
	// for a multi-part reply.
	Type string `json:"type"`
	// Bot is the bot's name.
	Bot string `json:"bot"`
	// Chat is the chat as queued: an integer id or @username.
	Chat string `json:"chat"`
	// ChatID is the chat Telegram delivered to: Chat, or the supergroup a
	// group migrated to (then MigratedFrom is the old id).
	ChatID       int64 `json:"chat_id,omitempty"`
	MigratedFrom int64 `json:"migrated_from,omitempty"`
	// MessageIDs are Telegram's ids of the messages sent: one, or one per
	// part of a multi-part reply. A reply archived part-way lists the parts
	// that were delivered.
	MessageIDs []int64 `json:"message_ids,omitempty"`
	// ErrorCode and Description are Telegram's answer (archived, blocked),
	// or ErrorCode 0 and telequeue's reason.
	ErrorCode   int    `json:"error_code,omitempty"`
	Description string `json:"description,omitempty"`
	// BroadcastID names the broadcast of a recipient's event.
	BroadcastID string `json:"broadcast_id,omitempty"`
	// Time is when the outcome happened.
	Time time.Time `json:"time"`
}

// Webhook deliveries: one task per event and receiver, on their own queue
// so that a slow or failing receiver never holds back messages.
const (
	// TypeWebhook is the task type of a webhook delivery; its payload is
	// the [Event] JSON that is POSTed. Never renamed.
	TypeWebhook = "telequeue:webhook"
	// QueueWebhooks is the queue of webhook deliveries.
	QueueWebhooks = "webhooks"
)
