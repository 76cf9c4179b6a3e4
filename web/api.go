package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/tasks"
)

// Error codes of the API's JSON errors.
const (
	CodeInvalidField     = "invalid_field"          // 400; field names it
	CodeMalformedJSON    = "malformed_json"         // 400
	CodeUnauthorized     = "unauthorized"           // 401
	CodeNotFound         = "not_found"              // 404
	CodeAPIDisabled      = "api_disabled"           // 404
	CodeMethodNotAllowed = "method_not_allowed"     // 405
	CodeDuplicate        = "duplicate"              // 409; id and queue name the first task
	CodeTooLarge         = "body_too_large"         // 413
	CodeUnsupportedMedia = "unsupported_media_type" // 415
	CodeUnavailable      = "redis_unavailable"      // 503, with Retry-After
	CodeInternal         = "internal"               // 500
)

// RetryAfterSeconds is the Retry-After of 503 answers.
const RetryAfterSeconds = 5

// IdempotencyKeyHeader carries the idempotency key of POST /v1/messages.
const IdempotencyKeyHeader = "Idempotency-Key"

// apiError is the body of every API error: {"error": {...}}.
type apiError struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	// ID and Queue name the existing task of a duplicate.
	ID    string `json:"id,omitempty"`
	Queue string `json:"queue,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, e apiError) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", fmt.Sprint(RetryAfterSeconds))
	}
	writeJSON(w, status, struct {
		Error apiError `json:"error"`
	}{e})
}

// apiAuth checks the bearer token of every /v1/ request; with no token
// configured the API is off.
func (s *Server) apiAuth(next http.Handler) http.Handler {
	if s.cfg.APIToken == "" {
		s.log.Warn("web: HTTP API disabled: API_TOKEN is not set", "path", "/v1/")
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusNotFound, apiError{Code: CodeAPIDisabled,
				Message: "the HTTP API is disabled: set API_TOKEN to enable it"})
		})
	}
	want := sha256.Sum256([]byte(s.cfg.APIToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(r)
		got := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="telequeue"`)
			writeError(w, http.StatusUnauthorized, apiError{Code: CodeUnauthorized,
				Message: "missing or wrong bearer token: send Authorization: Bearer <API_TOKEN>"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func (s *Server) apiRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/messages", s.postMessage)
	mux.HandleFunc("GET /v1/messages/{id}", s.getMessage)
	mux.HandleFunc("GET /v1/stats", s.getStats)
	s.broadcastRoutes(mux)
	s.replyRoutes(mux)
	s.eventRoutes(mux)
	// JSON answers for wrong methods and unknown paths.
	mux.Handle("/v1/messages", methodNotAllowed("POST"))
	mux.Handle("/v1/messages/{id}", methodNotAllowed("GET"))
	mux.Handle("/v1/stats", methodNotAllowed("GET"))
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, apiError{Code: CodeNotFound, Message: "no such endpoint: " + r.URL.Path})
	})
	return mux
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, apiError{Code: CodeMethodNotAllowed,
			Message: fmt.Sprintf("%s is not allowed here; use %s", r.Method, allow)})
	})
}

// messageRequest is the body of POST /v1/messages besides the SendMessage
// fields: priority, send_at or send_in, and ordered.
type messageRequest struct {
	priority string
	when     schedule
	ordered  bool
}

// sentReceipt is the 202 body.
type sentReceipt struct {
	ID          string    `json:"id"`
	Queue       string    `json:"queue"`
	ScheduledAt time.Time `json:"scheduled_at,omitzero"`
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	body, ok := readJSONBody(w, r, MaxBodyBytes)
	if !ok {
		return
	}
	msg, req, apiErr := parseMessageRequest(body)
	if apiErr != nil {
		writeError(w, http.StatusBadRequest, *apiErr)
		return
	}
	opts, apiErr := req.options(r)
	if apiErr != nil {
		writeError(w, http.StatusBadRequest, *apiErr)
		return
	}
	receipt, err := s.cfg.Client.SendMessage(r.Context(), msg, opts...)
	if err != nil {
		s.queueError(w, r, "message", err)
		return
	}
	w.Header().Set("Location", "/v1/messages/"+receipt.ID)
	writeJSON(w, http.StatusAccepted, sentReceipt{ID: receipt.ID, Queue: receipt.Queue, ScheduledAt: receipt.ScheduledAt})
}

// options are the client options a request asks for: its body's and its
// Idempotency-Key header.
func (req *messageRequest) options(r *http.Request) ([]client.Option, *apiError) {
	opts := []client.Option{client.Priority(req.priority)}
	switch {
	case !req.when.at.IsZero():
		opts = append(opts, client.SendAt(req.when.at))
	case req.when.in > 0:
		opts = append(opts, client.SendIn(req.when.in))
	}
	if req.ordered {
		opts = append(opts, client.Ordered())
	}
	key, ok, apiErr := idempotencyKey(r)
	if apiErr != nil {
		return nil, apiErr
	}
	if ok {
		opts = append(opts, client.IdempotencyKey(key))
	}
	return opts, nil
}

