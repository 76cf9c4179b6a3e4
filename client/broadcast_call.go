package client

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/telequeue/telequeue/tasks"
)

// BroadcastCall is [Client.Broadcast] for any send-type method: a photo, a
// document, an album, a copyMessage of a channel post... params is a
// pointer to its telego parameters (as for [Client.Call]) without a chat:
// each recipient's id takes chat_id's place. A file in params (e.g.
// tu.File(f)) is stored once for the whole broadcast and uploaded to
// Telegram once: every later recipient gets it by the file_id Telegram
// answered. Options: those of Broadcast, and [Bot].
//
// Errors: as for Broadcast, with the [*tasks.ValidationError] naming the
// parameter, and a [*FileTooLargeError] for a file over its limit.
func (c *Client) BroadcastCall(ctx context.Context, params any, chatIDs []int64, opts ...Option) (*BroadcastReceipt, error) {
	m, v, err := methodOfParams(params)
	if err != nil {
		return nil, err
	}
	s, err := callBroadcastSettings(m, opts)
	if err != nil {
		return nil, err
	}
	data, attached, err := encodeParams(v)
	if err != nil {
		return nil, err
	}
	if data, err = withoutChat(data); err != nil {
		return nil, err
	}
	return c.broadcastCall(ctx, s, &tasks.Call{Version: tasks.CallVersion, Bot: s.bot, Method: m.Name, Params: data}, attached, chatIDs)
}

// BroadcastCallJSON is [Client.BroadcastCall] for callers that have the
// method's parameters in JSON, as the Bot API takes them, without chat_id
// (an HTTP API). A file goes by file_id, URL or "attach://<name>" naming
// one of files, stored once and held by the broadcast as by BroadcastCall.
// A [File.Stored] (from [Client.PutFile], held by an id of the caller's)
// is held by the broadcast too; the caller releases its own hold with
// [Client.ReleaseFiles] once BroadcastCallJSON returns, whatever it returns.
func (c *Client) BroadcastCallJSON(ctx context.Context, method string, params json.RawMessage, files map[string]File, chatIDs []int64, opts ...Option) (*BroadcastReceipt, error) {
	m, ok := tasks.MethodByName(method)
	if !ok {
		return nil, &tasks.ValidationError{Field: "method", Err: tasks.ErrUnknownMethod,
			Detail: fmt.Sprintf("%q: see tasks.Methods for the methods telequeue queues", method)}
	}
	s, err := callBroadcastSettings(m, opts)
	if err != nil {
		return nil, err
	}
	return c.broadcastCall(ctx, s, &tasks.Call{Version: tasks.CallVersion, Bot: s.bot, Method: m.Name, Params: params}, attachedIn(params, files), chatIDs)
}

// callBroadcastSettings applies the options of a broadcast of m.
func callBroadcastSettings(m *tasks.Method, opts []Option) (*settings, error) {
	s := &settings{call: callBroadcast, method: m, lanes: DefaultBroadcastParallelism, ttl: DefaultBroadcastTTL}
	now := time.Now()
	if err := s.apply(now, opts); err != nil {
		return nil, err
	}
	if !s.processAt.IsZero() && !s.processAt.Before(now.Add(s.ttl)) {
		return nil, &OptionError{Option: s.when, Err: fmt.Errorf("the start %s is after the broadcast would expire (BroadcastTTL %v)",
			s.processAt.UTC().Format(time.RFC3339), s.ttl)}
	}
	return s, nil
}

// broadcastCall validates call, stores attached (held by the broadcast)
// and the broadcast.
func (c *Client) broadcastCall(ctx context.Context, s *settings, call *tasks.Call, attached []attachment, chatIDs []int64) (*BroadcastReceipt, error) {
	probe := *call
	if len(attached) > 0 {
		probe.Uploads = make(map[string]tasks.Upload, len(attached))
		for _, a := range attached {
			probe.Uploads[a.name] = placeholder
		}
	}
	if err := tasks.ValidateBroadcastCall(&probe); err != nil {
		return nil, uploadField(err, attached)
	}
	store, err := c.uploadStore(s)
	if err != nil {
		return nil, err
	}
	// The files are held by the broadcast: the worker that settles its
	// last recipient releases them.
	body := func(id string) ([]byte, func(), error) {
		ups, err := c.putFiles(ctx, store, id, attached)
		if err != nil {
			return nil, nil, err
		}
		if stored := storedOf(attached); len(stored) > 0 {
			if err := store.Hold(ctx, id, slicesOf(stored)...); err != nil {
				c.releaseFiles(ctx, store, id, ups)
				return nil, nil, fmt.Errorf("client: hold stored files: %w", unavailable(err))
			}
			maps.Copy(ups, stored)
		}
		undo := func() { c.releaseFiles(ctx, store, id, ups) }
		if len(ups) > 0 {
			call.Uploads = ups
		}
		b, err := json.Marshal(call)
		if err != nil {
			undo()
			return nil, nil, fmt.Errorf("client: encode call: %w", err)
		}
		return b, undo, nil
	}
	return c.broadcast(ctx, s, call.BotName(), chatIDs, body)
}

// storedOf returns the attachments stored already, by attach name.
func storedOf(attached []attachment) map[string]tasks.Upload {
	out := map[string]tasks.Upload{}
	for _, a := range attached {
		if a.file.Stored != nil {
			out[a.name] = *a.file.Stored
		}
	}
	return out
}

// withoutChat drops a zero chat_id (telego marshals an unset ChatID as "")
// from params; a set one stays, and validation refuses it.
func withoutChat(params json.RawMessage) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(params, &obj); err != nil {
		return nil, fmt.Errorf("client: parameters: %w", err)
	}
	switch string(obj["chat_id"]) {
	case `""`, "0", "null":
		delete(obj, "chat_id")
	}
	return json.Marshal(obj)
}
