package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/tasks"
)

// Broadcasts is what the broadcast endpoints need; *client.Client implements
// it. The API serves them when [Config.Client] implements Broadcasts too;
// otherwise they answer 404.
type Broadcasts interface {
	Broadcast(ctx context.Context, m *tasks.SendMessage, chatIDs []int64, opts ...client.BroadcastOption) (*client.BroadcastReceipt, error)
	BroadcastStatus(ctx context.Context, id string) (*client.BroadcastProgress, error)
	CancelBroadcast(ctx context.Context, id string) (*client.BroadcastProgress, error)
	BroadcastBlocked(ctx context.Context, id string, offset, limit int) ([]int64, error)
}

var _ Broadcasts = (*client.Client)(nil)

// Limits of the broadcast endpoints.
const (
	// MaxBroadcastBodyBytes is the largest body POST /v1/broadcasts
	// accepts: a million chat ids of up to 14 digits fit with room to spare.
	MaxBroadcastBodyBytes = 32 << 20
	// DefaultBlockedPage and MaxBlockedPage bound the chat ids one
	// GET /v1/broadcasts/{id}/blocked answer holds.
	DefaultBlockedPage = 10_000
	MaxBlockedPage     = 100_000
)

// broadcastFields are the body fields of POST /v1/broadcasts that are not
// the message's.
var broadcastFields = []string{"chat_ids", "send_at", "send_in", "parallelism"}

// broadcastReceipt is the 202 body.
type broadcastReceipt struct {
	ID          string    `json:"id"`
	Total       int       `json:"total"`
	Duplicates  int       `json:"duplicates"`
	Chunks      int       `json:"chunks"`
	Parallelism int       `json:"parallelism"`
	Queue       string    `json:"queue"`
	ScheduledAt time.Time `json:"scheduled_at,omitzero"`
}

// blockedPage is the body of GET /v1/broadcasts/{id}/blocked.
type blockedPage struct {
	ChatIDs []int64 `json:"chat_ids"`
	Offset  int     `json:"offset"`
	// NextOffset is set when a full page was returned: ask again from it.
	NextOffset *int `json:"next_offset,omitempty"`
}

// broadcastRoutes adds the broadcast endpoints to the API mux.
func (s *Server) broadcastRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/broadcasts", s.withBroadcasts(s.postBroadcast))
	mux.HandleFunc("GET /v1/broadcasts/{id}", s.withBroadcasts(s.getBroadcast))
	mux.HandleFunc("DELETE /v1/broadcasts/{id}", s.withBroadcasts(s.deleteBroadcast))
	mux.HandleFunc("GET /v1/broadcasts/{id}/blocked", s.withBroadcasts(s.getBroadcastBlocked))
	mux.Handle("/v1/broadcasts", methodNotAllowed("POST"))
	mux.Handle("/v1/broadcasts/{id}", methodNotAllowed("GET, DELETE"))
	mux.Handle("/v1/broadcasts/{id}/blocked", methodNotAllowed("GET"))
}

type broadcastHandler func(w http.ResponseWriter, r *http.Request, b Broadcasts)

func (s *Server) withBroadcasts(h broadcastHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, ok := s.cfg.Client.(Broadcasts)
		if !ok {
			writeError(w, http.StatusNotFound, apiError{Code: CodeNotFound, Message: "broadcasts are not available on this server"})
			return
		}
		h(w, r, b)
	}
}

func (s *Server) postBroadcast(w http.ResponseWriter, r *http.Request, b Broadcasts) {
	if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
		writeError(w, http.StatusUnsupportedMediaType, apiError{Code: CodeUnsupportedMedia,
			Message: fmt.Sprintf("Content-Type %q: send application/json", ct)})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBroadcastBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, apiError{Code: CodeTooLarge,
				Message: fmt.Sprintf("the body exceeds %d bytes", MaxBroadcastBodyBytes)})
			return
		}
		writeError(w, http.StatusBadRequest, apiError{Code: CodeMalformedJSON, Message: "cannot read the body"})
		return
	}
	msg, ids, opts, apiErr := parseBroadcastRequest(body)
	if apiErr != nil {
		writeError(w, http.StatusBadRequest, *apiErr)
		return
	}
	if key, ok := r.Header[IdempotencyKeyHeader]; ok {
		if len(key) != 1 {
			writeError(w, http.StatusBadRequest, apiError{Code: CodeInvalidField, Field: IdempotencyKeyHeader,
				Message: "send one Idempotency-Key header"})
			return
		}
		opts = append(opts, client.BroadcastIdempotencyKey(key[0]))
	}
	receipt, err := b.Broadcast(r.Context(), msg, ids, opts...)
	var (
		ve  *tasks.ValidationError
		dup *client.DuplicateError
	)
	switch {
	case err == nil:
	case errors.As(err, &ve):
		writeError(w, http.StatusBadRequest, apiError{Code: CodeInvalidField, Field: ve.Field, Message: ve.Error()})
		return
	case errors.As(err, &dup):
		writeError(w, http.StatusConflict, apiError{Code: CodeDuplicate, ID: dup.ID, Queue: dup.Queue,
			Message: fmt.Sprintf("the idempotency key was already used by broadcast %s", dup.ID)})
		return
	case errors.Is(err, client.ErrInvalidOption):
		writeError(w, http.StatusBadRequest, apiError{Code: CodeInvalidField, Field: optionField(err), Message: err.Error()})
		return
	default:
		s.serverError(w, r, "queue broadcast", err)
		return
	}
	w.Header().Set("Location", "/v1/broadcasts/"+receipt.ID)
	writeJSON(w, http.StatusAccepted, broadcastReceipt{
		ID: receipt.ID, Total: receipt.Total, Duplicates: receipt.Duplicates, Chunks: receipt.Chunks,
		Parallelism: receipt.Parallelism, Queue: receipt.Queue, ScheduledAt: receipt.ScheduledAt,
	})
}

