package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/keys"
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

// apiError is the body of every API error: {"error": {...}}. As an error,
// it is a bad request (400).
type apiError struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	// ID and Queue name the existing task of a duplicate.
	ID    string `json:"id,omitempty"`
	Queue string `json:"queue,omitempty"`
}

func (e *apiError) Error() string { return e.Message }

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
	s.methodRoutes(mux)
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

// sentReceipt is the 202 body of POST /v1/messages.
type sentReceipt struct {
	ID          string    `json:"id"`
	Queue       string    `json:"queue"`
	ScheduledAt time.Time `json:"scheduled_at,omitzero"`
}

// postMessage queues one message (client.SendMessage).
func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	s.serveQueue(w, r, queueRequest{
		limit: MaxBodyBytes, what: "message", location: "/v1/messages/", options: messageOptions,
		queue: func(ctx context.Context, fields requestBody, _ map[string]client.File, opts []client.Option) (string, any, error) {
			rest, apiErr := fields.marshal()
			if apiErr != nil {
				return "", nil, apiErr
			}
			// Decoded strictly by package tasks so that errors name the field.
			msg, err := tasks.ParseSendMessage(rest)
			if err != nil {
				return "", nil, payloadError(err)
			}
			receipt, err := s.cfg.Client.SendMessage(ctx, msg, opts...)
			if err != nil {
				return "", nil, err
			}
			return receipt.ID, sentReceipt{ID: receipt.ID, Queue: receipt.Queue, ScheduledAt: receipt.ScheduledAt}, nil
		},
	})
}

// queueRequest is one kind of POST that queues something: a message, a
// reply or a broadcast.
type queueRequest struct {
	limit    int64  // the largest body accepted
	what     string // "message" or "broadcast", for errors
	location string // the path of the result, before its id
	// form, when set, is how a multipart/form-data body is read (its
	// non-file fields within limit); without it, the body is JSON.
	form *formSpec
	// options takes the request options out of the body and returns the
	// client options they ask for.
	options func(requestBody) ([]client.Option, *apiError)
	// queue queues what the rest of the body holds, and the files of a
	// form (stored already, by name), with opts and returns the id and the
	// 202 body; an *apiError is a bad request.
	queue func(ctx context.Context, fields requestBody, files map[string]client.File, opts []client.Option) (id string, answer any, err error)
}

// serveQueue is the flow every POST that queues shares: read the JSON
// object (or the form), take the request options out of it, add the
// Idempotency-Key header, queue the rest, and answer 202 with a Location,
// or the error.
func (s *Server) serveQueue(w http.ResponseWriter, r *http.Request, q queueRequest) {
	var (
		fields requestBody
		files  map[string]client.File
	)
	if q.form != nil && isForm(r.Header.Get("Content-Type")) {
		// The form's files are stored as they arrive, held by an id of
		// the request's own until what queues them holds them too.
		holder := client.NewTaskID()
		form, uploads, err := s.readForm(r.Context(), w, r, *q.form, holder)
		defer s.cfg.Client.ReleaseFiles(r.Context(), holder, uploads)
		if err != nil {
			s.callError(w, r, q.what, err)
			return
		}
		fields, files = form, storedFiles(uploads)
	} else {
		body, ok := readJSONBody(w, r, q.limit)
		if !ok {
			return
		}
		var apiErr *apiError
		if fields, apiErr = decodeRequestBody(body); apiErr != nil {
			writeError(w, http.StatusBadRequest, *apiErr)
			return
		}
	}
	opts, apiErr := q.options(fields)
	if apiErr != nil {
		writeError(w, http.StatusBadRequest, *apiErr)
		return
	}
	key, ok, apiErr := idempotencyKey(r)
	if apiErr != nil {
		writeError(w, http.StatusBadRequest, *apiErr)
		return
	}
	if ok {
		opts = append(opts, client.IdempotencyKey(key))
	}
	id, answer, err := q.queue(r.Context(), fields, files, opts)
	if err != nil {
		s.callError(w, r, q.what, err)
		return
	}
	w.Header().Set("Location", q.location+id)
	writeJSON(w, http.StatusAccepted, answer)
}

// messageOptions takes the request options of a message or reply: priority,
// send_at or send_in, and ordered. The client checks their values.
func messageOptions(fields requestBody) ([]client.Option, *apiError) {
	var opts []client.Option
	priority, apiErr := fields.takeString("priority")
	if apiErr != nil {
		return nil, apiErr
	}
	if priority != "" {
		opts = append(opts, client.Priority(priority))
	}
	when, apiErr := fields.takeSchedule()
	if apiErr != nil {
		return nil, apiErr
	}
	opts = append(opts, when...)
	var ordered bool
	if _, err := fields.take("ordered", &ordered); err != nil {
		return nil, invalidField("ordered", "must be true or false")
	}
	if ordered {
		opts = append(opts, client.Ordered())
	}
	return opts, nil
}

// optionFields are the request fields behind the client's options, by the
// option's name (client.OptionError.Option).
var optionFields = map[string]string{
	"Priority":             "priority",
	"SendAt":               "send_at",
	"SendIn":               "send_in",
	"Ordered":              "ordered",
	"IdempotencyKey":       IdempotencyKeyHeader,
	"BroadcastParallelism": "parallelism",
}

