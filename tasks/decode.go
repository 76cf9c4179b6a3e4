package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// decodeStrict is the one decoder of every task payload: the payload must be
// valid UTF-8 and exactly one JSON object whose fields are all known to v,
// with nothing after it but whitespace (which JSON allows around a value),
// and no object in it may name a key twice. Errors are [*ValidationError]
// values naming the field where the decoder can tell it, else they wrap
// [ErrMalformedPayload].
//
// [DecodeSendMessage] tries decodeSendMessageFast first, which decodes the
// common sendMessage payloads to the same message for a fraction of the
// cost and leaves every other payload, and so every error, to
// decodeStrict.
func decodeStrict(payload []byte, v any) error {
	if !utf8.Valid(payload) {
		// encoding/json would replace the bad bytes with U+FFFD and so
		// send altered text; refuse instead.
		return fmt.Errorf("%w: not valid UTF-8", ErrMalformedPayload)
	}
	if b := bytes.TrimLeft(payload, jsonSpace); len(b) == 0 || b[0] != '{' {
		// null would decode to a zero payload without an error.
		return fmt.Errorf("%w: not a JSON object", ErrMalformedPayload)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if rest := bytes.TrimLeft(payload[dec.InputOffset():], jsonSpace); len(rest) > 0 {
		return fmt.Errorf("%w: trailing data after the JSON object", ErrMalformedPayload)
	}
	return duplicateKey(payload)
}

// duplicateKey returns an error wrapping [ErrMalformedPayload] when an
// object of a valid JSON payload, at any depth, names a key twice. Keys are
// compared as encoding/json matches them to fields, ignoring case, so that
// {"chat_id":1,"CHAT_ID":2} cannot mean one chat to one reader and another
// to the next.
//
// payload has been decoded already, so it is valid JSON: one pass over its
// bytes finds the keys without allocating. A key written with an escape
// sequence ("\u0063hat_id") is compared decoded, by the slower
// duplicateKeyDecoded.
func duplicateKey(payload []byte) error {
	type frame struct {
		object bool
		first  int // index in keys of the object's first key
	}
	var stackBuf [8]frame
	var keysBuf [32][]byte
	stack, keys := stackBuf[:0], keysBuf[:0]
	wantKey := false
	for i := 0; i < len(payload); i++ {
		switch payload[i] {
		case '{':
			stack = append(stack, frame{object: true, first: len(keys)})
			wantKey = true
		case '[':
			stack = append(stack, frame{})
			wantKey = false
		case '}', ']':
			if top := stack[len(stack)-1]; top.object {
				keys = keys[:top.first]
			}
			stack = stack[:len(stack)-1]
			wantKey = false
		case ',':
			wantKey = stack[len(stack)-1].object
		case '"':
			start, escaped := i+1, false
			for i = start; payload[i] != '"'; i++ {
				if payload[i] == '\\' {
					escaped = true
					i++
				}
			}
			if !wantKey {
				continue
			}
			if escaped {
				return duplicateKeyDecoded(payload)
			}
			key := payload[start:i]
			for _, k := range keys[stack[len(stack)-1].first:] {
				// Unicode simple folding, as encoding/json matches names.
				if bytes.EqualFold(k, key) {
					return fmt.Errorf("%w: key %q appears twice in one object", ErrMalformedPayload, key)
				}
			}
			keys = append(keys, key)
			wantKey = false
		}
	}
	return nil
}

// duplicateKeyDecoded is duplicateKey over encoding/json's tokens, which
// decode escape sequences.
func duplicateKeyDecoded(payload []byte) error {
	type object struct {
		keys    map[string]bool
		wantKey bool
	}
	var stack []*object // nil entries are arrays
	dec := json.NewDecoder(bytes.NewReader(payload))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformedPayload, err)
		}
		var top *object
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch tok {
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			continue
		}
		if top != nil && top.wantKey {
			key := strings.Map(foldRune, tok.(string))
			if top.keys[key] {
				return fmt.Errorf("%w: key %q appears twice in one object", ErrMalformedPayload, tok)
			}
			top.keys[key] = true
			top.wantKey = false
			continue
		}
		if top != nil {
			top.wantKey = true // after this value, a key or the end
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &object{keys: map[string]bool{}, wantKey: true})
		case json.Delim('['):
			stack = append(stack, nil)
		}
	}
}

// foldRune returns the smallest rune of r's case-folding set, as
// encoding/json folds field names.
func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

// jsonSpace is the whitespace JSON allows between tokens.
const jsonSpace = " \t\r\n"

// decodeError turns encoding/json errors into ValidationErrors naming the
// field where possible.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return invalid(te.Field, ErrInvalidField, "expected %s, got JSON %s", te.Type, te.Value)
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		field := strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`)
		return invalid(field, ErrInvalidField, "unknown field")
	}
	return fmt.Errorf("%w: %v", ErrMalformedPayload, err)
}
