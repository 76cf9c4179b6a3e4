package server

import "strings"

// MaxErrorChars bounds the text of a handler's error. asynq stores the text
// with the task (Asynqmon shows it, the client's Status reports it) and the
// worker logs it; a longer text is cut, with "…", so that no value a
// handler quotes can fill Redis or a page.
const MaxErrorChars = 512

// cappedError is an error whose text is cut at [MaxErrorChars]. It unwraps
// to the original, so that errors.Is and errors.As (asynq.SkipRetry, the
// rate-limit errors RetryDelay reads) see what the handler returned.
type cappedError struct {
	err  error
	text string
}

func (e *cappedError) Error() string { return e.text }
func (e *cappedError) Unwrap() error { return e.err }

// capError returns err, or, when its text is longer than MaxErrorChars
// characters, err with its text cut at a character boundary.
func capError(err error) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	if len(text) <= MaxErrorChars { // bytes ≥ characters: short enough
		return err
	}
	var b strings.Builder
	n := 0
	for _, r := range text { // an invalid byte comes as utf8.RuneError, written as U+FFFD
		if n == MaxErrorChars {
			b.WriteString("…")
			return &cappedError{err: err, text: b.String()}
		}
		b.WriteRune(r)
		n++
	}
	return err
}
