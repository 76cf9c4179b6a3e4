// Package jsonscan reads JSON tokens without reflection, for the few hot
// paths that read one shape of JSON many times a second (a sendMessage
// payload in tasks, a sendMessage answer in handlers) and leave everything
// else to encoding/json.
//
// A Scanner's methods report false for anything they do not read exactly as
// encoding/json would, valid JSON or not; the caller then gives the input to
// encoding/json, whose result and errors stand.
package jsonscan

import (
	"bytes"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Scanner reads JSON tokens from B at I.
type Scanner struct {
	B []byte
	I int
}

// Peek skips white space and returns the next byte, 0 at the end.
func (s *Scanner) Peek() byte {
	for ; s.I < len(s.B); s.I++ {
		switch c := s.B[s.I]; c {
		case ' ', '\t', '\n', '\r':
		default:
			return c
		}
	}
	return 0
}

// At reports whether the byte at I, without skipping white space, is
// between lo and hi.
func (s *Scanner) At(lo, hi byte) bool {
	return s.I < len(s.B) && lo <= s.B[s.I] && s.B[s.I] <= hi
}

// Consume reads c if it is next, without skipping white space.
func (s *Scanner) Consume(c byte) bool {
	if s.At(c, c) {
		s.I++
		return true
	}
	return false
}

// End reports whether only white space is left.
func (s *Scanner) End() bool {
	s.Peek()
	return s.I == len(s.B)
}

// RawString reads a string and returns its content as written, aliasing B.
// plain is true when it has neither escapes nor non-ASCII bytes, and so is
// its value (and, as an object key, is matched by encoding/json only by
// the same letters in any case).
func (s *Scanner) RawString() (content []byte, plain, ok bool) {
	if s.Peek() != '"' {
		return nil, false, false
	}
	s.I++
	start := s.I
	plain = true
	for s.I < len(s.B) {
		switch c := s.B[s.I]; {
		case c == '"':
			s.I++
			return s.B[start : s.I-1], plain, true
		case c < 0x20:
			return nil, false, false
		case c == '\\':
			plain = false
			s.I++
			if !s.escape() {
				return nil, false, false
			}
		default:
			plain = plain && c < 0x80
			s.I++
		}
	}
	return nil, false, false
}

// escape reads what follows a backslash in a string.
func (s *Scanner) escape() bool {
	if s.I >= len(s.B) {
		return false
	}
	switch s.B[s.I] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.I++
		return true
	case 'u':
		if hex4(s.B[s.I+1:]) < 0 {
			return false
		}
		s.I += 5
		return true
	}
	return false
}

// String reads a string and returns it decoded as encoding/json decodes
// strings: escape sequences replaced, a valid UTF-16 surrogate pair written
// \uXXXX\uXXXX decoded to its rune, and a lone surrogate to U+FFFD. Other
// bytes are copied as they are: B must be valid UTF-8 (encoding/json
// replaces invalid bytes), which the caller checks. A string without escapes
// comes back aliasing B, without allocating.
func (s *Scanner) String() ([]byte, bool) {
	if s.Peek() != '"' {
		return nil, false
	}
	s.I++
	start := s.I
	for s.I < len(s.B) && !stringStop[s.B[s.I]] {
		s.I++
	}
	switch {
	case s.I == len(s.B):
		return nil, false
	case s.B[s.I] == '"':
		s.I++
		return s.B[start : s.I-1], true
	case s.B[s.I] == '\\':
		return s.unescape(start)
	}
	return nil, false // control characters must be escaped
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

// unescape reads the rest of a string that began at start and has an escape
// sequence at I.
func (s *Scanner) unescape(start int) ([]byte, bool) {
	buf := make([]byte, 0, s.I-start+64)
	buf = append(buf, s.B[start:s.I]...)
	for s.I < len(s.B) {
		c := s.B[s.I]
		switch {
		case c == '"':
			s.I++
			return buf, true
		case c < ' ':
			return nil, false
		case c != '\\':
			buf = append(buf, c)
			s.I++
			continue
		}
		// An escape sequence: \ and one of "\/bfnrt, or u and 4 hex digits.
		if s.I+1 >= len(s.B) {
			return nil, false
		}
		switch e := s.B[s.I+1]; e {
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
			r := hex4(s.B[s.I+2:])
			if r < 0 {
				return nil, false
			}
			s.I += 6
			if utf16.IsSurrogate(r) {
				// As encoding/json: a pair makes one rune; a surrogate
				// without its other half is U+FFFD, and what follows it
				// is read on its own.
				if s.I+1 < len(s.B) && s.B[s.I] == '\\' && s.B[s.I+1] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(s.B[s.I+2:])); dec != unicode.ReplacementChar {
						buf = utf8.AppendRune(buf, dec)
						s.I += 6
						continue
					}
				}
				r = unicode.ReplacementChar
			}
			buf = utf8.AppendRune(buf, r)
			continue
		default:
			return nil, false
		}
		s.I += 2
	}
	return nil, false
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

// Number reads a number and reports whether it is an integer.
func (s *Scanner) Number() (integer, ok bool) {
	s.Peek()
	s.Consume('-')
	switch {
	case s.Consume('0'):
	case !s.digits():
		return false, false
	}
	integer = true
	if s.Consume('.') {
		if !s.digits() {
			return false, false
		}
		integer = false
	}
	if s.Consume('e') || s.Consume('E') {
		if !s.Consume('+') {
			s.Consume('-')
		}
		if !s.digits() {
			return false, false
		}
		integer = false
	}
	return integer, true
}

// digits reads one or more digits.
func (s *Scanner) digits() bool {
	start := s.I
	for s.At('0', '9') {
		s.I++
	}
	return s.I > start
}

// Int reads an integer that fits in an int64, -?(0|[1-9][0-9]*), as
// strconv.ParseInt (which encoding/json uses) reads it. A fraction or
// exponent, which encoding/json refuses for an integer field with an error
// of its own, is refused, as is an overflow.
func (s *Scanner) Int() (int64, bool) {
	s.Peek()
	neg := s.Consume('-')
	start := s.I
	var u uint64
	for ; s.At('0', '9'); s.I++ {
		if u > (1<<63)/10 {
			return 0, false
		}
		u = u*10 + uint64(s.B[s.I]-'0')
	}
	switch n := s.I - start; {
	case n == 0, n > 1 && s.B[start] == '0':
		return 0, false // no digits, or a leading zero
	case s.At('.', '.') || s.At('e', 'e') || s.At('E', 'E'):
		return 0, false
	case neg && u <= 1<<63:
		return -int64(u), true
	case !neg && u < 1<<63:
		return int64(u), true
	}
	return 0, false
}

// Literal reads the literal lit (true, false or null).
func (s *Scanner) Literal(lit string) bool {
	s.Peek()
	if !bytes.HasPrefix(s.B[s.I:], []byte(lit)) {
		return false
	}
	s.I += len(lit)
	return true
}

// Bool reads true or false.
func (s *Scanner) Bool() (v, ok bool) {
	if s.Literal("true") {
		return true, true
	}
	return false, s.Literal("false")
}
