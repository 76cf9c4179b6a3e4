package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/mymmrac/telego"
	ta "github.com/mymmrac/telego/telegoapi"

	"github.com/telequeue/telequeue/internal/jsonscan"
)

// This file writes sendMessage's request and reads its answer without
// reflection, for the messages telequeue sends most, and leaves every other
// one to encoding/json, so that the bytes sent and the message or error
// returned are always those of the general path.
//
// The general path encodes the request with json.Marshal, which calls
// telego.ChatID's MarshalJSON (an encoding of its own, then compacted), and
// decodes an answer twice with reflection (decodeAnswer, then the result
// into sentMessage), copying the result.

// sendMessageRequest encodes params as jsonRequest does.
func sendMessageRequest(params *telego.SendMessageParams) (*ta.RequestData, error) {
	if body, ok := appendSendMessage(make([]byte, 0, 128+len(params.Text)), params); ok {
		return &ta.RequestData{ContentType: ta.ContentTypeJSON, BodyRaw: body}, nil
	}
	return jsonRequest(params)
}

// appendSendMessage appends the JSON encoding/json gives p, field by field
// in its order, omitting the empty ones. ok is false when p sets a field it
// does not write (entities, reply_parameters, reply_markup,
// suggested_post_parameters) or names its chat by neither an ID nor a plain
// @username.
func appendSendMessage(b []byte, p *telego.SendMessageParams) (_ []byte, ok bool) {
	if len(p.Entities) != 0 || p.SuggestedPostParameters != nil || p.ReplyParameters != nil || p.ReplyMarkup != nil {
		return nil, false
	}
	b = append(b, '{')
	b = appendStringField(b, "business_connection_id", p.BusinessConnectionID)
	b = append(b, `"chat_id":`...)
	switch {
	case p.ChatID.ID != 0:
		b = strconv.AppendInt(b, p.ChatID.ID, 10)
	case plainUsername(p.ChatID.Username):
		b = append(append(append(b, '"'), p.ChatID.Username...), '"')
	default:
		return nil, false
	}
	b = append(b, ',')
	b = appendIntField(b, "message_thread_id", int64(p.MessageThreadID))
	b = appendIntField(b, "direct_messages_topic_id", p.DirectMessagesTopicID)
	b = append(b, `"text":`...)
	b = append(appendJSONString(b, p.Text), ',')
	b = appendStringField(b, "parse_mode", p.ParseMode)
	if lp := p.LinkPreviewOptions; lp != nil {
		b = append(b, `"link_preview_options":{`...)
		n := len(b)
		b = appendBoolField(b, "is_disabled", lp.IsDisabled)
		b = appendStringField(b, "url", lp.URL)
		b = appendBoolField(b, "prefer_small_media", lp.PreferSmallMedia)
		b = appendBoolField(b, "prefer_large_media", lp.PreferLargeMedia)
		b = appendBoolField(b, "show_above_text", lp.ShowAboveText)
		if len(b) > n {
			b = b[:len(b)-1] // the last field's comma
		}
		b = append(b, "},"...)
	}
	b = appendBoolField(b, "disable_notification", p.DisableNotification)
	b = appendBoolField(b, "protect_content", p.ProtectContent)
	b = appendBoolField(b, "allow_paid_broadcast", p.AllowPaidBroadcast)
	b = appendStringField(b, "message_effect_id", p.MessageEffectID)
	b[len(b)-1] = '}' // the last field's comma
	return b, true
}

// plainUsername reports whether u is an @username of letters, digits and
// underscores, which every JSON encoder writes as it is.
func plainUsername(u string) bool {
	if len(u) < 2 || u[0] != '@' {
		return false
	}
	for _, c := range []byte(u[1:]) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// The appendXxxField functions append `"name":value,` unless value is empty
// (the `omitempty` of telego's tags).

func appendStringField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(append(append(b, '"'), name...), `":`...)
	return append(appendJSONString(b, v), ',')
}

