package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	Broadcast(ctx context.Context, m *tasks.SendMessage, chatIDs []int64, opts ...client.Option) (*client.BroadcastReceipt, error)
	BroadcastCallJSON(ctx context.Context, method string, params json.RawMessage, files map[string]client.File, chatIDs []int64, opts ...client.Option) (*client.BroadcastReceipt, error)
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

// broadcastFields are telequeue's own fields of a broadcast's form, taken
// out before the rest goes to Telegram; chat_ids and parallelism are JSON.
var broadcastFields = map[string]bool{"method": false, "bot": false, "chat_ids": true, "parallelism": true, "send_at": false, "send_in": false}

// broadcastForm is how POST /v1/broadcasts reads a multipart/form-data
// body: the fields of the JSON body, with the files of the method (as for
// POST /v1/methods/{method}) after its "method" field.
var broadcastForm = formSpec{
	method: func(values map[string]string) (*tasks.Method, error) {
		name, ok := values["method"]
		if !ok {
			return nil, invalidField("method", "is required in a form, before its files: e.g. method=sendPhoto")
		}
		m, ok := tasks.MethodByName(name)
		if !ok {
			return nil, invalidField("method", "%q: telequeue queues %s", name, methodNames())
		}
		return m, nil
	},
	own:      broadcastFields,
	validate: tasks.ValidateBroadcastCall,
	limit:    MaxBroadcastBodyBytes,
}

// postBroadcast queues one message, or a call of a send-type method, for
// many chats (client.Broadcast, client.BroadcastCallJSON). The body is JSON,
// or multipart/form-data whose files are stored once and held by the
// broadcast.
func (s *Server) postBroadcast(w http.ResponseWriter, r *http.Request, b Broadcasts) {
	s.serveQueue(w, r, queueRequest{
		limit: MaxBroadcastBodyBytes, what: "broadcast", location: "/v1/broadcasts/", options: broadcastOptions,
		form: &broadcastForm,
		queue: func(ctx context.Context, fields requestBody, files map[string]client.File, opts []client.Option) (string, any, error) {
			var ids []int64
			set, err := fields.take("chat_ids", &ids)
			if !set {
				return "", nil, invalidField("chat_ids", "is required: an array of integer chat ids")
			}
			if err != nil {
				return "", nil, invalidField("chat_ids", "must be an array of integer chat ids")
			}
			var method, bot string
			if _, err := fields.take("method", &method); err != nil {
				return "", nil, invalidField("method", "must be a Bot API method name, e.g. sendPhoto")
			}
			if method != "" && method != "sendMessage" {
				// Any send-type method: the rest is its parameters.
				if _, err := fields.take("bot", &bot); err != nil {
					return "", nil, invalidField("bot", "must be a string")
				}
				if bot != "" {
					opts = append(opts, client.Bot(bot))
				}
				params, apiErr := fields.marshal()
				if apiErr != nil {
					return "", nil, apiErr
				}
				receipt, err := b.BroadcastCallJSON(ctx, method, params, files, ids, opts...)
				if err != nil {
					return "", nil, err
				}
				return receipt.ID, toBroadcastReceipt(receipt), nil
			}
			if len(files) > 0 {
				return "", nil, invalidField("method", "sendMessage takes no files: name the method that sends them, e.g. sendPhoto")
			}
			rest, apiErr := fields.marshal()
			if apiErr != nil {
				return "", nil, apiErr
			}
			// Decoded strictly so that errors name the field.
			msg, err := tasks.ParseBroadcastMessage(rest)
			if err != nil {
				return "", nil, payloadError(err)
			}
			receipt, err := b.Broadcast(ctx, msg, ids, opts...)
			if err != nil {
				return "", nil, err
			}
			return receipt.ID, toBroadcastReceipt(receipt), nil
		},
	})
}

func toBroadcastReceipt(r *client.BroadcastReceipt) broadcastReceipt {
	return broadcastReceipt{
		ID: r.ID, Total: r.Total, Duplicates: r.Duplicates, Chunks: r.Chunks,
		Parallelism: r.Parallelism, Queue: r.Queue, ScheduledAt: r.ScheduledAt,
	}
}

// broadcastOptions takes the request options of a broadcast: send_at or
// send_in, and parallelism. The client checks their values.
func broadcastOptions(fields requestBody) ([]client.Option, *apiError) {
	opts, apiErr := fields.takeSchedule()
	if apiErr != nil {
		return nil, apiErr
	}
	var n int
	if set, err := fields.take("parallelism", &n); set {
		if err != nil {
			return nil, invalidField("parallelism", "must be an integer from 1 to %d", tasks.MaxBroadcastParallelism)
		}
		opts = append(opts, client.BroadcastParallelism(n))
	}
	return opts, nil
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
