package tasks

import (
	"encoding/json"

	"github.com/hibiken/asynq"
)

// Task types of ordered messages. Never rename them: queued tasks of every
// running process carry them. Their payloads are those of
// [TypeSendMessage] and [TypeSendMessages]; only the type tells a worker to
// deliver the task in its chat's order (the client records that order and
// workers follow it; both use the module's internal ordering package).
const (
	TypeSendMessageOrdered  = "telegram:send_message:ordered"
	TypeSendMessagesOrdered = "telegram:send_messages:ordered"
)

// IsOrdered reports whether tasks of type typ are delivered in their chat's
// order.
func IsOrdered(typ string) bool {
	return typ == TypeSendMessageOrdered || typ == TypeSendMessagesOrdered
}

// NewOrderedSendMessageTask is [NewSendMessageTask] for a message that is
// delivered after every ordered message enqueued before it to the same bot
// and chat, and before every later one. Enqueue it through the client
// package, which records its place in the chat's order: a task enqueued
// with asynq directly still runs, but joins its chat's order only when a
// worker first sees it.
func NewOrderedSendMessageTask(m *SendMessage, opts ...asynq.Option) (*asynq.Task, error) {
	return newSendMessageTask(TypeSendMessageOrdered, m, opts)
}

// OrderKey identifies the order an ordered task belongs to: its bot and
// chat, read from a payload of [TypeSendMessage] or [TypeSendMessages]
// without full validation.
type OrderKey struct {
	Bot  string // never empty: "default" when the payload names no bot
	Chat string // integer id, or @username in lower case
}

// ReadOrderKey reads the bot and chat of a payload. The payload must be as
// well-formed as the task's decoder demands (valid UTF-8, one JSON object,
// nothing after it); its other fields are left to that decoder.
func ReadOrderKey(payload []byte) (OrderKey, error) {
	// A map takes every field, so the strict decoder checks the form only.
	var fields map[string]json.RawMessage
	if err := decodeStrict(payload, &fields); err != nil {
		return OrderKey{}, err
	}
	var m SendMessage
	if b, ok := fields["bot"]; ok && json.Unmarshal(b, &m.Bot) != nil {
		return OrderKey{}, invalid("bot", ErrInvalidBot, "not a string")
	}
	if m.Bot != "" && !botNameRE.MatchString(m.Bot) {
		return OrderKey{}, invalid("bot", ErrInvalidBot, "%q: use 1-64 letters, digits, '_' or '-'", m.Bot)
	}
	if c, ok := fields["chat_id"]; ok && json.Unmarshal(c, &m.ChatID) != nil {
		return OrderKey{}, invalid("chat_id", ErrInvalidChat, "not an integer or a @username")
	}
	if err := validateChat("chat_id", m.ChatID); err != nil {
		return OrderKey{}, err
	}
	return OrderKeyOf(m.BotName(), m.ChatID.String()), nil
}

// OrderKeyOf returns the order key of a bot name and a chat (an integer id
// or an @username, compared case-insensitively as Telegram does).
func OrderKeyOf(bot, chat string) OrderKey {
	if bot == "" {
		bot = DefaultBot
	}
	if len(chat) > 0 && chat[0] == '@' {
		chat = lowerASCII(chat)
	}
	return OrderKey{Bot: bot, Chat: chat}
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
