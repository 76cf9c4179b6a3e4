package tasks

import (
	"errors"
	"fmt"
)

// Sentinel errors wrapped by [*ValidationError]. Match them with errors.Is.
var (
	ErrEmptyText          = errors.New("text is empty")
	ErrTextTooLong        = errors.New("text is too long")
	ErrInvalidText        = errors.New("text is not valid UTF-8")
	ErrMissingChat        = errors.New("chat_id is missing")
	ErrInvalidChat        = errors.New("chat_id is invalid")
	ErrUnknownParseMode   = errors.New("unknown parse_mode")
	ErrInvalidBot         = errors.New("bot name is invalid")
	ErrInvalidEntities    = errors.New("entities are invalid")
	ErrInvalidReplyMarkup = errors.New("reply_markup is invalid")
	ErrInvalidField       = errors.New("invalid field")
	ErrUnsupportedVersion = errors.New("unsupported payload version")
	ErrMalformedPayload   = errors.New("malformed payload")
)

// ErrUnknownBot is the one error value, for the whole module, of a bot name
// that is well-formed but not configured: [CheckBot] wraps it when a
// producer refuses a message, and workers return it (wrapped) for a task
// whose bot has no token. Match it with errors.Is.
var ErrUnknownBot = errors.New("unknown bot")

// ValidationError reports which field of a payload is wrong and why. It wraps
// one of the package's sentinel errors.
type ValidationError struct {
	// Field is the JSON name of the offending field, e.g. "text".
	Field string
	// Err is the sentinel describing the problem, e.g. ErrTextTooLong.
	Err error
	// Detail adds specifics, e.g. "4100 characters, the limit is 4096".
	Detail string
}

func (e *ValidationError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%s: %v", e.Field, e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", e.Field, e.Err, e.Detail)
}

func (e *ValidationError) Unwrap() error { return e.Err }

func invalid(field string, err error, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Err: err, Detail: fmt.Sprintf(format, args...)}
}
