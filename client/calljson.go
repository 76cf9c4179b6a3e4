package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
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
	// Stored, when set, is a file in the upload store already, held by the
	// call's task id ([Client.PutFile] with the id given as [TaskID]);
	// Reader, Name and ContentType are then ignored. CallJSON sends it as
	// is, and releases it if the call is not queued.
	Stored *tasks.Upload
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
//
// A caller that must store files before it has the whole call (an HTTP
// server streaming a multipart body) picks the task id first
// ([NewTaskID]), stores each file with [Client.PutFile] under it, and
// passes them as [File.Stored] with the [TaskID] option. When the call is
// not queued, for whatever reason, CallJSON releases them.
func (c *Client) CallJSON(ctx context.Context, method string, params json.RawMessage, files map[string]File, opts ...Option) (*Receipt, error) {
	r, err := c.callJSON(ctx, method, params, files, opts)
	if err != nil {
		if id := taskIDIn(opts); id != "" {
			c.ReleaseFiles(ctx, id, storedIn(files))
		}
		return nil, err
	}
	return r, nil
}

func (c *Client) callJSON(ctx context.Context, method string, params json.RawMessage, files map[string]File, opts []Option) (*Receipt, error) {
	m, ok := tasks.MethodByName(method)
	if !ok {
		return nil, &tasks.ValidationError{Field: "method", Err: tasks.ErrUnknownMethod,
			Detail: fmt.Sprintf("%q: see tasks.Methods for the methods telequeue queues", method)}
	}
	s, err := c.callSettings(m, opts)
	if err != nil {
		return nil, err
	}
	if len(storedIn(files)) > 0 && s.taskID == "" {
		return nil, &OptionError{Option: "TaskID", Err: errors.New("a stored file (File.Stored) needs the task id that holds it")}
	}
	call := &tasks.Call{Bot: s.bot, Method: m.Name, Params: params}
	if m.Name == "sendMessage" && s.replyTo == nil && s.target == nil && !tasks.RepliesByRef(params) {
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

// taskIDIn returns the id of the last TaskID option of opts ("" if none).
func taskIDIn(opts []Option) string {
	var id string
	for _, o := range opts {
		if t, ok := o.(taskIDOption); ok && checkTaskID(string(t)) == nil {
			id = string(t)
		}
	}
	return id
}

// storedIn returns the stored files of files, by attach name.
func storedIn(files map[string]File) map[string]tasks.Upload {
	var out map[string]tasks.Upload
	for name, f := range files {
		if f.Stored != nil {
			if out == nil {
				out = map[string]tasks.Upload{}
			}
			out[name] = *f.Stored
		}
	}
	return out
}

// attachedIn returns files as attachments, each named after the parameter
// of params that attaches it, with that field's limit. A file that no
// parameter attaches keeps its name as its field; validation refuses it.
func attachedIn(params json.RawMessage, files map[string]File) []attachment {
	if len(files) == 0 {
		return nil
	}
	fields := Attachments(params)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]attachment, 0, len(files))
	for _, name := range names {
		a, ok := fields[name]
		if !ok {
			a = unattached(name)
		}
		out = append(out, attachment{field: a.Field, name: name, file: files[name], limit: a.Limit})
	}
	return out
}

// Attachment is the parameter of a call that attaches a file by name.
type Attachment struct {
	// Field is the parameter, as validation names it: "photo",
	// "media[1].media", "media.thumbnail"; "uploads.<name>" for a file no
	// parameter attaches (validation refuses it).
	Field string
	// Limit is Telegram's limit for the field: [tasks.MaxPhotoBytes] for a
	// photo, a thumbnail or a cover, [tasks.MaxFileBytes] otherwise.
	// [Client.PutFile] also applies [Config.UploadMaxBytes].
	Limit int64
}

// unattached is the Attachment of a file named name that no parameter
// attaches.
func unattached(name string) Attachment {
	return Attachment{Field: "uploads." + name, Limit: tasks.MaxFileBytes}
}

// Attachments maps the attach names that params (a call's parameters, a
// JSON object) give with "attach://<name>" to the parameters that give
// them: top-level ones and the media, thumbnail and cover of the InputMedia
// of "media" (one object or an array of them). What does not parse maps
// nothing (validation names it later).
func Attachments(params json.RawMessage) map[string]Attachment {
	var obj map[string]json.RawMessage
	if json.Unmarshal(params, &obj) != nil {
		return map[string]Attachment{}
	}
	out := map[string]Attachment{}
	for key, v := range obj {
		if name, ok := attachName(v); ok {
			out[name] = Attachment{Field: key, Limit: fileLimit(key == "photo" || key == "thumbnail")}
		}
	}
	var items []map[string]json.RawMessage
	var item map[string]json.RawMessage
	single := false
	switch {
	case json.Unmarshal(obj["media"], &items) == nil:
	case json.Unmarshal(obj["media"], &item) == nil:
		items, single = []map[string]json.RawMessage{item}, true
	}
	for i, it := range items {
		var typ string
		_ = json.Unmarshal(it["type"], &typ)
		prefix := fmt.Sprintf("media[%d]", i)
		if single {
			prefix = "media"
		}
		for _, key := range mediaFileKeys {
			if name, ok := attachName(it[key]); ok {
				out[name] = Attachment{Field: prefix + "." + key, Limit: fileLimit(mediaPhoto(key, typ == "photo"))}
			}
		}
	}
	return out
}

// mediaFileKeys are the keys of an InputMedia object that take a file.
var mediaFileKeys = []string{"media", "thumbnail", "cover"}

// mediaPhoto reports whether Telegram's photo limit applies to key of an
// InputMedia object: its media when it is a photo, its thumbnail and its
// cover (images) always.
func mediaPhoto(key string, photoItem bool) bool {
	return key != "media" || photoItem
}

// fileLimit is Telegram's limit for a file: a photo's, or any other's.
func fileLimit(photo bool) int64 {
	if photo {
		return tasks.MaxPhotoBytes
	}
	return tasks.MaxFileBytes
}

// FileParams returns the top-level parameters of method (its Bot API name)
// that take a file: its [tasks.Method.FileFields] and "thumbnail" where it
// has one; nil for a method telequeue does not queue. An HTTP form part or
// a command-line value may name a file by such a parameter.
func FileParams(method string) []string {
	m, ok := tasks.MethodByName(method)
	if !ok {
		return nil
	}
	out := m.FileFields()
	if slices.Contains(m.Fields(), "thumbnail") && !slices.Contains(out, "thumbnail") {
		out = append(out, "thumbnail")
	}
	return out
}

// attachName returns <name> of a JSON string "attach://<name>".
func attachName(v json.RawMessage) (string, bool) {
	var s string
	if len(v) == 0 || json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return strings.CutPrefix(s, "attach://")
}