// queueError answers the error that kept a message or broadcast (what) from
// being queued.
func (s *Server) queueError(w http.ResponseWriter, r *http.Request, what string, err error) {
	var (
		bad *apiError
		ve  *tasks.ValidationError
		oe  *client.OptionError
		dup *client.DuplicateError
	)
	switch {
	case errors.As(err, &bad):
		writeError(w, http.StatusBadRequest, *bad)
	case errors.As(err, &ve):
		writeError(w, http.StatusBadRequest, apiError{Code: CodeInvalidField, Field: ve.Field, Message: ve.Error()})
	case errors.As(err, &oe):
		field := optionFields[oe.Option]
		if field == "" {
			// An option the API does not expose: our bug, but still the
			// request's fault.
			field = oe.Option
		}
		writeError(w, http.StatusBadRequest, apiError{Code: CodeInvalidField, Field: field, Message: field + ": " + oe.Err.Error()})
	case errors.As(err, &dup):
		writeError(w, http.StatusConflict, apiError{Code: CodeDuplicate, ID: dup.ID, Queue: dup.Queue,
			Message: fmt.Sprintf("the idempotency key was already used by %s %s", what, dup.ID)})
	default:
		s.serverError(w, r, "queue "+what, err)
	}
}

// messageStatus is the body of GET /v1/messages/{id}.
type messageStatus struct {
	ID            string       `json:"id"`
	Queue         string       `json:"queue,omitempty"`
	State         client.State `json:"state"`
	Attempts      int          `json:"attempts"`
	MaxRetry      int          `json:"max_retry,omitempty"`
	LastError     string       `json:"last_error,omitempty"`
	LastFailedAt  time.Time    `json:"last_failed_at,omitzero"`
	NextProcessAt time.Time    `json:"next_process_at,omitzero"`
	CompletedAt   time.Time    `json:"completed_at,omitzero"`
	Bot           string       `json:"bot,omitempty"`
	ChatID        any          `json:"chat_id,omitempty"`
	// MessageID is Telegram's message_id, once sent.
	MessageID int64 `json:"message_id,omitempty"`
	// MessageIDs are a multi-part reply's message_ids, once all are sent.
	MessageIDs []int64 `json:"message_ids,omitempty"`
	// SentChatID is the chat Telegram delivered to, when it differs from
	// chat_id (a group migrated to a supergroup).
	SentChatID int64 `json:"sent_chat_id,omitempty"`

	// Method is the Bot API method of a call queued with POST
	// /v1/methods/{method} (sendMessage tasks leave it out).
	Method string `json:"method,omitempty"`
	// FileIDs are the file_ids of a sent call's media, in order.
	FileIDs []string `json:"file_ids,omitempty"`
	// NotModified: an edit found the message already so; nothing changed.
	NotModified bool `json:"not_modified,omitempty"`
	// AlreadyGone: a delete found the message already deleted.
	AlreadyGone bool `json:"already_gone,omitempty"`
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st, err := s.cfg.Client.Status(r.Context(), id)
	if errors.Is(err, client.ErrNotFound) {
		// The client looks in the message queues; a callback answer waits
		// in a queue of its own.
		st, err = s.callbackStatus(r.Context(), id)
	}
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
	if err := s.describeCall(r.Context(), st, &out); err != nil {
		s.serverError(w, r, "message status", err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// callbackStatus reports on a task of the callbacks queue, as
// client.Status does for the others.
func (s *Server) callbackStatus(ctx context.Context, id string) (*client.Status, error) {
	info, err := s.tasks.GetTaskInfo(tasks.QueueCallbacks, id)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return s.cfg.Client.Status(ctx, id) // the sent marker may tell, or ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("%w: %w", client.ErrUnavailable, err)
	}
	return &client.Status{
		ID: info.ID, Queue: info.Queue, Type: info.Type, State: client.State(info.State.String()),
		Attempts: info.Retried, MaxRetry: info.MaxRetry, LastError: info.LastErr, LastFailedAt: info.LastFailedAt,
		NextProcessAt: info.NextProcessAt, CompletedAt: info.CompletedAt,
	}, nil
}

// describeCall adds what a call's task says to out: its method, bot and
// chat from the payload, and its tasks.CallResult (from the task, or from
// the sent marker once the task is gone). Tasks of sendMessage are left
// as the client reported them.
func (s *Server) describeCall(ctx context.Context, st *client.Status, out *messageStatus) error {
	var payload, result []byte
	if m, ok := tasks.MethodByType(st.Type); ok && m.Type != tasks.TypeSendMessage && st.Queue != "" {
		info, err := s.tasks.GetTaskInfo(st.Queue, st.ID)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		case err != nil:
			return err
		default:
			payload, result = info.Payload, info.Result
		}
	}
	if len(result) == 0 && (payload != nil || st.Queue == "") {
		b, err := s.rdb.Get(ctx, keys.Sent(st.ID)).Bytes()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		result = b
	}
	if payload != nil {
		// Decoded leniently: a payload that no longer validates is still
		// worth showing.
		var c tasks.Call
		if json.Unmarshal(payload, &c) == nil {
			out.Method, out.Bot = c.Method, c.BotName()
			var p struct {
				ChatID json.RawMessage `json:"chat_id"`
			}
			if json.Unmarshal(c.Params, &p) == nil && len(p.ChatID) > 0 {
				out.ChatID = p.ChatID
			}
		}
	}
	var res tasks.CallResult
	if len(result) == 0 || json.Unmarshal(result, &res) != nil || res.Method == "" {
		return nil // not a call's result: a message's, or none yet
	}
	out.Method = res.Method
	out.MessageIDs, out.FileIDs = res.MessageIDs, res.FileIDs
	out.NotModified, out.AlreadyGone = res.NotModified, res.AlreadyGone
	out.MessageID, out.SentChatID = 0, 0
	if len(res.MessageIDs) == 1 {
		out.MessageID = res.MessageIDs[0]
	}
	if raw, ok := out.ChatID.(json.RawMessage); res.ChatID != 0 && (!ok || string(raw) != strconv.FormatInt(res.ChatID, 10)) {
		out.SentChatID = res.ChatID
	}
	return nil
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