func appendIntField(b []byte, name string, v int64) []byte {
	if v == 0 {
		return b
	}
	b = append(append(append(b, '"'), name...), `":`...)
	return append(strconv.AppendInt(b, v, 10), ',')
}

func appendBoolField(b []byte, name string, v bool) []byte {
	if !v {
		return b
	}
	return append(append(append(b, '"'), name...), `":true,`...)
}

// appendJSONString appends s quoted as json.Marshal quotes it: \", \\,
// \b, \f, \n, \r and \t, other control characters and <, > and & as
// \u00XX, U+2028 and U+2029 as \u2028 and \u2029, and each byte of
// invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}

// readSentMessage makes a Message of the answer to a sendMessage, with the
// errors of the general path: a refused call is a *telegoapi.Error, anything
// else a [*TransportError].
func readSentMessage(status int, body []byte) (*telego.Message, error) {
	if m, ok := parseSentMessage(body); ok {
		return m, nil
	}
	return answerMessage(status, body)
}

// answerMessage is readSentMessage's general path: decodeAnswer, then the
// result into a sentMessage.
func answerMessage(status int, body []byte) (*telego.Message, error) {
	resp, err := decodeAnswer(status, body)
	if err != nil {
		return nil, err
	}
	if !resp.Ok {
		return nil, resp.Error
	}
	return messageOf(resp.Result)
}

// sentMessage is the part of Telegram's Message that telequeue records.
type sentMessage struct {
	MessageID int   `json:"message_id"`
	Date      int64 `json:"date"`
	Chat      struct {
		ID   int64  `json:"id"`
		Type string `json:"type"`
	} `json:"chat"`
}

// messageOf decodes the result of a sendMessage.
func messageOf(result json.RawMessage) (*telego.Message, error) {
	var m sentMessage
	if err := json.Unmarshal(result, &m); err != nil || m.MessageID == 0 {
		return nil, &TransportError{Kind: "response", err: errors.New("result is not a message")}
	}
	return &telego.Message{MessageID: m.MessageID, Date: m.Date, Chat: telego.Chat{ID: m.Chat.ID, Type: m.Chat.Type}}, nil
}

// parseSentMessage reads a successful answer as Telegram writes it:
// {"ok":true,"result":{..."message_id":N,..."date":N,..."chat":{..."id":N,
// ..."type":"..."}...}}, other keys in any order. ok is false for anything
// else — an error answer, a key given twice, written with escapes, another
// case or non-ASCII letters (encoding/json matches keys without regard to
// case), a value of another type, a number that is not an integer, a chat
// type with escapes or non-ASCII bytes, a message_id of 0, a body that is
// not JSON, or one nested deeper than maxSkipDepth — which readSentMessage
// then leaves to the general path.
func parseSentMessage(body []byte) (m *telego.Message, ok bool) {
	s := jsonScan{jsonscan.Scanner{B: body}}
	var msg telego.Message
	seen, ok := s.fields(answerKeys, func(i int) bool {
		switch i {
		case 0:
			return s.Literal("true")
		case 1:
			return s.message(&msg)
		}
		return false // an error answer
	})
	if !ok || seen != 0b11 || msg.MessageID == 0 || s.Peek() != 0 || s.I != len(body) {
		return nil, false
	}
	return &msg, true
}

// The keys of the objects parseSentMessage reads, as encoding/json would
// match them to the fields of telegoapi.Response and sentMessage.
var (
	answerKeys  = []string{"ok", "result", "description", "error_code", "parameters"}
	messageKeys = []string{"message_id", "date", "chat"}
	chatKeys    = []string{"id", "type"}
)

// jsonScan reads JSON, and reports false for anything that is not JSON.
// It may also report false for JSON (nested too deep): the caller then
// leaves the body to encoding/json, which decides.
type jsonScan struct {
	jsonscan.Scanner
}

// maxSkipDepth is how deep skip follows objects and arrays.
const maxSkipDepth = 64

