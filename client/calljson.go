package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/telequeue/telequeue/tasks"
)

// File is a file to upload with [Client.CallJSON].
type File struct {
	// Reader gives the content; it is read up to the field's limit.
	Reader io.Reader
	// Name is the file name Telegram shows (e.g. of a document).
	Name string
	// ContentType is the MIME type; empty means the one of Name's
	// extension, if known.
	ContentType string
}

// CallJSON queues a call of method (its Bot API name, e.g. "sendPhoto")
// given as the Bot API takes it in JSON, for callers that have JSON rather
// than telego types (an HTTP API, a command line). A file parameter holds a
// file_id, an http(s) URL or "attach://<name>" naming one of files, which
// are uploaded as by [Client.Call] (stored once per content, held by the
// task, within the field's limit: a [*FileTooLargeError] otherwise). It
// takes the options of Call, and validates the same way: an invalid call,
// an unknown method, or a file no parameter attaches is a
// [*tasks.ValidationError] naming the field, and nothing is stored or
// queued.
func (c *Client) CallJSON(ctx context.Context, method string, params json.RawMessage, files map[string]File, opts ...Option) (*Receipt, error) {
	m, ok := tasks.MethodByName(method)
	if !ok {
		return nil, &tasks.ValidationError{Field: "method", Err: tasks.ErrUnknownMethod,
			Detail: fmt.Sprintf("%q: see tasks.Methods for the methods telequeue queues", method)}
	}
	s, err := c.callSettings(m, opts)
	if err != nil {
		return nil, err
	}
	call := &tasks.Call{Bot: s.bot, Method: m.Name, Params: params}
	if m.Name == "sendMessage" {
		if len(files) > 0 {
			return nil, &tasks.ValidationError{Field: "uploads", Err: tasks.ErrInvalidFile, Detail: "sendMessage takes no files"}
		}
		msg, err := call.SendMessage()
		if err != nil {
			return nil, err
		}
		return c.SendMessage(ctx, msg, withoutBot(opts)...)
	}
	attached := attachedIn(params, files)
	return c.enqueueCall(ctx, call, attached, s)
}

// attachedIn returns files as attachments, each named after the parameter
// of params that attaches it, with that field's limit. A file that no
// parameter attaches keeps its name as its field; validation refuses it.
func attachedIn(params json.RawMessage, files map[string]File) []attachment {
	if len(files) == 0 {
		return nil
	}
	fields := attachFields(params)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]attachment, 0, len(files))
	for _, name := range names {
		f := files[name]
		limit := int64(tasks.MaxFileBytes)
		field, ok := fields[name]
		if !ok {
			field = attachField{name: "uploads." + name}
		}
		if field.photo {
			limit = tasks.MaxPhotoBytes
		}
		out = append(out, attachment{field: field.name, name: name, file: f, limit: limit})
	}
	return out
}

// attachField is the parameter that attaches a file.
type attachField struct {
	name  string // e.g. "photo", "media[1].media"
	photo bool   // Telegram's photo limit applies
}

// attachFields maps attach names to the parameters of params that name
// them: top-level strings "attach://<name>" and those of "media" (one
// InputMedia object or an array of them). Malformed JSON maps nothing (and
// fails validation).
func attachFields(params json.RawMessage) map[string]attachField {
	var obj map[string]json.RawMessage
	if json.Unmarshal(params, &obj) != nil {
		return nil
	}
	out := map[string]attachField{}
	for key, v := range obj {
		if name, ok := attachName(v); ok {
			out[name] = attachField{name: key, photo: key == "photo" || key == "thumbnail"}
		}
	}
	var items []map[string]json.RawMessage
	var item map[string]json.RawMessage
	switch {
	case json.Unmarshal(obj["media"], &items) == nil:
	case json.Unmarshal(obj["media"], &item) == nil:
		items = []map[string]json.RawMessage{item}
	}
	for i, it := range items {
		var typ string
		_ = json.Unmarshal(it["type"], &typ)
		prefix := fmt.Sprintf("media[%d]", i)
		if item != nil {
			prefix = "media"
		}
		for key, v := range it {
			if name, ok := attachName(v); ok {
				out[name] = attachField{name: prefix + "." + key, photo: key == "thumbnail" || (key == "media" && typ == "photo")}
			}
		}
	}
	return out
}

// attachName returns <name> of a JSON string "attach://<name>".
func attachName(v json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return strings.CutPrefix(s, "attach://")
}
