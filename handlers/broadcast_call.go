package handlers

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/ratelimit"
	"github.com/telequeue/telequeue/tasks"
)

// A broadcast sends a message, or a call of any send-type method (see
// tasks.ValidateBroadcastCall), to each recipient. These are the two places
// where the two differ: the limiter key and the request. Classification,
// settling and the rest of the chunk's run are shared.

// key is the limiter key of the broadcast's send to chat.
func (r *chunkRun) key(chat telego.ChatID) (ratelimit.Key, error) {
	if r.call == nil {
		return limitKey(r.botName, r.msg, chat), nil
	}
	return callLimitKey(r.botName, r.call, chat), nil
}

// deliver sends the broadcast's message or call to chat. sendErr is the Bot
// API's answer, for classify; err ends the run (a payload that cannot be
// built, an upload that cannot be read).
func (r *chunkRun) deliver(ctx context.Context, chat telego.ChatID) (sendErr, err error) {
	if r.call == nil {
		params, err := r.msg.Params(chat)
		if err != nil {
			return nil, fmt.Errorf("%w: %w: %w", ErrInvalidPayload, err, asynq.SkipRetry)
		}
		_, sendErr = r.bot.SendMessage(ctx, params)
		return sendErr, nil
	}
	c, err := r.call.RecipientCall(chat)
	if err != nil {
		return nil, fmt.Errorf("%w: %w: %w", ErrInvalidPayload, err, asynq.SkipRetry)
	}
	// The request is built as for a single call: an upload goes once, and
	// by the file_id Telegram gave it to every later recipient.
	calls := uploader{uploads: r.h.uploads, log: r.log}
	body, err := calls.request(ctx, r.botName, c, chat)
	if err != nil {
		return nil, err
	}
	raw, sendErr := r.bot.(MethodCaller).CallMethod(ctx, c.Method, body)
	if sendErr == nil {
		calls.rememberFileIDs(ctx, r.botName, c, raw)
	}
	return sendErr, nil
}

// releaseUploads frees the uploads of a broadcast of a call once every
// recipient is settled (the broadcast id is their holder). A chunk that
// finishes while others still run leaves them; the last one releases them,
// and their retention bounds them if that check is missed.
func (r *chunkRun) releaseUploads(ctx context.Context) {
	if r.call == nil || len(r.call.Uploads) == 0 || r.h.uploads == nil {
		return
	}
	info, err := r.h.store.Info(ctx, r.id)
	if err != nil || info.Pending() > 0 {
		return
	}
	ups := make([]tasks.Upload, 0, len(r.call.Uploads))
	for _, u := range r.call.Uploads {
		ups = append(ups, u)
	}
	tctx, cancel := tidyContext(ctx)
	defer cancel()
	if err := r.h.uploads.Release(tctx, r.id, ups...); err != nil {
		r.log.WarnContext(ctx, "could not release the broadcast's uploads; they expire with their retention", "error", err)
	}
}

// awaitUploads waits, before the recipient's limiter slot, until the
// broadcast's uploads have a file_id or this sender holds the claim to
// upload them (see uploader.awaitUploads); release ends the claim once
// the file_id is stored.
func (r *chunkRun) awaitUploads(ctx context.Context) (release func(), err error) {
	if r.call == nil {
		return func() {}, nil
	}
	return uploader{uploads: r.h.uploads, log: r.log}.awaitUploads(ctx, r.botName, r.call)
}
