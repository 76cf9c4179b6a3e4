package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"mime"
	"path"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
	"github.com/mymmrac/telego/telegoapi"

	"github.com/telequeue/telequeue/internal/coalesce"
	"github.com/telequeue/telequeue/internal/files"
	"github.com/telequeue/telequeue/tasks"
)

// FileTooLargeError reports a file [Client.Call] or [Client.CallJSON] would
// upload that is larger than its field takes: Telegram's limit for the field
// (10 MB for a photo or thumbnail, 50 MB otherwise) or
// [Config.UploadMaxBytes], whichever is smaller. Nothing was stored or queued. errors.Is(err,
// [tasks.ErrFileTooLarge]) is true.
type FileTooLargeError struct {
	// Field is the parameter, e.g. "photo" or "media[2].media".
	Field string
	// Limit is the largest size the field takes, in bytes.
	Limit int64
	// Read is how many bytes were read before giving up: Limit+1, a lower
	// bound of the file's size.
	Read int64
}

func (e *FileTooLargeError) Error() string {
	return fmt.Sprintf("client: %s: file is too large: more than %d bytes", e.Field, e.Limit)
}

// Is reports whether target is [tasks.ErrFileTooLarge].
func (e *FileTooLargeError) Is(target error) bool { return target == tasks.ErrFileTooLarge }

// Bot names the bot that makes a call of [Client.Call] or of a typed method
// ([Client.SendPhoto], ...); default "default". The name is checked like a
// message's [tasks.SendMessage.Bot] (see [Config.Bots]). Messages name their
// bot in tasks.SendMessage.Bot instead: SendMessage, SendReply, SendBatch
// and Broadcast refuse this option.
func Bot(name string) Option {
	return option{"Bot", func(s *settings) error {
		if s.call != callMethod && (s.call != callBroadcast || s.method == nil) {
			return errors.New("applies to Call, the typed methods and BroadcastCall; a message names its bot in tasks.SendMessage.Bot")
		}
		s.bot = name
		return nil
	}}
}

// Call validates a Bot API call and queues it for a worker to make: one
// task of the method's type (see [tasks.Methods]). params is a pointer to
// the telego parameter struct of the method, e.g. &telego.SendPhotoParams{}
// or &telego.EditMessageTextParams{}, built as for telego itself (its
// telegoutil helpers such as tu.File, tu.FileFromID and tu.MediaGroup
// work). It returns once the task is stored in Redis; the result that the
// worker stores ([tasks.CallResult]) is read with [Client.Status].
//
// A file given as a reader (telego.InputFile.File), at the top level or in
// an InputMedia of "media" (an album item, editMessageMedia's media, and
// their thumbnails), is read and stored in Redis once per content, shared by
// every task that sends it, and the task carries a reference. A file over
// its field's limit is a [*FileTooLargeError]; a file_id or URL is passed as
// is.
//
// answerCallbackQuery waits in the callbacks queue ([tasks.QueueCallbacks])
// and takes no [Priority]; it and sendChatAction are dropped unsent when
// late ([tasks.Method.Deadline]; a [Deadline] option can make that earlier)
// and cannot be scheduled. [Ordered] applies to sendMessage only, whose
// parameters are queued as by [Client.SendMessage]. [Bot] names the bot.
//
// Errors are as for [Client.SendMessage]: an invalid call is refused with a
// [*tasks.ValidationError] naming the field (e.g. "caption", "media[1].type")
// and nothing is stored or queued.
func (c *Client) Call(ctx context.Context, params any, opts ...Option) (*Receipt, error) {
	m, v, err := methodOfParams(params)
	if err != nil {
		return nil, err
	}
	s, err := c.callSettings(m, opts)
	if err != nil {
		return nil, err
	}
	data, attached, err := encodeParams(v)
	if err != nil {
		return nil, err
	}
	call := &tasks.Call{Bot: s.bot, Method: m.Name, Params: data}
	if m.Name == "sendMessage" && s.replyTo == nil && s.target == nil && !tasks.RepliesByRef(data) {
		msg, err := call.SendMessage()
		if err != nil {
			return nil, err
		}
		return c.SendMessage(ctx, msg, withoutBot(opts)...)
	}
	return c.enqueueCall(ctx, call, attached, s)
}

