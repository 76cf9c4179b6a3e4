package tasks

import (
	"unicode/utf8"

	"github.com/telequeue/telequeue/internal/jsonscan"
)

// decodeSendMessageFast decodes the common shape of a sendMessage payload
// in one pass, without reflection, and reports whether it did. Workers
// decode one payload per message, and encoding/json's Decoder with the
// duplicate-key scan that decodeStrict adds cost more than the rest of
// parsing and validating a message together.
//
// It takes only what it can decode exactly as decodeStrict would: one JSON
// object, with whitespace around its tokens, whose keys are written exactly
// as the fields' names (no escapes, no other case), each at most once, with
// scalar values of the field's own type ("v" and "message_thread_id" an
// integer that fits, "chat_id" such an integer or a string, the strings,
// the booleans). Anything else (a nested value, null, an unknown or
// case-folded key, a fraction or exponent, invalid UTF-8, invalid JSON,
// trailing data) it declines, returning false with m partly written, and
// the caller decodes the payload again with decodeStrict, whose errors say
// what is wrong. So a payload's result and error are the same whichever
// path reads it; FuzzSendMessageDecode checks that.
func decodeSendMessageFast(payload []byte, m *SendMessage) bool {
	if !utf8.Valid(payload) {
		return false
	}
	s := jsonscan.Scanner{B: payload}
	if s.Peek() != '{' {
		return false
	}
	s.I++
	if s.Peek() == '}' {
		s.I++
		return s.End()
	}
	var seen uint16
	for {
		// A key with an escape sequence is declined: encoding/json would
		// match it decoded.
		key, plain, ok := s.RawString()
		if !ok || !plain || s.Peek() != ':' {
			return false
		}
		s.I++
		s.Peek()
		f, ok := sendMessageFieldOf(key)
		if !ok || seen&(1<<f) != 0 {
			// An unknown key, or one named twice: decodeStrict says
			// which.
			return false
		}
		seen |= 1 << f
		if !decodeField(&s, m, f) {
			return false
		}
		switch s.Peek() {
		case '}':
			s.I++
			return s.End()
		case ',':
			s.I++
		default:
			return false
		}
	}
}

// sendMessageField numbers the SendMessage fields that
// decodeSendMessageFast decodes, for its set of keys seen.
type sendMessageField uint8

const (
	fieldVersion sendMessageField = iota
	fieldBot
	fieldChatID
	fieldMessageThreadID
	fieldText
	fieldParseMode
	fieldDisableNotification
	fieldProtectContent
	fieldAllowPaidBroadcast
)

// sendMessageFieldOf returns the number of the field whose JSON name key is,
// spelt exactly as SendMessage's tags spell it, if decodeSendMessageFast
// decodes that field. A switch costs less than a map lookup.
func sendMessageFieldOf(key []byte) (sendMessageField, bool) {
	switch string(key) {
	case "v":
		return fieldVersion, true
	case "bot":
		return fieldBot, true
	case "chat_id":
		return fieldChatID, true
	case "message_thread_id":
		return fieldMessageThreadID, true
	case "text":
		return fieldText, true
	case "parse_mode":
		return fieldParseMode, true
	case "disable_notification":
		return fieldDisableNotification, true
	case "protect_content":
		return fieldProtectContent, true
	case "allow_paid_broadcast":
		return fieldAllowPaidBroadcast, true
	}
	return 0, false
}

// decodeField decodes the value of field f, at s, into m.
func decodeField(s *jsonscan.Scanner, m *SendMessage, f sendMessageField) bool {
	var ok bool
	switch f {
	case fieldVersion:
		ok = intInto(s, &m.Version)
	case fieldBot:
		m.Bot, ok = stringOf(s)
	case fieldChatID:
		// telego.ChatID reads a JSON number as the id and, when that
		// fails, a JSON string as the username, even one of digits.
		if s.Peek() == '"' {
			m.ChatID.Username, ok = stringOf(s)
		} else {
			m.ChatID.ID, ok = s.Int()
		}
	case fieldMessageThreadID:
		ok = intInto(s, &m.MessageThreadID)
	case fieldText:
		m.Text, ok = stringOf(s)
	case fieldParseMode:
		m.ParseMode, ok = stringOf(s)
	case fieldDisableNotification:
		m.DisableNotification, ok = s.Bool()
	case fieldProtectContent:
		m.ProtectContent, ok = s.Bool()
	case fieldAllowPaidBroadcast:
		m.AllowPaidBroadcast, ok = s.Bool()
	}
	return ok
}

// stringOf reads a string, without allocating for the values most payloads
// repeat.
func stringOf(s *jsonscan.Scanner) (string, bool) {
	b, ok := s.String()
	if !ok {
		return "", false
	}
	switch string(b) {
	case DefaultBot:
		return DefaultBot, true
	case ParseModeHTML:
		return ParseModeHTML, true
	case ParseModeMarkdown:
		return ParseModeMarkdown, true
	case ParseModeMarkdownV2:
		return ParseModeMarkdownV2, true
	}
	return string(b), true
}

// intInto reads a JSON integer into an int field. One that does not fit
// an int (on a 32-bit platform) is declined: encoding/json refuses it.
func intInto(s *jsonscan.Scanner, p *int) bool {
	n, ok := s.Int()
	if !ok || int64(int(n)) != n {
		return false
	}
	*p = int(n)
	return true
}
