package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/tasks"
)

// MaxReplyBodyBytes is the largest body POST /v1/replies accepts: room for
// tasks.MaxParts parts of 4096 characters with markup.
const MaxReplyBodyBytes = 1 << 20

// Replies is what POST /v1/replies needs; *client.Client implements it. The
// API serves the endpoint when [Config.Client] implements Replies too;
// otherwise it answers 404.
type Replies interface {
	SendReply(ctx context.Context, chat telego.ChatID, parts []*tasks.SendMessage, opts ...client.Option) (*client.Receipt, error)
}

var _ Replies = (*client.Client)(nil)

func (s *Server) replyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/replies", s.postReply)
	mux.Handle("/v1/replies", methodNotAllowed("POST"))
}

// replyReceipt is the 202 body of POST /v1/replies.
type replyReceipt struct {
	ID          string    `json:"id"`
	Queue       string    `json:"queue"`
	Parts       int       `json:"parts"`
	ScheduledAt time.Time `json:"scheduled_at,omitzero"`
}

// replyFields are the fields a body with "parts" may have besides the
// request options: every message field goes into the parts.
var replyFields = map[string]bool{"parts": true, "bot": true, "chat_id": true}

// postReply queues a multi-part reply as one task (client.SendReply). The
// body is either the reply's bot, chat_id and "parts", each a sendMessage
// object without chat_id, or one message whose long text is split at
// paragraph, line and word boundaries (tasks.SplitMessage). Request options
// and the Idempotency-Key header are those of POST /v1/messages.
func (s *Server) postReply(w http.ResponseWriter, r *http.Request) {
	replies, ok := s.cfg.Client.(Replies)
	if !ok {
		writeError(w, http.StatusNotFound, apiError{Code: CodeNotFound, Message: "replies are not available on this server"})
		return
	}
	s.serveQueue(w, r, queueRequest{
		limit: MaxReplyBodyBytes, what: "message", location: "/v1/messages/", options: messageOptions,
		queue: func(ctx context.Context, fields requestBody, _ map[string]client.File, opts []client.Option) (string, any, error) {
			chat, parts, apiErr := parseReply(fields)
			if apiErr != nil {
				return "", nil, apiErr
			}
			receipt, err := replies.SendReply(ctx, chat, parts, opts...)
			if err != nil {
				return "", nil, err
			}
			return receipt.ID, replyReceipt{ID: receipt.ID, Queue: receipt.Queue, Parts: len(parts), ScheduledAt: receipt.ScheduledAt}, nil
		},
	})
}

// parseReply reads the reply's chat and parts from the body's fields (the
// request options already taken out).
func parseReply(fields requestBody) (telego.ChatID, []*tasks.SendMessage, *apiError) {
	var none telego.ChatID
	rest, apiErr := fields.marshal()
	if apiErr != nil {
		return none, nil, apiErr
	}
	if _, ok := fields["parts"]; ok {
		var extra []string
		for k := range fields {
			if !replyFields[k] {
				extra = append(extra, k)
			}
		}
		if len(extra) > 0 {
			sort.Strings(extra)
			return none, nil, &apiError{Code: CodeInvalidField, Field: extra[0],
				Message: fmt.Sprintf("%s: with parts, message fields go into each part", extra[0])}
		}
		reply, err := tasks.ParseSendMessages(rest)
		if err != nil {
			return none, nil, payloadError(err)
		}
		parts := make([]*tasks.SendMessage, len(reply.Parts))
		for i := range reply.Parts {
			parts[i] = &reply.Parts[i]
		}
		return reply.ChatID, parts, nil
	}
	m, err := tasks.DecodeSendMessage(rest)
	if err != nil {
		return none, nil, payloadError(err)
	}
	parts, err := tasks.SplitMessage(m, 0)
	if err != nil {
		var ve *tasks.ValidationError
		if !errors.As(err, &ve) {
			err = &tasks.ValidationError{Field: "text", Err: tasks.ErrCannotSplit, Detail: err.Error()}
		}
		return none, nil, payloadError(err)
	}
	return m.ChatID, parts, nil
}