// methodOfParams returns the method whose telego parameters params points
// to, and the struct.
func methodOfParams(params any) (*tasks.Method, reflect.Value, error) {
	m, ok := tasks.MethodOf(params)
	if !ok {
		return nil, reflect.Value{}, &tasks.ValidationError{Field: "method", Err: tasks.ErrUnknownMethod,
			Detail: fmt.Sprintf("%T is not the telego parameters of a method telequeue queues (see tasks.Methods)", params)}
	}
	v := reflect.ValueOf(params)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return nil, reflect.Value{}, fmt.Errorf("client: %s: want a non-nil pointer to its telego parameters, got %T", m.Name, params)
	}
	return m, v.Elem(), nil
}

// callSettings applies opts to a call of m.
func (c *Client) callSettings(m *tasks.Method, opts []Option) (*settings, error) {
	s := c.newSettings(callMethod)
	s.method = m
	if m.Kind == tasks.KindCallback {
		s.queue = tasks.QueueCallbacks
	}
	if err := s.apply(time.Now(), opts); err != nil {
		return nil, err
	}
	if m.Deadline() > 0 && !s.processAt.IsZero() {
		return nil, &OptionError{Option: s.when, Err: fmt.Errorf("%s is worthless %v after it is queued: it cannot be scheduled", m.Name, m.Deadline())}
	}
	return &s, nil
}

// withoutBot returns opts without Bot options (applied already).
func withoutBot(opts []Option) []Option {
	out := make([]Option, 0, len(opts))
	for _, o := range opts {
		if oo, ok := o.(option); ok && oo.name == "Bot" {
			continue
		}
		out = append(out, o)
	}
	return out
}

// attachment is a file of a call to upload.
type attachment struct {
	field string // the parameter, e.g. "photo" or "media[1].thumbnail"
	name  string // its attach name in Call.Uploads
	file  File
	limit int64 // Telegram's limit for the field
}

// attachmentOf is the attachment of a telego file.
func attachmentOf(field, name string, r telegoapi.NamedReader, limit int64) attachment {
	return attachment{field: field, name: name, file: File{Reader: r, Name: path.Base(r.Name())}, limit: limit}
}

// placeholder stands for an upload while the call is validated before
// anything is stored: a valid reference of 1 byte.
var placeholder = tasks.Upload{SHA256: strings.Repeat("0", 64), Size: 1}

