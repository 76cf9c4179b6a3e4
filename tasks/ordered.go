package tasks

import (
	"encoding/json"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
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
	if typ == TypeSendMessageOrdered || typ == TypeSendMessagesOrdered {
		return true
	}
	m := methodsByName.byType[typ]
	return m != nil && typ != m.Type
}

// OrderedType returns the ordered variant of a task type: that of a
// message, a multi-part reply or a method call of [Methods]
// ("telegram:send_photo" → "telegram:send_photo:ordered"). Any other type is
// returned as is.
func OrderedType(typ string) string {
	switch typ {
	case TypeSendMessage:
		return TypeSendMessageOrdered
	case TypeSendMessages:
		return TypeSendMessagesOrdered
	}
	if m := methodsByName.byType[typ]; m != nil && m.Type == typ {
		return typ + orderedSuffix
	}
	return typ
}

const orderedSuffix = ":ordered"

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

// ReadOrderKey reads the bot and chat of a payload of [TypeSendMessage] or
// [TypeSendMessages] without validating the rest. It decodes as strictly as
// those types' decoders (valid UTF-8, one JSON object and nothing after it,
// no field neither type has) and reads fields as they do, so that the order
// a task joins is that of the chat it is sent to.
//
// It reads a [Call] payload too: its chat is params.chat_id.
func ReadOrderKey(payload []byte) (OrderKey, error) {
	// Every field of the payloads: a message's, a reply's parts, a call's.
	var p struct {
		SendMessage
		Parts   json.RawMessage `json:"parts"`
		Method  string          `json:"method"`
		Params  json.RawMessage `json:"params"`
		Uploads json.RawMessage `json:"uploads"`
	}
	if err := decodeStrict(payload, &p); err != nil {
		return OrderKey{}, err
	}
	if p.Bot != "" && !ValidBotName(p.Bot) {
		return OrderKey{}, invalid("bot", ErrInvalidBot, "%q: use 1-64 letters, digits, '_' or '-'", p.Bot)
	}
	if p.Method != "" {
		var cp struct {
			ChatID telego.ChatID `json:"chat_id"`
		}
		if err := json.Unmarshal(p.Params, &cp); err != nil {
			return OrderKey{}, invalid("params.chat_id", ErrInvalidChat, "an integer id or an @username")
		}
		p.ChatID = cp.ChatID
	}
	if err := validateChat("chat_id", p.ChatID); err != nil {
		return OrderKey{}, err
	}
	return OrderKeyOf(p.BotName(), p.ChatID.String()), nil
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
