package tasks

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
)

// TypeSendMessage is the task type of a sendMessage call. Never rename it:
// queued tasks of every running process carry it.
const TypeSendMessage = "telegram:send_message"

// Queue names. Servers weight them; see the server package.
const (
	QueueCritical = "critical"
	QueueDefault  = "default"
	QueueBulk     = "bulk"
)

// Queues lists the queue names in order of priority.
var Queues = [...]string{QueueCritical, QueueDefault, QueueBulk}

// Limits of the Bot API that are checked before a message is queued.
const (
	MaxTextLength  = 4096 // sendMessage text, after entity parsing
	MaxQuoteLength = 1024 // reply_parameters.quote, after entity parsing
	MaxEntities    = 100
)

// DefaultBot is the bot name used when a payload names none; its token comes
// from TELEGRAM_BOT_TOKEN.
const DefaultBot = "default"

// SendMessageVersion is the payload version this build writes and the newest
// it reads.
const SendMessageVersion = 1

// Parse modes accepted in [SendMessage.ParseMode].
const (
	ParseModeHTML       = telego.ModeHTML
	ParseModeMarkdown   = telego.ModeMarkdown
	ParseModeMarkdownV2 = telego.ModeMarkdownV2
)

// SendMessage is the payload of a [TypeSendMessage] task: the sendMessage
// fields bots use, plus the name of the bot that sends it. JSON field names are
// the Bot API's.
type SendMessage struct {
	// Version of the payload format; 0 is read as 1. Set by the constructor.
	Version int `json:"v,omitempty"`
	// Bot names the bot that sends the message ("default" when empty). It is a
	// name from the worker's configuration, never a token.
	Bot string `json:"bot,omitempty"`
	// ChatID is an integer chat id or "@channelusername".
	ChatID              telego.ChatID              `json:"chat_id"`
	MessageThreadID     int                        `json:"message_thread_id,omitempty"`
	Text                string                     `json:"text"`
	ParseMode           string                     `json:"parse_mode,omitempty"`
	Entities            []telego.MessageEntity     `json:"entities,omitempty"`
	LinkPreviewOptions  *telego.LinkPreviewOptions `json:"link_preview_options,omitempty"`
	DisableNotification bool                       `json:"disable_notification,omitempty"`
	ProtectContent      bool                       `json:"protect_content,omitempty"`
	ReplyParameters     *telego.ReplyParameters    `json:"reply_parameters,omitempty"`
	// ReplyMarkup is an InlineKeyboardMarkup, ReplyKeyboardMarkup,
	// ReplyKeyboardRemove or ForceReply object, as the Bot API takes it.
	ReplyMarkup        json.RawMessage `json:"reply_markup,omitempty"`
	AllowPaidBroadcast bool            `json:"allow_paid_broadcast,omitempty"`
}

// ValidBotName reports whether name is a valid bot name: 1 to 64 ASCII
// letters, digits, '_' or '-'. Configuration, payloads, the upload store
// and the workers' registry all check names with it.
//
// A bot name is short, and unlike a token (which has a colon), so that a
// pair written the wrong way round (token=name) fails validation rather
// than making a token a name that answers, logs and Redis keys would
// repeat.
func ValidBotName(name string) bool { return validName(name) }

// validName reports whether s is 1 to 64 ASCII letters, digits, '_' or '-',
// as `^[A-Za-z0-9_-]{1,64}$` matches (the tests check it against that
// regexp): bot names and broadcast ids. Every payload's bot name is checked,
// and a loop costs a fraction of a regexp match.
func validName(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isWordByte(c) && c != '-' {
			return false
		}
	}
	return true
}

// validUsername reports whether s is a chat's @username as
// `^@[A-Za-z][A-Za-z0-9_]{3,31}$` matches (the tests check it against that
// regexp): '@', a letter, then 3 to 31 letters, digits or '_'.
func validUsername(s string) bool {
	if len(s) < 5 || len(s) > 33 || s[0] != '@' || !isLetterByte(s[1]) {
		return false
	}
	for i := 2; i < len(s); i++ {
		if !isWordByte(s[i]) {
			return false
		}
	}
	return true
}