// enqueueCall validates call (with its attachments not yet stored), claims
// the idempotency key, stores the attachments held by the task, and enqueues
// the task. Whatever fails after a step undoes it.
func (c *Client) enqueueCall(ctx context.Context, call *tasks.Call, attached []attachment, s *settings) (*Receipt, error) {
	id := s.idOf()
	params, err := withMessageRefs(call.Params, s)
	if err != nil {
		return nil, err
	}
	call.Params = params
	// Validate first, so that an invalid call stores nothing.
	probe := *call
	stored := map[string]tasks.Upload{} // the files stored already
	if len(attached) > 0 {
		probe.Uploads = make(map[string]tasks.Upload, len(attached))
		for _, a := range attached {
			u := placeholder
			u.Name = a.file.Name
			if a.file.Stored != nil {
				u = *a.file.Stored
				stored[a.name] = u
			}
			probe.Uploads[a.name] = u
		}
	}
	if err := probe.Validate(); err != nil {
		return nil, uploadField(err, attached)
	}
	if s.ordered && probe.Chat() == (telego.ChatID{}) {
		return nil, &OptionError{Option: "Ordered", Err: errors.New("an ordered call names its chat_id (the order is per chat)")}
	}
	if err := c.checkBot(ctx, call.BotName()); err != nil {
		return nil, err
	}
	store, err := c.uploadStore(s)
	if err != nil {
		return nil, err
	}
	p := &prepared{id: id, s: *s}
	if s.key != "" {
		if err := c.claimKey(ctx, p); err != nil {
			return nil, err
		}
	}
	ups, err := c.putFiles(ctx, store, id, attached)
	if err != nil {
		c.releaseKey(context.WithoutCancel(ctx), p)
		return nil, err
	}
	undo := func() {
		c.releaseKey(context.WithoutCancel(ctx), p)
		c.releaseFiles(ctx, store, id, ups)
	}
	if len(stored) > 0 && !s.processAt.IsZero() {
		// Keep the stored files for as long as the scheduled task waits.
		if err := store.Hold(ctx, id, slicesOf(stored)...); err != nil {
			undo()
			return nil, fmt.Errorf("client: hold stored files: %w", unavailable(err))
		}
	}
	if len(ups)+len(stored) > 0 {
		call.Uploads = make(map[string]tasks.Upload, len(ups)+len(stored))
		maps.Copy(call.Uploads, stored)
		maps.Copy(call.Uploads, ups)
	}
	task, err := tasks.NewCallTask(call, c.taskOptions(s, id)...)
	if err != nil {
		undo()
		return nil, uploadField(err, attached)
	}
	if s.ordered && tasks.OrderedType(task.Type()) == task.Type() {
		undo()
		return nil, &OptionError{Option: "Ordered", Err: fmt.Errorf("%s tasks have no ordered variant (a reply to a queued message waits for that message instead)", task.Type())}
	}
	p.task = withCallType(c.callHeaders(task, s, id), s, c.taskOptions(s, id))
	p.bot, p.chat = call.BotName(), call.Chat().String()
	if err := c.enqueueTask(ctx, p); err != nil {
		if !c.enqueuedAnyway(ctx, p, err) {
			c.releaseFiles(ctx, store, id, ups)
			return nil, fmt.Errorf("client: enqueue: %w", unavailable(err))
		}
	}
	if !s.everyEdit {
		// The newest edit of its message: older pending ones are
		// superseded. After the enqueue, so that a failed one supersedes
		// nothing. A failure costs only older edits sent too.
		if err := coalesce.Register(ctx, c.rdb, call, id); err != nil {
			c.log.WarnContext(ctx, "could not record the newest edit of its message; older pending edits are sent too", "task_id", id, "error", err)
		}
	}
	if c.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []any{"task_id", id, "queue", s.queue, "bot", call.BotName(), "method", call.Method, "uploads", len(call.Uploads)}
		if !s.processAt.IsZero() {
			attrs = append(attrs, "scheduled_at", s.processAt)
		}
		c.log.DebugContext(ctx, "call queued", attrs...)
	}
	return &Receipt{ID: id, Queue: s.queue, ScheduledAt: s.processAt, Type: p.task.Type()}, nil
}

// uploadField renames a validation error's field "uploads.<name>" to the
// parameter that holds the file.
func uploadField(err error, attached []attachment) error {
	var ve *tasks.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	name, ok := strings.CutPrefix(ve.Field, "uploads.")
	if !ok {
		return err
	}
	for _, a := range attached {
		if a.name == name && a.field != ve.Field {
			return &tasks.ValidationError{Field: a.field, Err: ve.Err, Detail: "telequeue does not upload a file here: pass a file_id or a URL"}
		}
	}
	return err
}

// callHeaders adds the client's deadline (keeping the method's own if
// earlier) and idempotency key to a call's task.
func (c *Client) callHeaders(t *asynq.Task, s *settings, id string) *asynq.Task {
	opts := c.taskOptions(s, id)
	if !s.deadline.IsZero() {
		t = tasks.WithDeadline(t, s.deadline, opts...)
	}
	if s.key == "" {
		return t
	}
	headers := maps.Clone(t.Headers())
	if headers == nil {
		headers = map[string]string{}
	}
	headers[tasks.HeaderIdempotencyKey] = s.key
	return asynq.NewTaskWithHeaders(t.Type(), t.Payload(), headers, append(tasks.DefaultOptions(t.Type(), 0), opts...)...)
}