// queueError answers the error that kept a message or broadcast (what) from
// being queued.
func (s *Server) queueError(w http.ResponseWriter, r *http.Request, what string, err error) {
	var (
		ve  *tasks.ValidationError
		dup *client.DuplicateError
	)
	switch {
	case errors.As(err, &ve):
		writeError(w, http.StatusBadRequest, apiError{Code: CodeInvalidField, Field: ve.Field, Message: ve.Error()})
	case errors.As(err, &dup):
		writeError(w, http.StatusConflict, apiError{Code: CodeDuplicate, ID: dup.ID, Queue: dup.Queue,
			Message: fmt.Sprintf("the idempotency key was already used by %s %s", what, dup.ID)})
	case errors.Is(err, client.ErrInvalidOption):
		writeError(w, http.StatusBadRequest, apiError{Code: CodeInvalidField, Field: optionField(err), Message: err.Error()})
	default:
		s.serverError(w, r, "queue "+what, err)
	}
}

// optionField names the request field behind a client.ErrInvalidOption.
func optionField(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "idempotency key"):
		return IdempotencyKeyHeader
	case strings.Contains(msg, "priority"):
		return "priority"
	case strings.Contains(msg, "ordered"):
		return "ordered"
	}
	return ""
}

// parseMessageRequest splits the body into the message, decoded strictly by
// tasks.ParseSendMessage so that errors name the field, and the request
// options.
func parseMessageRequest(body []byte) (*tasks.SendMessage, *messageRequest, *apiError) {
	fields, req, apiErr := parseRequestFields(body)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	rest, apiErr := fields.marshal()
	if apiErr != nil {
		return nil, nil, apiErr
	}
	msg, err := tasks.ParseSendMessage(rest)
	if err != nil {
		return nil, nil, payloadError(err)
	}
	return msg, req, nil
}

// parseRequestFields decodes a body object and takes the request options
// (messageRequest) out of it; the other fields are returned.
func parseRequestFields(body []byte) (requestBody, *messageRequest, *apiError) {
	fields, apiErr := decodeRequestBody(body)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	req := &messageRequest{priority: client.PriorityDefault}
	priority, apiErr := fields.takeString("priority")
	if apiErr != nil {
		return nil, nil, apiErr
	}
	switch priority {
	case "":
	case client.PriorityCritical, client.PriorityDefault, client.PriorityBulk:
		req.priority = priority
	default:
		return nil, nil, invalidField("priority", "%q: use critical, default or bulk", priority)
	}
	if req.when, apiErr = fields.takeSchedule(); apiErr != nil {
		return nil, nil, apiErr
	}
	if _, err := fields.take("ordered", &req.ordered); err != nil {
		return nil, nil, invalidField("ordered", "must be true or false")
	}
	return fields, req, nil
}

// messageStatus is the body of GET /v1/messages/{id}.
type messageStatus struct {
	ID            string    `json:"id"`
	Queue         string    `json:"queue,omitempty"`
	State         string    `json:"state"`
	Attempts      int       `json:"attempts"`
	MaxRetry      int       `json:"max_retry,omitempty"`
	LastError     string    `json:"last_error,omitempty"`
	LastFailedAt  time.Time `json:"last_failed_at,omitzero"`
	NextProcessAt time.Time `json:"next_process_at,omitzero"`
	CompletedAt   time.Time `json:"completed_at,omitzero"`
	Bot           string    `json:"bot,omitempty"`
	ChatID        any       `json:"chat_id,omitempty"`
	// MessageID is Telegram's message_id, once sent.
	MessageID int64 `json:"message_id,omitempty"`
	// MessageIDs are a multi-part reply's message_ids, once all are sent.
	MessageIDs []int64 `json:"message_ids,omitempty"`
	// SentChatID is the chat Telegram delivered to, when it differs from
	// chat_id (a group migrated to a supergroup).
	SentChatID int64 `json:"sent_chat_id,omitempty"`
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st, err := s.cfg.Client.Status(r.Context(), id)
	switch {
	case errors.Is(err, client.ErrNotFound):
		writeError(w, http.StatusNotFound, apiError{Code: CodeNotFound, Message: fmt.Sprintf("no message with id %q", id)})
		return
	case err != nil:
		s.serverError(w, r, "message status", err)
		return
	}
	out := messageStatus{
		ID: st.ID, Queue: st.Queue, State: st.State, Attempts: st.Attempts, MaxRetry: st.MaxRetry,
		LastError: st.LastError, LastFailedAt: st.LastFailedAt, NextProcessAt: st.NextProcessAt,
		CompletedAt: st.CompletedAt,
	}
	if m := st.Message; m != nil {
		out.Bot = m.BotName()
		out.ChatID = m.ChatID
	}
	out.MessageIDs = st.MessageIDs
	if res := st.Result; res != nil {
		out.MessageID = res.MessageID
		if st.Message == nil || (res.ChatID != 0 && res.ChatID != st.Message.ChatID.ID) {
			out.SentChatID = res.ChatID
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// serverError answers 503 when err means Redis is unreachable (asking the
// client to retry) and 500 otherwise; both are logged.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, client.ErrUnavailable) || s.redisDown(r.Context()) {
		s.log.WarnContext(r.Context(), "web: redis unavailable", "op", what, "err", err)
		writeError(w, http.StatusServiceUnavailable, apiError{Code: CodeUnavailable,
			Message: "the queue store (Redis) is unreachable; retry later"})
		return
	}
	s.log.ErrorContext(r.Context(), "web: "+what, "err", err)
	writeError(w, http.StatusInternalServerError, apiError{Code: CodeInternal, Message: "internal error"})
}

// redisDown reports whether Redis fails a PING within the ready timeout.
// The request's own cancellation does not count.
func (s *Server) redisDown(ctx context.Context) bool {
	return s.ping(context.WithoutCancel(ctx)) != nil
}

func (s *Server) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	return s.rdb.Ping(ctx).Err()
}
