package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// decodeStrict is the one decoder of every task payload: the payload must be
// valid UTF-8 and exactly one JSON object whose fields are all known to v,
// with nothing after it but whitespace (which JSON allows around a value).
// Errors are [*ValidationError] values naming the field where the decoder
// can tell it, else they wrap [ErrMalformedPayload].
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
	return nil
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