// uploadStore returns the upload store for a call queued with s: uploads
// live for at least files.DefaultRetention, and for as long as a scheduled
// task waits plus the task retention.
func (c *Client) uploadStore(s *settings) (*files.Store, error) {
	retention := files.DefaultRetention
	if !s.processAt.IsZero() {
		retention = max(retention, time.Until(s.processAt)+c.cfg.Retention)
	}
	store, err := files.NewStore(c.rdb, files.Config{MaxBytes: c.cfg.UploadMaxBytes, Retention: retention})
	if err != nil {
		return nil, fmt.Errorf("client: upload store: %w", err)
	}
	return store, nil
}

// putFiles stores the attachments that are not stored already, held by
// the task id; on failure it releases those it stored.
func (c *Client) putFiles(ctx context.Context, store *files.Store, id string, attached []attachment) (map[string]tasks.Upload, error) {
	ups := make(map[string]tasks.Upload, len(attached))
	for _, a := range attached {
		if a.file.Stored != nil {
			continue
		}
		u, err := putFile(ctx, store, id, a)
		if err != nil {
			c.releaseFiles(ctx, store, id, ups)
			return nil, err
		}
		ups[a.name] = u
	}
	return ups, nil
}

// putFile stores one attachment held by id, within its limit and
// Config.UploadMaxBytes.
func putFile(ctx context.Context, store *files.Store, id string, a attachment) (tasks.Upload, error) {
	ctype := a.file.ContentType
	if ctype == "" {
		ctype = mime.TypeByExtension(path.Ext(a.file.Name))
	}
	u, err := store.Put(ctx, id, a.file.Reader, a.file.Name, ctype, a.limit)
	var tl *files.TooLargeError
	switch {
	case err == nil:
		return u, nil
	case errors.As(err, &tl):
		return u, &FileTooLargeError{Field: a.field, Limit: tl.Limit, Read: tl.Size}
	case errors.Is(err, files.ErrEmpty):
		return u, &tasks.ValidationError{Field: a.field, Err: tasks.ErrInvalidFile, Detail: "the file is empty (or its reader was read already)"}
	}
	return u, fmt.Errorf("client: upload %s: %w", a.field, unavailable(err))
}

// PutFile stores one file of a call in the upload store, held by the task
// id id, for a caller that reads the call's files before it has the whole
// call (an HTTP server reading a multipart body part by part; see
// [Client.CallJSON]): pass the result as [File.Stored] to CallJSON with
// [TaskID](id). a is the parameter that attaches the file (from
// [Attachments], or the method's file parameter named as in
// [FileParams]); the file may have at most a.Limit bytes and
// [Config.UploadMaxBytes]: more is a [*FileTooLargeError] naming a.Field,
// and an empty file a [*tasks.ValidationError]. Neither stores anything.
// Connection failures wrap [ErrUnavailable]. The caller releases what it
// stored with [Client.ReleaseFiles] if it does not call CallJSON.
func (c *Client) PutFile(ctx context.Context, id string, a Attachment, f File) (tasks.Upload, error) {
	if err := checkTaskID(id); err != nil {
		return tasks.Upload{}, &OptionError{Option: "TaskID", Err: err}
	}
	if f.Reader == nil {
		return tasks.Upload{}, &tasks.ValidationError{Field: a.Field, Err: tasks.ErrInvalidFile, Detail: "no reader"}
	}
	if a.Limit <= 0 {
		a.Limit = tasks.MaxFileBytes
	}
	store, err := c.uploadStore(&settings{})
	if err != nil {
		return tasks.Upload{}, err
	}
	return putFile(ctx, store, id, attachment{field: a.Field, file: f, limit: a.Limit})
}