// object reads an object, calling member for each key with s at the value;
// member reads the value and reports whether to go on. plain is true when
// the key has neither escapes nor non-ASCII bytes, and so is its bytes.
func (s *jsonScan) object(member func(key []byte, plain bool) bool) bool {
	return s.list('{', '}', func() bool {
		key, plain, ok := s.RawString()
		if !ok || s.Peek() != ':' {
			return false
		}
		s.I++
		return member(key, plain)
	})
}

// list reads an object or array from start to end, calling item with s at
// each member or element; item reads it and reports whether to go on.
func (s *jsonScan) list(start, end byte, item func() bool) bool {
	if s.Peek() != start {
		return false
	}
	s.I++
	if s.Peek() == end {
		s.I++
		return true
	}
	for {
		if !item() {
			return false
		}
		switch s.Peek() {
		case ',':
			s.I++
		case end:
			s.I++
			return true
		default:
			return false
		}
	}
}

// fields reads an object, calling read(i) with s at the value of keys[i],
// at most once for each key; read reads the value and reports whether to go
// on. It skips the values of other keys, and reports false for a key
// encoding/json might match to one of keys. seen has bit i set when keys[i]
// was read.
func (s *jsonScan) fields(keys []string, read func(i int) bool) (seen uint, ok bool) {
	ok = s.object(func(key []byte, plain bool) bool {
		if !plain {
			return false // it might unescape or fold to one of keys
		}
		for i, k := range keys {
			if string(key) == k {
				if seen&(1<<i) != 0 {
					return false
				}
				seen |= 1 << i
				return read(i)
			}
		}
		return s.skipUnless(key, keys)
	})
	return seen, ok
}

// message reads the result object of a sendMessage into m.
func (s *jsonScan) message(m *telego.Message) bool {
	_, ok := s.fields(messageKeys, func(i int) bool {
		switch i {
		case 0:
			n, ok := s.Int()
			m.MessageID = int(n)
			return ok && int64(m.MessageID) == n
		case 1:
			n, ok := s.Int()
			m.Date = n
			return ok
		}
		return s.chat(&m.Chat)
	})
	return ok
}

// chat reads the chat object of a message into c.
func (s *jsonScan) chat(c *telego.Chat) bool {
	_, ok := s.fields(chatKeys, func(i int) bool {
		if i == 0 {
			n, ok := s.Int()
			c.ID = n
			return ok
		}
		t, plain, ok := s.RawString()
		c.Type = chatType(t)
		return ok && plain
	})
	return ok
}

// chatType returns t as a string, without allocating for Telegram's types.
func chatType(t []byte) string {
	switch string(t) {
	case telego.ChatTypePrivate:
		return telego.ChatTypePrivate
	case telego.ChatTypeGroup:
		return telego.ChatTypeGroup
	case telego.ChatTypeSupergroup:
		return telego.ChatTypeSupergroup
	case telego.ChatTypeChannel:
		return telego.ChatTypeChannel
	}
	return string(t)
}

// skipUnless skips the value of key, which is none of names. It reports
// false when encoding/json might match key to one of names (the same
// letters in another case).
func (s *jsonScan) skipUnless(key []byte, names []string) bool {
	for _, n := range names {
		if bytes.EqualFold(key, []byte(n)) {
			return false
		}
	}
	return s.skip(0)
}

// skip skips a value at depth (0 for a member of an object read).
func (s *jsonScan) skip(depth int) bool {
	switch s.Peek() {
	case '{':
		return depth < maxSkipDepth && s.object(func([]byte, bool) bool { return s.skip(depth + 1) })
	case '[':
		return depth < maxSkipDepth && s.list('[', ']', func() bool { return s.skip(depth + 1) })
	case '"':
		_, _, ok := s.RawString()
		return ok
	case 't':
		return s.Literal("true")
	case 'f':
		return s.Literal("false")
	case 'n':
		return s.Literal("null")
	}
	_, ok := s.Number()
	return ok
}
