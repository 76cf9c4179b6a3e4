package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/tasks"
)

// readJSONBody reads a JSON request body of at most limit bytes, or answers
// the error and returns false.
func readJSONBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
		writeError(w, http.StatusUnsupportedMediaType, apiError{Code: CodeUnsupportedMedia,
			Message: fmt.Sprintf("Content-Type %q: send application/json", ct)})
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, apiError{Code: CodeTooLarge,
				Message: fmt.Sprintf("the body exceeds %d bytes", limit)})
			return nil, false
		}
		writeError(w, http.StatusBadRequest, apiError{Code: CodeMalformedJSON, Message: "cannot read the body"})
		return nil, false
	}
	return body, true
}

// isForm reports whether contentType is multipart/form-data.
func isForm(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "multipart/form-data"
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")))
}

// requestBody is the JSON object of a POST body, field by field. The
// endpoints take their request options (send_at, priority, chat_ids, ...)
// out of it; what is left is the message, which package tasks decodes
// strictly so that its errors name the field.
type requestBody map[string]json.RawMessage

// decodeRequestBody decodes body, which must be one JSON object in valid
// UTF-8.
func decodeRequestBody(body []byte) (requestBody, *apiError) {
	if !utf8.Valid(body) {
		// encoding/json would turn the bad bytes into U+FFFD and queue
		// altered text.
		return nil, &apiError{Code: CodeMalformedJSON, Message: "the body is not valid UTF-8"}
	}
	var fields requestBody
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return nil, &apiError{Code: CodeMalformedJSON, Message: "the body must be a JSON object"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &apiError{Code: CodeMalformedJSON, Message: "trailing data after the JSON object"}
	}
	return fields, nil
}

// take removes field name from the body and decodes it into v. It reports
// false when the body leaves the field out or sets it to null, and the
// decoding error when the field does not fit v.
func (b requestBody) take(name string, v any) (bool, error) {
	raw, ok := b[name]
	delete(b, name)
	if !ok || string(raw) == "null" {
		return false, nil
	}
	return true, json.Unmarshal(raw, v)
}

// takeString takes field name, which must be a string when set; unset is "".
func (b requestBody) takeString(name string) (string, *apiError) {
	var v string
	if _, err := b.take(name, &v); err != nil {
		return "", invalidField(name, "must be a string")
	}
	return v, nil
}

// takeSchedule takes send_at and send_in, of which a body may set one, and
// returns the client option they ask for (none when neither is set). The
// client bounds how far ahead they may be.
func (b requestBody) takeSchedule() ([]client.Option, *apiError) {
	at, in, e := b.takeScheduleTimes()
	switch {
	case e != nil:
		return nil, e
	case !at.IsZero():
		return []client.Option{client.SendAt(at)}, nil
	case in > 0:
		return []client.Option{client.SendIn(in)}, nil
	}
	return nil, nil
}

// takeScheduleTimes takes send_at and send_in, of which a body may set one.
func (b requestBody) takeScheduleTimes() (time.Time, time.Duration, *apiError) {
	sendAt, e := b.takeString("send_at")
	if e != nil {
		return time.Time{}, 0, e
	}
	var at time.Time
	if sendAt != "" {
		t, err := time.Parse(time.RFC3339, sendAt)
		if err != nil {
			return time.Time{}, 0, invalidField("send_at", "%q is not an RFC 3339 time such as 2026-05-01T09:00:00Z", sendAt)
		}
		at = t
	}
	sendIn, e := b.takeString("send_in")
	if e != nil {
		return time.Time{}, 0, e
	}
	var in time.Duration
	if sendIn != "" {
		d, err := time.ParseDuration(sendIn)
		if err != nil || d < 0 {
			return time.Time{}, 0, invalidField("send_in", "%q is not a non-negative duration such as 90s or 1h30m", sendIn)
		}
		in = d
	}
	if sendAt != "" && sendIn != "" {
		return time.Time{}, 0, invalidField("send_in", "set either send_at or send_in, not both")
	}
	return at, in, nil
}

// marshal encodes the fields left in the body: the message.
func (b requestBody) marshal() ([]byte, *apiError) {
	data, err := json.Marshal(b)
	if err != nil {
		return nil, &apiError{Code: CodeMalformedJSON, Message: "the body must be a JSON object"}
	}
	return data, nil
}

// invalidField is the 400 of a request field; the message starts with the
// field's name.
func invalidField(field, format string, args ...any) *apiError {
	return &apiError{Code: CodeInvalidField, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// payloadError is the 400 of a payload that tasks refused.
func payloadError(err error) *apiError {
	var ve *tasks.ValidationError
	if errors.As(err, &ve) {
		return &apiError{Code: CodeInvalidField, Field: ve.Field, Message: ve.Error()}
	}
	return &apiError{Code: CodeMalformedJSON, Message: err.Error()}
}

// idempotencyKey is the request's Idempotency-Key header; ok is false when
// there is none, and more than one is an error.
func idempotencyKey(r *http.Request) (key string, ok bool, apiErr *apiError) {
	keys, ok := r.Header[IdempotencyKeyHeader]
	if !ok {
		return "", false, nil
	}
	if len(keys) != 1 {
		return "", false, &apiError{Code: CodeInvalidField, Field: IdempotencyKeyHeader, Message: "send one Idempotency-Key header"}
	}
	return keys[0], true, nil
}