// ReleaseFiles lets go of files [Client.PutFile] stored for task id when
// the caller does not pass them to [Client.CallJSON] after all (which
// releases them itself when it queues nothing). A failure is logged: the
// files then expire with the store's retention.
func (c *Client) ReleaseFiles(ctx context.Context, id string, ups map[string]tasks.Upload) {
	if len(ups) == 0 || id == "" {
		return
	}
	store, err := c.uploadStore(&settings{})
	if err != nil {
		c.log.WarnContext(ctx, "could not release uploads; they expire with their retention", "task_id", id, "error", err)
		return
	}
	c.releaseFiles(ctx, store, id, ups)
}

// UploadMaxBytes returns [Config.UploadMaxBytes] in effect (its default
// applied): the largest file the client stores, whatever the field.
func (c *Client) UploadMaxBytes() int64 { return c.cfg.UploadMaxBytes }

// releaseFiles lets go of uploads that no task will send.
func (c *Client) releaseFiles(ctx context.Context, store *files.Store, id string, ups map[string]tasks.Upload) {
	if len(ups) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := store.Release(ctx, id, slicesOf(ups)...); err != nil {
		c.log.WarnContext(ctx, "could not release uploads of a call that was not queued; they expire with their retention", "task_id", id, "error", err)
	}
}

func slicesOf(ups map[string]tasks.Upload) []tasks.Upload {
	out := make([]tasks.Upload, 0, len(ups))
	for _, u := range ups {
		out = append(out, u)
	}
	return out
}

var (
	inputFileType    = reflect.TypeFor[telego.InputFile]()
	inputFilePtrType = reflect.TypeFor[*telego.InputFile]()
	inputMediaType   = reflect.TypeFor[telego.InputMedia]()
)

// encodeParams returns the JSON of a telego parameter struct v with every
// file given as a reader replaced by "attach://<name>", and those files.
// telego itself writes such a file as "" (it names parts only while it
// builds a multipart request).
func encodeParams(v reflect.Value) (json.RawMessage, []attachment, error) {
	var attached []attachment
	set := map[string]json.RawMessage{} // top-level JSON values to replace
	var media []map[string]json.RawMessage
	single := false
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		jname := jsonName(f)
		if jname == "" {
			continue
		}
		fv := v.Field(i)
		switch {
		case f.Type == inputFileType || f.Type == inputFilePtrType:
			a, err := fileOf(fv, jname, jname, jname == "photo" || jname == "thumbnail", f.Type == inputFileType)
			if err != nil {
				return nil, nil, err
			}
			if a != nil {
				attached = append(attached, *a)
				set[jname] = attachRef(a.name)
			}
		case jname == "media" && f.Type == inputMediaType:
			single = true
			media = make([]map[string]json.RawMessage, 1)
			if fv.IsNil() {
				continue
			}
			as, err := mediaFiles(fv.Elem(), "media", "media")
			if err != nil {
				return nil, nil, err
			}
			media[0] = refs(as, "media")
			attached = append(attached, as...)
		case jname == "media" && f.Type.Kind() == reflect.Slice && f.Type.Elem() == inputMediaType:
			media = make([]map[string]json.RawMessage, fv.Len())
			for j := range fv.Len() {
				item := fv.Index(j)
				if item.IsNil() {
					continue
				}
				field := fmt.Sprintf("media[%d]", j)
				as, err := mediaFiles(item.Elem(), field, "media"+strconv.Itoa(j))
				if err != nil {
					return nil, nil, err
				}
				media[j] = refs(as, field)
				attached = append(attached, as...)
			}
		}
	}
	data, err := json.Marshal(v.Addr().Interface())
	if err != nil {
		return nil, nil, fmt.Errorf("client: encode parameters: %w", err)
	}
	if len(set) == 0 && !hasRefs(media) {
		return data, attached, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, nil, fmt.Errorf("client: encode parameters: %w", err)
	}
	maps.Copy(obj, set)
	if hasRefs(media) {
		if obj["media"], err = withRefs(obj["media"], media, single); err != nil {
			return nil, nil, err
		}
	}
	data, err = json.Marshal(obj)
	if err != nil {
		return nil, nil, fmt.Errorf("client: encode parameters: %w", err)
	}
	return data, attached, nil
}

