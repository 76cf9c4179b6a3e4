package tasks

import (
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
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
	s := jsonScanner{b: payload}
	s.space()
	if !s.consume('{') {
		return false
	}
	s.space()
	if s.consume('}') {
		return s.end()
	}
	var seen uint16
	for {
		key, ok := s.key()
		if !ok {
			return false
		}
		s.space()
		if !s.consume(':') {
			return false
		}
		s.space()
		f, ok := sendMessageFieldOf(key)
		if !ok || seen&(1<<f) != 0 {
			// An unknown key, or one named twice: decodeStrict says
			// which.
			return false
		}
		seen |= 1 << f
		if !s.field(m, f) {
			return false
		}
		s.space()
		if s.consume('}') {
			return s.end()
		}
		if !s.consume(',') {
			return false
		}
		s.space()
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

// jsonScanner reads JSON tokens from b at i. Its methods report false for
// anything they do not read exactly as encoding/json would, valid JSON or
// not; decodeSendMessageFast then declines.
type jsonScanner struct {
	b []byte
	i int
}

// field decodes the value of field f into m.
func (s *jsonScanner) field(m *SendMessage, f sendMessageField) bool {
	var ok bool
	switch f {
	case fieldVersion:
		ok = s.intInto(&m.Version)
	case fieldBot:
		m.Bot, ok = s.string()
	case fieldChatID:
		// telego.ChatID reads a JSON number as the id and, when that
		// fails, a JSON string as the username, even one of digits.
		if s.i < len(s.b) && s.b[s.i] == '"' {
			m.ChatID.Username, ok = s.string()
		} else {
			m.ChatID.ID, ok = s.int()
		}
	case fieldMessageThreadID:
		ok = s.intInto(&m.MessageThreadID)
	case fieldText:
		m.Text, ok = s.string()
	case fieldParseMode:
		m.ParseMode, ok = s.string()
	case fieldDisableNotification:
		m.DisableNotification, ok = s.bool()
	case fieldProtectContent:
		m.ProtectContent, ok = s.bool()
	case fieldAllowPaidBroadcast:
		m.AllowPaidBroadcast, ok = s.bool()
	}
	return ok
}

// space skips the whitespace JSON allows between tokens.
func (s *jsonScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// consume reads c if it is next.
func (s *jsonScanner) consume(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only whitespace is left.
func (s *jsonScanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// key reads an object key written without escapes and returns its bytes,
// which alias b. A key with an escape sequence is declined: encoding/json
// would match it decoded.
func (s *jsonScanner) key() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	start := s.i
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			key := s.b[start:s.i]
			s.i++
			return key, true
		case c == '\\' || c < ' ':
			return nil, false
		}
	}
	return nil, false
}

// string reads a JSON string and returns it decoded as encoding/json
// decodes strings: escape sequences replaced, a valid UTF-16 surrogate pair
// written \uXXXX\uXXXX decoded to its rune, and a lone surrogate to
// U+FFFD. b is valid UTF-8, so the other bytes are copied as they are.
// Strings a SendMessage payload usually holds come back without
// allocating.
func (s *jsonScanner) string() (string, bool) {
	if !s.consume('"') {
		return "", false
	}
	start := s.i
	for s.i < len(s.b) && !stringStop[s.b[s.i]] {
		s.i++
	}
	switch {
	case s.i == len(s.b):
		return "", false
	case s.b[s.i] == '"':
		raw := s.b[start:s.i]
		s.i++
		return internString(raw), true
	case s.b[s.i] == '\\':
		return s.unescape(start)
	}
	return "", false // control characters must be escaped
}

// stringStop marks the bytes that end a run of a JSON string's bytes that
// stand for themselves: the closing quote, a backslash and the control
// characters, which JSON requires to be escaped.
var stringStop = func() (t [256]bool) {
	for c := 0; c < ' '; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// internString returns raw as a string, without allocating for the values
// most payloads repeat.
func internString(raw []byte) string {
	switch string(raw) {
	case DefaultBot:
		return DefaultBot
	case ParseModeHTML:
		return ParseModeHTML
	case ParseModeMarkdown:
		return ParseModeMarkdown
	case ParseModeMarkdownV2:
		return ParseModeMarkdownV2
	}
	return string(raw)
}

// unescape reads the rest of a string that began at start and has an escape
// sequence at i.
func (s *jsonScanner) unescape(start int) (string, bool) {
	buf := make([]byte, 0, s.i-start+64)
	buf = append(buf, s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return string(buf), true
		case c < ' ':
			return "", false
		case c != '\\':
			buf = append(buf, c)
			s.i++
			continue
		}
		// An escape sequence: \ and one of "\/bfnrt, or u and 4 hex digits.
		if s.i+1 >= len(s.b) {
			return "", false
		}
		switch e := s.b[s.i+1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r := hex4(s.b[s.i+2:])
			if r < 0 {
				return "", false
			}
			s.i += 6
			if utf16.IsSurrogate(r) {
				// As encoding/json: a pair makes one rune; a surrogate
				// without its other half is U+FFFD, and what follows it
				// is read on its own.
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(s.b[s.i+2:])); dec != unicode.ReplacementChar {
						buf = utf8.AppendRune(buf, dec)
						s.i += 6
						continue
					}
				}
				r = unicode.ReplacementChar
			}
			buf = utf8.AppendRune(buf, r)
			continue
		default:
			return "", false
		}
		s.i += 2
	}
	return "", false
}

// hex4 returns the value of the 4 hex digits b starts with, or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// int reads a JSON integer that fits in an int64: -?(0|[1-9][0-9]*). A
// fraction or exponent, which encoding/json refuses for an integer field
// with an error of its own, is declined, as is an overflow.
func (s *jsonScanner) int() (int64, bool) {
	neg := s.consume('-')
	start := s.i
	var u uint64
	for ; s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9'; s.i++ {
		if u > (1<<63)/10 {
			return 0, false
		}
		u = u*10 + uint64(s.b[s.i]-'0')
	}
	switch n := s.i - start; {
	case n == 0, n > 1 && s.b[start] == '0':
		return 0, false // no digits, or a leading zero
	case s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E'):
		return 0, false
	case neg && u <= 1<<63:
		return -int64(u), true
	case !neg && u < 1<<63:
		return int64(u), true
	}
	return 0, false
}

// intInto reads a JSON integer into an int field. One that does not fit
// an int (on a 32-bit platform) is declined: encoding/json refuses it.
func (s *jsonScanner) intInto(p *int) bool {
	n, ok := s.int()
	if !ok || int64(int(n)) != n {
		return false
	}
	*p = int(n)
	return true
}

// bool reads true or false.
func (s *jsonScanner) bool() (bool, bool) {
	rest := s.b[s.i:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		s.i += 4
		return true, true
	case len(rest) >= 5 && string(rest[:5]) == "false":
		s.i += 5
		return false, true
	}
	return false, false
}
