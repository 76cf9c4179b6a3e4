package tasks

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
)

// TypeSendMessages is the task type of a multi-part reply: several
// sendMessage calls to one chat, sent in order by one task. Never rename it.
const TypeSendMessages = "telegram:send_messages"

// SendMessagesVersion is the payload version this build writes and the
// newest it reads.
const SendMessagesVersion = 1

// Limits of a multi-part reply.
const (
	// MaxParts is the most parts one reply may have: 50 parts of 4096
	// characters are about 200,000 characters, and at Telegram's one message
	// per second and chat they take close to a minute to send.
	MaxParts = 50
	// PartTimeout is added to [DefaultTimeout] per part to make the task's
	// default timeout: a part may wait for the chat's rate limit and for
	// Telegram before the next one starts. A part that is not done by then
	// is retried, resuming after the last part sent.
	PartTimeout = 5 * time.Second
)

// ErrTooManyParts is wrapped by the [*ValidationError] of a reply with more
// than [MaxParts] parts, and ErrNoParts by that of a reply without parts.
var (
	ErrTooManyParts = errors.New("too many parts")
	ErrNoParts      = errors.New("no parts")
)

// SendMessages is the payload of a [TypeSendMessages] task: the parts of one
// reply, sent in order to one chat by one bot. Each part is a sendMessage
// call with its own text, parse mode, entities, reply markup and so on; a
// part's bot and chat_id may be left empty and are then the reply's (set
// them, and they must equal the reply's).
//
// A reply is delivered as one unit: when a part fails transiently the task
// is retried and resumes after the last part Telegram confirmed, without
// sending earlier parts again.
type SendMessages struct {
	// Version of the payload format; 0 is read as 1. Set by the constructor.
	Version int `json:"v,omitempty"`
	// Bot names the bot that sends every part ("default" when empty).
	Bot string `json:"bot,omitempty"`
	// ChatID is the chat every part goes to.
	ChatID telego.ChatID `json:"chat_id"`
	// Parts are sent in this order; 1 to [MaxParts].
	Parts []SendMessage `json:"parts"`
}

// BotName returns the bot that sends the reply, "default" when unset.
func (r *SendMessages) BotName() string {
	if r.Bot == "" {
		return DefaultBot
	}
	return r.Bot
}

// Validate checks the reply and each part (see [SendMessage.Validate]); the
// [*ValidationError] of a part names it, e.g. "parts[2].text".
func (r *SendMessages) Validate() error {
	_, err := r.normalized()
	return err
}

// normalized returns a copy whose parts carry the reply's bot and chat, after
// validating everything.
func (r *SendMessages) normalized() (*SendMessages, error) {
	if r.Version < 0 || r.Version > SendMessagesVersion {
		return nil, invalid("v", ErrUnsupportedVersion, "version %d, this build reads up to %d", r.Version, SendMessagesVersion)
	}
	if r.Bot != "" && !ValidBotName(r.Bot) {
		return nil, invalid("bot", ErrInvalidBot, "%q: use 1-64 letters, digits, '_' or '-'", r.Bot)
	}
	if err := validateChat("chat_id", r.ChatID); err != nil {
		return nil, err
	}
	switch {
	case len(r.Parts) == 0:
		return nil, &ValidationError{Field: "parts", Err: ErrNoParts}
	case len(r.Parts) > MaxParts:
		return nil, invalid("parts", ErrTooManyParts, "%d parts, the limit is %d", len(r.Parts), MaxParts)
	}
	out := *r
	out.Parts = make([]SendMessage, len(r.Parts))
	for i, p := range r.Parts {
		field := "parts[" + strconv.Itoa(i) + "]"
		switch {
		case p.Bot != "" && p.BotName() != r.BotName():
			return nil, invalid(field+".bot", ErrInvalidBot, "%q differs from the reply's bot %q", p.Bot, r.BotName())
		case p.ChatID != (telego.ChatID{}) && p.ChatID != r.ChatID:
			return nil, invalid(field+".chat_id", ErrInvalidChat, "%s differs from the reply's chat %s", p.ChatID.String(), r.ChatID.String())
		}
		p.Bot, p.ChatID, p.Version = r.Bot, r.ChatID, 0
		if err := p.Validate(); err != nil {
			var ve *ValidationError
			if errors.As(err, &ve) {
				return nil, &ValidationError{Field: field + "." + ve.Field, Err: ve.Err, Detail: ve.Detail}
			}
			return nil, err
		}
		out.Parts[i] = p
	}
	return &out, nil
}

// ParseSendMessages decodes a payload strictly (valid UTF-8, one JSON object
// and nothing after it, unknown fields are errors, each part decoded as by
// [DecodeSendMessage]), validates it and returns it with every part's bot
// and chat set.
func ParseSendMessages(data []byte) (*SendMessages, error) {
	// Parts are decoded one by one so that an error names its part.
	var raw struct {
		SendMessages
		Parts []json.RawMessage `json:"parts"`
	}
	if err := decodeStrict(data, &raw); err != nil {
		return nil, err
	}
	r := raw.SendMessages
	r.Parts = make([]SendMessage, len(raw.Parts))
	for i, p := range raw.Parts {
		m, err := DecodeSendMessage(p)
		if err != nil {
			var ve *ValidationError
			if errors.As(err, &ve) {
				return nil, &ValidationError{Field: "parts[" + strconv.Itoa(i) + "]." + ve.Field, Err: ve.Err, Detail: ve.Detail}
			}
			return nil, fmt.Errorf("parts[%d]: %w", i, err)
		}
		r.Parts[i] = *m
	}
	return r.normalized()
}

// NewSendMessagesTask validates r and returns a task with the type's default
// options (queue "default", MaxRetry 10, Timeout 30s plus [PartTimeout] per
// part); opts override them.
func NewSendMessagesTask(r *SendMessages, opts ...asynq.Option) (*asynq.Task, error) {
	return newSendMessagesTask(TypeSendMessages, r, opts)
}

// NewOrderedSendMessagesTask is [NewSendMessagesTask] for a reply delivered
// in its chat's order, like [NewOrderedSendMessageTask].
func NewOrderedSendMessagesTask(r *SendMessages, opts ...asynq.Option) (*asynq.Task, error) {
	return newSendMessagesTask(TypeSendMessagesOrdered, r, opts)
}

func newSendMessagesTask(typ string, r *SendMessages, opts []asynq.Option) (*asynq.Task, error) {
	p, err := r.normalized()
	if err != nil {
		return nil, err
	}
	p.Version = SendMessagesVersion
	return newTask(typ, p, DefaultOptions(typ, len(p.Parts)), opts)
}

// SendMessagesResult is what a completed multi-part reply stores as its
// result and "sent" marker. Its embedded SendResult is the first part's (so
// that message_id is where a reply to the whole answer would point);
// MessageIDs lists every part's message_id in order.
type SendMessagesResult struct {
	SendResult
	MessageIDs []int64      `json:"message_ids"`
	Parts      []SendResult `json:"parts"`
}

// Texts returns one plain part per text, in the form the client's
// SendMessages takes parts.
func Texts(texts ...string) []*SendMessage {
	out := make([]*SendMessage, len(texts))
	for i, t := range texts {
		out[i] = &SendMessage{Text: t}
	}
	return out
}