// jsonName is a struct field's JSON name ("" if it has none).
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// fileOf returns the attachment of a telego.InputFile or *telego.InputFile
// value fv when it holds a reader, nil when it holds a file_id or URL or is
// a nil pointer. A required InputFile that holds nothing is a
// *tasks.ValidationError.
func fileOf(fv reflect.Value, field, name string, photo, required bool) (*attachment, error) {
	var f telego.InputFile
	switch {
	case fv.Type() == inputFilePtrType && fv.IsNil():
		return nil, nil
	case fv.Type() == inputFilePtrType:
		f = *fv.Interface().(*telego.InputFile)
	default:
		f = fv.Interface().(telego.InputFile)
	}
	hasFile := f.File != nil && !(reflect.ValueOf(f.File).Kind() == reflect.Pointer && reflect.ValueOf(f.File).IsNil())
	switch {
	case f.FileID != "" || f.URL != "":
		return nil, nil
	case !hasFile && required:
		return nil, &tasks.ValidationError{Field: field, Err: tasks.ErrMissingField, Detail: "want a file_id, a URL or a file to upload"}
	case !hasFile:
		return nil, &tasks.ValidationError{Field: field, Err: tasks.ErrInvalidFile, Detail: "an empty InputFile: want a file_id, a URL or a file to upload"}
	}
	a := attachmentOf(field, name, f.File, fileLimit(photo))
	return &a, nil
}

// mediaFiles returns the files of an InputMedia object (a pointer to a
// telego.InputMediaPhoto, ...) to upload: its media, thumbnail, cover.
func mediaFiles(item reflect.Value, field, name string) ([]attachment, error) {
	if item.Kind() == reflect.Pointer {
		if item.IsNil() {
			return nil, nil
		}
		item = item.Elem()
	}
	if item.Kind() != reflect.Struct {
		return nil, nil
	}
	photo := item.Type() == reflect.TypeFor[telego.InputMediaPhoto]()
	var out []attachment
	for i := range item.NumField() {
		f := item.Type().Field(i)
		jname := jsonName(f)
		if jname == "" || (f.Type != inputFileType && f.Type != inputFilePtrType) {
			continue
		}
		aname := name
		if jname != "media" {
			aname += "_" + jname
		}
		a, err := fileOf(item.Field(i), field+"."+jname, aname, mediaPhoto(jname, photo), f.Type == inputFileType)
		if err != nil {
			return nil, err
		}
		if a != nil {
			out = append(out, *a)
		}
	}
	return out, nil
}

// refs maps the JSON keys of an InputMedia object to the attach:// values
// of its attachments as.
func refs(as []attachment, field string) map[string]json.RawMessage {
	if len(as) == 0 {
		return nil
	}
	out := make(map[string]json.RawMessage, len(as))
	for _, a := range as {
		out[strings.TrimPrefix(a.field, field+".")] = attachRef(a.name)
	}
	return out
}

func attachRef(name string) json.RawMessage {
	b, _ := json.Marshal("attach://" + name)
	return b
}

func hasRefs(media []map[string]json.RawMessage) bool {
	for _, m := range media {
		if len(m) > 0 {
			return true
		}
	}
	return false
}

// withRefs sets the attach:// values of media (one per item) in the JSON
// of "media": one object if single, else an array.
func withRefs(raw json.RawMessage, media []map[string]json.RawMessage, single bool) (json.RawMessage, error) {
	var items []map[string]json.RawMessage
	if single {
		var it map[string]json.RawMessage
		if err := json.Unmarshal(raw, &it); err != nil {
			return nil, fmt.Errorf("client: encode media: %w", err)
		}
		items = []map[string]json.RawMessage{it}
	} else if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("client: encode media: %w", err)
	}
	if len(items) != len(media) {
		return nil, fmt.Errorf("client: encode media: %d items, %d expected", len(items), len(media))
	}
	for i, set := range media {
		maps.Copy(items[i], set)
	}
	if single {
		return json.Marshal(items[0])
	}
	return json.Marshal(items)
}