// isLetterByte reports whether c is an ASCII letter.
func isLetterByte(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

// isWordByte reports whether c is an ASCII letter, digit or '_'.
func isWordByte(c byte) bool { return isLetterByte(c) || '0' <= c && c <= '9' || c == '_' }

// maxChatID bounds integer chat ids: the Bot API promises at most 52
// significant bits.
const maxChatID = 1<<52 - 1

// BotName returns the bot that sends the message, "default" when unset.
func (m *SendMessage) BotName() string {
	if m.Bot == "" {
		return DefaultBot
	}
	return m.Bot
}

// IsGroup reports whether the target chat is a group, supergroup or channel
// (negative ids and @usernames), which Telegram limits per minute.
func (m *SendMessage) IsGroup() bool {
	return m.ChatID.ID < 0 || m.ChatID.Username != ""
}

// Validate checks the message as the Bot API would, without knowing which bots
// are configured (see [CheckBot]). It returns a [*ValidationError].
func (m *SendMessage) Validate() error {
	if m.Version < 0 || m.Version > SendMessageVersion {
		return invalid("v", ErrUnsupportedVersion, "version %d, this build reads up to %d", m.Version, SendMessageVersion)
	}
	if m.Bot != "" && !ValidBotName(m.Bot) {
		return invalid("bot", ErrInvalidBot, "%q: use 1-64 letters, digits, '_' or '-'", m.Bot)
	}
	if err := validateChat("chat_id", m.ChatID); err != nil {
		return err
	}
	if m.MessageThreadID < 0 {
		return invalid("message_thread_id", ErrInvalidField, "must not be negative")
	}
	if err := validateText(textFields, m.Text, m.ParseMode, m.Entities, MaxTextLength); err != nil {
		return err
	}
	if m.ReplyParameters != nil {
		if err := validateReply(m.ReplyParameters); err != nil {
			return err
		}
	}
	if len(m.ReplyMarkup) > 0 {
		if _, err := m.Markup(); err != nil {
			return err
		}
	}
	return nil
}

// validateChat checks a chat id, the message's own or another one (such as
// reply_parameters.chat_id), which field names in errors.
func validateChat(field string, c telego.ChatID) error {
	switch {
	case c.ID == 0 && c.Username == "":
		return &ValidationError{Field: field, Err: ErrMissingChat}
	case c.ID != 0 && c.Username != "":
		return invalid(field, ErrInvalidChat, "both an id and a username")
	case c.Username != "" && !validUsername(c.Username):
		return invalid(field, ErrInvalidChat, "%q: a username must look like @channel", c.Username)
	case c.ID > maxChatID || c.ID < -maxChatID*2:
		// Supergroup and channel ids are -100xxxxxxxxxx, about -1e12; the
		// bound leaves room while rejecting absurd values.
		return invalid(field, ErrInvalidChat, "%d is out of range", c.ID)
	}
	return nil
}

// formattedText names the fields of a formatted text: the text, its parse
// mode and its entities.
type formattedText struct{ text, parseMode, entities string }

var (
	textFields  = formattedText{"text", "parse_mode", "entities"}
	quoteFields = formattedText{"reply_parameters.quote", "reply_parameters.quote_parse_mode", "reply_parameters.quote_entities"}
)

// validateText checks a formatted text (a message's text, a reply's quote):
// valid UTF-8, a known parse mode or entities (not both) that lie within the
// text, and 1 to limit characters after entity parsing. Errors name f's
// fields.
func validateText(f formattedText, text, parseMode string, entities []telego.MessageEntity, limit int) error {
	if !utf8.ValidString(text) {
		return &ValidationError{Field: f.text, Err: ErrInvalidText}
	}
	switch parseMode {
	case "", ParseModeHTML, ParseModeMarkdown, ParseModeMarkdownV2:
	default:
		return invalid(f.parseMode, ErrUnknownParseMode, "%q: use HTML, Markdown or MarkdownV2", parseMode)
	}
	n := VisibleLength(text, parseMode)
	switch {
	case strings.TrimSpace(text) == "" || n == 0:
		return &ValidationError{Field: f.text, Err: ErrEmptyText}
	case n > limit:
		return invalid(f.text, ErrTextTooLong, "%d characters, the limit is %d", n, limit)
	}
	if len(entities) > 0 {
		if parseMode != "" {
			return invalid(f.entities, ErrInvalidEntities, "set either %s or %s, not both", f.entities, f.parseMode)
		}
		if err := validateEntities(f.entities, text, entities); err != nil {
			return err
		}
	}
	return nil
}

// validateEntities checks that entities have a type and lie within text,
// whose field they are.
func validateEntities(field, text string, entities []telego.MessageEntity) error {
	if len(entities) > MaxEntities {
		return invalid(field, ErrInvalidEntities, "%d entities, the limit is %d", len(entities), MaxEntities)
	}
	n := UTF16Len(text)
	for i, e := range entities {
		if e.Type == "" {
			return invalid(field, ErrInvalidEntities, "entity %d has no type", i)
		}
		// Offset+Length could overflow: compare Length with what is left.
		if e.Offset < 0 || e.Length <= 0 || e.Offset > n || e.Length > n-e.Offset {
			return invalid(field, ErrInvalidEntities, "entity %d (offset %d, length %d) is outside the text (%d UTF-16 units)", i, e.Offset, e.Length, n)
		}
	}
	return nil
}

// maxMessageID bounds message ids: the Bot API documents them as Integer
// without the note "may have more than 32 significant bits" that it gives
// chat ids, so they fit in a signed 32-bit integer.
const maxMessageID = 1<<31 - 1

// validateReply checks reply_parameters as the Bot API documents them: the
// message replied to (message_id, in chat_id if set, which must be a chat
// id as a message's own), an optional quote of 0 to [MaxQuoteLength]
// characters after entity parsing with either quote_parse_mode or
// quote_entities, and non-negative quote_position and checklist_task_id.
func validateReply(r *telego.ReplyParameters) error {
	const field = "reply_parameters."
	if r.MessageID <= 0 || r.MessageID > maxMessageID {
		return invalid(field+"message_id", ErrInvalidField, "%d: a message id is 1 to %d", r.MessageID, maxMessageID)
	}
	if r.ChatID != (telego.ChatID{}) {
		if err := validateChat(field+"chat_id", r.ChatID); err != nil {
			return err
		}
	}
	if r.Quote != "" || r.QuoteParseMode != "" || len(r.QuoteEntities) > 0 {
		if r.Quote == "" {
			return invalid(quoteFields.text, ErrEmptyText, "%s and %s need a quote", quoteFields.parseMode, quoteFields.entities)
		}
		if err := validateText(quoteFields, r.Quote, r.QuoteParseMode, r.QuoteEntities, MaxQuoteLength); err != nil {
			return err
		}
	}
	if r.QuotePosition < 0 {
		return invalid(field+"quote_position", ErrInvalidField, "must not be negative")
	}
	if r.ChecklistTaskID < 0 || r.ChecklistTaskID > maxMessageID {
		return invalid(field+"checklist_task_id", ErrInvalidField, "%d is out of range", r.ChecklistTaskID)
	}
	return nil
}

// Markup decodes ReplyMarkup into the telego type its keys name.
func (m *SendMessage) Markup() (telego.ReplyMarkup, error) {
	return decodeMarkup(m.ReplyMarkup)
}

// decodeMarkup decodes a reply_markup object of any method into the telego
// type its keys name, checking it as the Bot API would.
func decodeMarkup(raw json.RawMessage) (telego.ReplyMarkup, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if !utf8.Valid(raw) {
		return nil, invalid("reply_markup", ErrInvalidReplyMarkup, "not valid UTF-8")
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return nil, invalid("reply_markup", ErrInvalidReplyMarkup, "not a JSON object")
	}
	var (
		markup telego.ReplyMarkup
		target any
	)
	switch {
	case keys["inline_keyboard"] != nil:
		v := &telego.InlineKeyboardMarkup{}
		markup, target = v, v
	case keys["keyboard"] != nil:
		v := &telego.ReplyKeyboardMarkup{}
		markup, target = v, v
	case keys["remove_keyboard"] != nil:
		v := &telego.ReplyKeyboardRemove{}
		markup, target = v, v
	case keys["force_reply"] != nil:
		v := &telego.ForceReply{}
		markup, target = v, v
	default:
		return nil, invalid("reply_markup", ErrInvalidReplyMarkup, "needs inline_keyboard, keyboard, remove_keyboard or force_reply")
	}
	if err := json.Unmarshal(raw, target); err != nil {
		return nil, invalid("reply_markup", ErrInvalidReplyMarkup, "%v", err)
	}
	if ik, ok := markup.(*telego.InlineKeyboardMarkup); ok {
		for r, row := range ik.InlineKeyboard {
			for c, b := range row {
				if b.Text == "" {
					return nil, invalid("reply_markup", ErrInvalidReplyMarkup, "inline button [%d][%d] has no text", r, c)
				}
			}
		}
	}
	return markup, nil
}

// Params converts the payload into telego's sendMessage parameters, sent to
// chat (the payload's chat unless a migration changed it).
func (m *SendMessage) Params(chat telego.ChatID) (*telego.SendMessageParams, error) {
	markup, err := m.Markup()
	if err != nil {
		return nil, err
	}
	return &telego.SendMessageParams{
		ChatID:              chat,
		MessageThreadID:     m.MessageThreadID,
		Text:                m.Text,
		ParseMode:           m.ParseMode,
		Entities:            m.Entities,
		LinkPreviewOptions:  m.LinkPreviewOptions,
		DisableNotification: m.DisableNotification,
		ProtectContent:      m.ProtectContent,
		AllowPaidBroadcast:  m.AllowPaidBroadcast,
		ReplyParameters:     m.ReplyParameters,
		ReplyMarkup:         markup,
	}, nil
}

// CheckBot returns a [*ValidationError] wrapping [ErrUnknownBot] when name is
// not among known. An empty known list accepts any name.
func CheckBot(name string, known []string) error {
	if name == "" {
		name = DefaultBot
	}
	if len(known) == 0 {
		return nil
	}
	for _, k := range known {
		if k == name {
			return nil
		}
	}
	return invalid("bot", ErrUnknownBot, "%q is not configured (known: %s)", name, strings.Join(known, ", "))
}

// ParseSendMessage decodes and validates a payload. Unknown fields are an
// error, so that a typo or a payload from a newer version is never half-sent.
func ParseSendMessage(data []byte) (*SendMessage, error) {
	m, err := DecodeSendMessage(data)
	if err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodeSendMessage decodes a sendMessage payload strictly (valid UTF-8, one
// JSON object and nothing after it, unknown fields are errors naming the
// field) without validating it, for a message that is split before it is
// validated, such as a long text for [SplitMessage].
func DecodeSendMessage(data []byte) (*SendMessage, error) {
	var m SendMessage
	if decodeSendMessageFast(data, &m) {
		return &m, nil
	}
	// The fast path declined, perhaps after writing some fields: start
	// again from a zero message, as decodeStrict alone would.
	m = SendMessage{}
	if err := decodeStrict(data, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// NewSendMessageTask validates m and returns a task with the type's default
// options (queue "default", MaxRetry 10, Timeout 30s); opts override them.
func NewSendMessageTask(m *SendMessage, opts ...asynq.Option) (*asynq.Task, error) {
	return newSendMessageTask(TypeSendMessage, m, opts)
}

func newSendMessageTask(typ string, m *SendMessage, opts []asynq.Option) (*asynq.Task, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	p := *m
	p.Version = SendMessageVersion
	return newTask(typ, &p, DefaultOptions(typ, 0), opts)
}