// parseBroadcastRequest splits the body into the message (decoded strictly
// so that errors name the field), the chat ids and the options.
func parseBroadcastRequest(body []byte) (*tasks.SendMessage, []int64, []client.BroadcastOption, *apiError) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return nil, nil, nil, &apiError{Code: CodeMalformedJSON, Message: "the body must be a JSON object"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, nil, &apiError{Code: CodeMalformedJSON, Message: "trailing data after the JSON object"}
	}
	invalid := func(field, format string, args ...any) *apiError {
		return &apiError{Code: CodeInvalidField, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
	}
	var ids []int64
	raw, ok := fields["chat_ids"]
	if !ok || string(raw) == "null" {
		return nil, nil, nil, invalid("chat_ids", "is required: an array of integer chat ids")
	}
	if err := json.Unmarshal(raw, &ids); err != nil {
		return nil, nil, nil, invalid("chat_ids", "must be an array of integer chat ids")
	}
	var opts []client.BroadcastOption
	str := func(name string) (string, *apiError) {
		raw, ok := fields[name]
		if !ok || string(raw) == "null" {
			return "", nil
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", invalid(name, "must be a string")
		}
		return v, nil
	}
	sendAt, e := str("send_at")
	if e != nil {
		return nil, nil, nil, e
	}
	sendIn, e := str("send_in")
	if e != nil {
		return nil, nil, nil, e
	}
	switch {
	case sendAt != "" && sendIn != "":
		return nil, nil, nil, invalid("send_in", "set either send_at or send_in, not both")
	case sendAt != "":
		t, err := time.Parse(time.RFC3339, sendAt)
		if err != nil {
			return nil, nil, nil, invalid("send_at", "%q is not an RFC 3339 time such as 2026-05-01T09:00:00Z", sendAt)
		}
		opts = append(opts, client.BroadcastAt(t))
	case sendIn != "":
		d, err := time.ParseDuration(sendIn)
		if err != nil || d < 0 {
			return nil, nil, nil, invalid("send_in", "%q is not a non-negative duration such as 90s or 1h30m", sendIn)
		}
		opts = append(opts, client.BroadcastAt(time.Now().Add(d)))
	}
	if raw, ok := fields["parallelism"]; ok && string(raw) != "null" {
		var n int
		if err := json.Unmarshal(raw, &n); err != nil || n < 1 || n > tasks.MaxBroadcastParallelism {
			return nil, nil, nil, invalid("parallelism", "must be an integer from 1 to %d", tasks.MaxBroadcastParallelism)
		}
		opts = append(opts, client.BroadcastParallelism(n))
	}
	for _, f := range broadcastFields {
		delete(fields, f)
	}
	rest, err := json.Marshal(fields)
	if err != nil {
		return nil, nil, nil, &apiError{Code: CodeMalformedJSON, Message: "the body must be a JSON object"}
	}
	msg, err := tasks.ParseBroadcastMessage(rest)
	if err != nil {
		var ve *tasks.ValidationError
		if errors.As(err, &ve) {
			return nil, nil, nil, &apiError{Code: CodeInvalidField, Field: ve.Field, Message: ve.Error()}
		}
		return nil, nil, nil, &apiError{Code: CodeMalformedJSON, Message: err.Error()}
	}
	return msg, ids, opts, nil
}

func (s *Server) getBroadcast(w http.ResponseWriter, r *http.Request, b Broadcasts) {
	id := r.PathValue("id")
	p, err := b.BroadcastStatus(r.Context(), id)
	if s.broadcastError(w, r, id, "broadcast status", err) {
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) deleteBroadcast(w http.ResponseWriter, r *http.Request, b Broadcasts) {
	id := r.PathValue("id")
	p, err := b.CancelBroadcast(r.Context(), id)
	if s.broadcastError(w, r, id, "cancel broadcast", err) {
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) getBroadcastBlocked(w http.ResponseWriter, r *http.Request, b Broadcasts) {
	id := r.PathValue("id")
	q := r.URL.Query()
	num := func(name string, def, limit int) (int, bool) {
		v := q.Get(name)
		if v == "" {
			return def, true
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > limit {
			writeError(w, http.StatusBadRequest, apiError{Code: CodeInvalidField, Field: name,
				Message: fmt.Sprintf("%s: must be an integer from 0 to %d", name, limit)})
			return 0, false
		}
		return n, true
	}
	offset, ok := num("offset", 0, tasks.MaxBroadcastRecipients)
	if !ok {
		return
	}
	limit, ok := num("limit", DefaultBlockedPage, MaxBlockedPage)
	if !ok {
		return
	}
	if limit == 0 {
		limit = DefaultBlockedPage
	}
	ids, err := b.BroadcastBlocked(r.Context(), id, offset, limit)
	if s.broadcastError(w, r, id, "blocked chats", err) {
		return
	}
	page := blockedPage{ChatIDs: ids, Offset: offset}
	if page.ChatIDs == nil {
		page.ChatIDs = []int64{}
	}
	if len(ids) == limit {
		next := offset + len(ids)
		page.NextOffset = &next
	}
	writeJSON(w, http.StatusOK, page)
}

// broadcastError answers for err and reports whether there was one.
func (s *Server) broadcastError(w http.ResponseWriter, r *http.Request, id, what string, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, client.ErrNotFound):
		writeError(w, http.StatusNotFound, apiError{Code: CodeNotFound, Message: fmt.Sprintf("no broadcast with id %q", id)})
	default:
		s.serverError(w, r, what, err)
	}
	return true
}
