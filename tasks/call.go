package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
)

// CallVersion is the [Call] payload version this build writes and the newest
// it reads.
const CallVersion = 1

// Sentinel errors of method calls, wrapped by [*ValidationError].
var (
	ErrUnknownMethod = errors.New("unknown method")
	ErrUnknownField  = errors.New("not a parameter of this method")
	ErrMissingField  = errors.New("required parameter is missing")
	ErrInvalidFile   = errors.New("invalid file")
	ErrFileTooLarge  = errors.New("file is too large")
)

// Call is the payload of a task of any method in [Methods] but sendMessage
// (whose payload is [SendMessage]): the method's Bot API parameters, as
// Telegram takes them in JSON, plus telequeue's own fields.
type Call struct {
	// Version of the payload format; 0 is read as 1. Set by [NewCallTask].
	Version int `json:"v,omitempty"`
	// Bot names the bot that calls the method ("default" when empty).
	Bot string `json:"bot,omitempty"`
	// Method is the Bot API method, e.g. "sendPhoto".
	Method string `json:"method"`
	// Params is the JSON object of the method's parameters. A file field
	// (e.g. "photo", or "media" inside an album item) holds a file_id, an
	// http(s) URL, or "attach://<name>" naming one of Uploads.
	Params json.RawMessage `json:"params"`
	// Uploads are the files Params attaches, by attach name.
	Uploads map[string]Upload `json:"uploads,omitempty"`

	m        *Method
	chat     telego.ChatID
	inline   string // inline_message_id of an edit without a chat
	cost     int
	ref      *Ref // the message_task_id reference, if any
	replyRef *Ref // reply_parameters.message_task_id, if any
}

// BotName returns the bot that makes the call, "default" when unset.
func (c *Call) BotName() string {
	if c.Bot == "" {
		return DefaultBot
	}
	return c.Bot
}

// MethodInfo returns the table entry of the call's method (valid calls only).
func (c *Call) MethodInfo() *Method { return c.m }

// Chat returns the chat the call addresses; the zero ChatID for
// answerCallbackQuery and for edits of inline messages.
func (c *Call) Chat() telego.ChatID { return c.chat }

// InlineMessageID returns the inline_message_id of an edit of an inline
// message ("" otherwise).
func (c *Call) InlineMessageID() string { return c.inline }

// IsGroup reports whether the chat is a group, supergroup or channel.
func (c *Call) IsGroup() bool { return c.chat.ID < 0 || c.chat.Username != "" }

// Cost is how many messages the call counts as against Telegram's limits:
// the items of an album, the messages copied or forwarded, else 1.
func (c *Call) Cost() int { return max(c.cost, 1) }

// Paid reports whether the call asks for a paid broadcast.
func (c *Call) Paid() bool {
	var p struct {
		Paid bool `json:"allow_paid_broadcast"`
	}
	return c.m != nil && c.m.Paid && json.Unmarshal(c.Params, &p) == nil && p.Paid
}

// Validate checks the call as the Bot API would, naming the offending
// field: the method is known, every parameter is one of the method's and of
// the right type, required ones are present, files are file_ids, URLs or
// attached uploads within Telegram's limits, and the method's own rules
// (caption length, album size, ids in increasing order, ...) hold. It returns
// a [*ValidationError].
func (c *Call) Validate() error {
	if c.Version < 0 || c.Version > CallVersion {
		return invalid("v", ErrUnsupportedVersion, "version %d, this build reads up to %d", c.Version, CallVersion)
	}
	if c.Bot != "" && !ValidBotName(c.Bot) {
		return invalid("bot", ErrInvalidBot, "%q: use 1-64 letters, digits, '_' or '-'", c.Bot)
	}
	m := method(c.Method)
	if m == nil {
		return invalid("method", ErrUnknownMethod, "%q: see tasks.Methods for the methods telequeue queues", c.Method)
	}
	if m.Name == "sendMessage" && !RepliesByRef(c.Params) {
		// sendMessage has its own payload and task type, but for a
		// reply to a queued message (TypeSendMessageRef).
		_, err := c.SendMessage()
		return err
	}
	p, err := readParams(m, c.Params, c.Uploads)
	if err != nil {
		return err
	}
	c.m, c.chat, c.inline, c.cost, c.ref, c.replyRef = m, p.chat, p.inline, p.cost, p.ref, p.replyRef
	return nil
}

// SendMessage converts a sendMessage call into its own payload, validated.
func (c *Call) SendMessage() (*SendMessage, error) {
	if c.Method != "sendMessage" {
		return nil, invalid("method", ErrUnknownMethod, "%q is not sendMessage", c.Method)
	}
	if len(c.Uploads) > 0 {
		return nil, invalid("uploads", ErrInvalidFile, "sendMessage takes no files")
	}
	var m SendMessage
	if err := decodeStrict(c.Params, &m); err != nil {
		return nil, err
	}
	if m.Version != 0 || m.Bot != "" {
		return nil, invalid("params", ErrUnknownField, "v and bot are not sendMessage parameters")
	}
	m.Bot = c.Bot
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// ParseCall decodes and validates a [Call] payload.
func ParseCall(data []byte) (*Call, error) {
	var c Call
	if err := decodeStrict(data, &c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// NewCallTask validates c and returns its task: a [TypeSendMessage] task
// for sendMessage, else a task of the method's type with the method's
// defaults (see [DefaultOptions]); opts override them.
func NewCallTask(c *Call, opts ...asynq.Option) (*asynq.Task, error) {
	if c.Method == "sendMessage" && !RepliesByRef(c.Params) {
		m, err := c.SendMessage()
		if err != nil {
			return nil, err
		}
		return NewSendMessageTask(m, opts...)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p := *c
	p.Version = CallVersion
	typ := c.m.Type
	if typ == TypeSendMessage {
		typ = TypeSendMessageRef
	}
	t, err := newTask(typ, &p, DefaultOptions(typ, 0), opts)
	if err != nil || c.m.Deadline() == 0 {
		return t, err
	}
	// A callback answer or a chat action is worthless when late: the task
	// carries its deadline, after which a worker drops it unsent.
	return WithDeadline(t, time.Now().Add(c.m.Deadline()), opts...), nil
}

// WithDeadline returns t carrying deadline in its [HeaderDeadline] header
// (the earlier one if t has one already), rebuilt with t's type's default
// options and opts. A worker drops the task unsent, as "dropped", once the
// deadline has passed.
func WithDeadline(t *asynq.Task, deadline time.Time, opts ...asynq.Option) *asynq.Task {
	headers := maps.Clone(t.Headers())
	if headers == nil {
		headers = map[string]string{}
	}
	if old, err := strconv.ParseInt(headers[HeaderDeadline], 10, 64); err == nil && old <= deadline.UnixMilli() {
		return t
	}
	headers[HeaderDeadline] = strconv.FormatInt(deadline.UnixMilli(), 10)
	return asynq.NewTaskWithHeaders(t.Type(), t.Payload(), headers, append(DefaultOptions(t.Type(), 0), opts...)...)
}

// params is a call's parameters while they are checked.
type params struct {
	m       *Method
	raw     map[string]json.RawMessage
	uploads map[string]Upload
	used    map[string]bool // attach names referenced

	chat     telego.ChatID
	inline   string
	cost     int
	ref      *Ref // message_task_id
	replyRef *Ref // reply_parameters.message_task_id
}

// readParams decodes and checks the parameters of a call of m.
func readParams(m *Method, data json.RawMessage, uploads map[string]Upload) (*params, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	p := &params{m: m, uploads: uploads, used: map[string]bool{}}
	if err := decodeStrict(data, &p.raw); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return nil, err
		}
		return nil, &ValidationError{Field: "params", Err: ErrMalformedPayload, Detail: strings.TrimPrefix(err.Error(), ErrMalformedPayload.Error()+": ")}
	}
	names := make([]string, 0, len(p.raw))
	for name := range p.raw {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f, ok := m.fields[name]
		switch {
		case name == FieldMessageTaskID || name == FieldMessageTaskPart:
			if err := p.checkRef(name); err != nil {
				return nil, err
			}
			continue
		case name == "allow_paid_broadcast" && !m.Paid:
			return nil, invalid(name, ErrInvalidField, "Telegram does not take paid broadcasts for %s", m.Name)
		case !ok:
			return nil, invalid(name, ErrUnknownField, "%s takes %s", m.Name, strings.Join(m.Fields(), ", "))
		case isNull(p.raw[name]):
			delete(p.raw, name)
			continue
		}
		if err := p.checkField(name, f); err != nil {
			return nil, err
		}
	}
	if p.ref != nil && p.ref.TaskID == "" {
		return nil, &ValidationError{Field: FieldMessageTaskID, Err: ErrMissingField, Detail: FieldMessageTaskPart + " needs it"}
	}
	for _, name := range m.Fields() {
		if p.ref != nil && refFills(m, name) {
			continue
		}
		if _, ok := p.raw[name]; !ok && m.fields[name].required {
			if name == "chat_id" {
				return nil, &ValidationError{Field: name, Err: ErrMissingChat}
			}
			return nil, &ValidationError{Field: name, Err: ErrMissingField, Detail: m.Name + " needs it"}
		}
	}
	if c, ok := p.raw["chat_id"]; ok {
		_ = json.Unmarshal(c, &p.chat) // checked by checkField
	}
	p.cost = 1
	if m.check != nil {
		if err := m.check(p); err != nil {
			return nil, err
		}
	}
	for name := range uploads {
		if !p.used[name] {
			return nil, invalid("uploads."+name, ErrInvalidFile, "no parameter attaches it (attach://%s)", name)
		}
	}
	return p, nil
}

func isNull(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }

// checkField checks one parameter's type, and its value where the Bot API
// defines more than a type.
func (p *params) checkField(name string, f field) error {
	v := p.raw[name]
	switch {
	case name == "chat_id" || name == "from_chat_id":
		var c telego.ChatID
		if err := json.Unmarshal(v, &c); err != nil {
			return invalid(name, ErrInvalidChat, "an integer id or an @username")
		}
		return validateChat(name, c)
	case name == "reply_parameters":
		var r telego.ReplyParameters
		if err := json.Unmarshal(v, &r); err != nil {
			return invalid(name, ErrInvalidField, "%v", typeError(err))
		}
		var ref struct {
			TaskID string `json:"message_task_id"`
			Part   int    `json:"message_task_part"`
		}
		_ = json.Unmarshal(v, &ref)
		if ref.TaskID != "" {
			if r.MessageID != 0 {
				return invalid("reply_parameters.message_task_id", ErrInvalidField, "set message_id or message_task_id, not both")
			}
			if !ValidTaskID(ref.TaskID) || ref.Part < 0 {
				return invalid("reply_parameters.message_task_id", ErrInvalidField, "%q is not a task id", truncate(ref.TaskID, 40))
			}
			p.replyRef = &Ref{TaskID: ref.TaskID, Part: ref.Part}
			r.MessageID = 1 // stands for the referenced message in the checks below
		}
		return validateReply(&r)
	case name == "reply_markup":
		markup, err := decodeMarkup(v)
		if err != nil {
			return err
		}
		if f.typ.Kind() != reflect.Interface {
			if _, ok := markup.(*telego.InlineKeyboardMarkup); !ok {
				return invalid(name, ErrInvalidReplyMarkup, "%s takes an inline keyboard only", p.m.Name)
			}
		}
		return nil
	case name == "message_id":
		var id int64
		if err := json.Unmarshal(v, &id); err != nil || id <= 0 || id > maxMessageID {
			return invalid(name, ErrInvalidField, "a message id is 1 to %d", maxMessageID)
		}
		return nil
	case name == "media":
		return p.checkMedia(v)
	case isFileType(f.typ):
		// A thumbnail is a JPEG under 200 kB; Telegram's photo limit
		// bounds it here.
		return p.checkFile(name, v, name == "photo" || name == "thumbnail")
	case f.typ.Kind() == reflect.Interface:
		return nil // only reply_markup and media are interfaces; checked above
	}
	target := reflect.New(f.typ)
	if err := json.Unmarshal(v, target.Interface()); err != nil {
		return invalid(name, ErrInvalidField, "%v", typeError(err))
	}
	return nil
}

// typeError shortens encoding/json's type errors.
func typeError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("want %s, got a JSON %s", te.Type, te.Value)
	}
	return err.Error()
}

// checkFile checks a file parameter: a file_id, an http(s) URL or
// attach://<name> of one of the call's uploads, within Telegram's limits.
func (p *params) checkFile(name string, v json.RawMessage, photo bool) error {
	var s string
	if err := json.Unmarshal(v, &s); err != nil || s == "" {
		return invalid(name, ErrInvalidFile, "want a file_id, an http(s) URL or attach://<name> of an upload")
	}
	if att, ok := strings.CutPrefix(s, "attach://"); ok {
		u, ok := p.uploads[att]
		if !ok {
			return invalid(name, ErrInvalidFile, "attach://%s names no upload", att)
		}
		if err := u.validate(name); err != nil {
			return err
		}
		if photo && u.Size > MaxPhotoBytes {
			return invalid(name, ErrFileTooLarge, "a photo of %d bytes; Telegram takes up to %d", u.Size, MaxPhotoBytes)
		}
		p.used[att] = true
		return nil
	}
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		if len(s) > 2048 {
			return invalid(name, ErrInvalidFile, "URL longer than 2048 bytes")
		}
		return nil
	}
	if strings.ContainsAny(s, " \t\r\n/:") || len(s) > 256 {
		return invalid(name, ErrInvalidFile, "%q is not a file_id, an http(s) URL or attach://<name>", truncate(s, 40))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// mediaItem is the part of an InputMedia object telequeue checks.
type mediaItem struct {
	Type            string                 `json:"type"`
	Media           json.RawMessage        `json:"media"`
	Thumbnail       json.RawMessage        `json:"thumbnail"`
	Cover           json.RawMessage        `json:"cover"`
	Caption         string                 `json:"caption"`
	ParseMode       string                 `json:"parse_mode"`
	CaptionEntities []telego.MessageEntity `json:"caption_entities"`
}

// checkMedia checks "media": an array of 2 to 10 album items for
// sendMediaGroup, one InputMedia object for editMessageMedia.
func (p *params) checkMedia(v json.RawMessage) error {
	if p.m.Name != "sendMediaGroup" {
		var it mediaItem
		if err := json.Unmarshal(v, &it); err != nil {
			return invalid("media", ErrInvalidField, "want an InputMedia object")
		}
		return p.checkMediaItem("media", it, mediaTypes)
	}
	var items []mediaItem
	if err := json.Unmarshal(v, &items); err != nil {
		return invalid("media", ErrInvalidField, "want an array of InputMedia objects")
	}
	if len(items) < 2 || len(items) > 10 {
		return invalid("media", ErrInvalidField, "an album has 2 to 10 items, not %d", len(items))
	}
	kinds := map[string]bool{}
	for i, it := range items {
		if err := p.checkMediaItem(fmt.Sprintf("media[%d]", i), it, albumTypes); err != nil {
			return err
		}
		kinds[it.Type] = true
	}
	// Audio and documents form albums of their own kind only; photos and
	// videos mix.
	if len(kinds) > 1 && (kinds["audio"] || kinds["document"]) {
		return invalid("media", ErrInvalidField, "audio and document albums take items of that one kind only")
	}
	return nil
}

var (
	mediaTypes = map[string]bool{"photo": true, "video": true, "animation": true, "audio": true, "document": true}
	albumTypes = map[string]bool{"photo": true, "video": true, "audio": true, "document": true}
)

func (p *params) checkMediaItem(field string, it mediaItem, types map[string]bool) error {
	if !types[it.Type] {
		return invalid(field+".type", ErrInvalidField, "%q: not a media type this method takes", it.Type)
	}
	if len(it.Media) == 0 {
		return &ValidationError{Field: field + ".media", Err: ErrMissingField}
	}
	if err := p.checkFile(field+".media", it.Media, it.Type == "photo"); err != nil {
		return err
	}
	if len(it.Thumbnail) > 0 && !isNull(it.Thumbnail) {
		if err := p.checkFile(field+".thumbnail", it.Thumbnail, true); err != nil {
			return err
		}
	}
	if len(it.Cover) > 0 && !isNull(it.Cover) {
		if err := p.checkFile(field+".cover", it.Cover, true); err != nil {
			return err
		}
	}
	f := formattedText{field + ".caption", field + ".parse_mode", field + ".caption_entities"}
	return validateCaption(f, it.Caption, it.ParseMode, it.CaptionEntities)
}

// MaxCaptionLength is the Bot API's limit on a media caption, after entity
// parsing.
const MaxCaptionLength = 1024

var captionFields = formattedText{"caption", "parse_mode", "caption_entities"}

// validateCaption checks an optional caption.
func validateCaption(f formattedText, caption, parseMode string, entities []telego.MessageEntity) error {
	if caption == "" {
		if len(entities) > 0 {
			return invalid(f.entities, ErrInvalidEntities, "entities without a caption")
		}
		return nil
	}
	return validateText(f, caption, parseMode, entities, MaxCaptionLength)
}

// decodeInto decodes the call's parameters into v (a struct with the
// fields a check needs); the fields were type-checked already.
func (p *params) decodeInto(v any) {
	obj := make(map[string]json.RawMessage, len(p.raw))
	for k, val := range p.raw {
		if k != "media" && k != "reply_markup" {
			obj[k] = val
		}
	}
	b, _ := json.Marshal(obj)
	_ = json.Unmarshal(b, v)
}

// HeaderNoCoalesce, set (to "1") on a task of a coalescing method, delivers
// it even when a newer call to the same target is queued: for an app that
// needs every intermediate edit.
const HeaderNoCoalesce = "no-coalesce"

// CoalesceKey names the target of a coalescing call (see
// [Method.Coalesces]): its bot, chat and message (or inline message) and
// the edited part, or its bot, chat and draft_id. Pending calls with the
// same key collapse to the newest. It is "" for other calls.
func (c *Call) CoalesceKey() string {
	if c.m == nil || !c.m.Coalesces() {
		return ""
	}
	var v struct {
		MessageID int64 `json:"message_id"`
		DraftID   int64 `json:"draft_id"`
	}
	_ = json.Unmarshal(c.Params, &v)
	target := c.chat.String()
	switch {
	case c.ref != nil:
		// The message is known once its task is sent: name it by the
		// task, as every edit of it does.
		target = "task:" + c.ref.TaskID + ":" + strconv.Itoa(c.ref.Part)
	case c.inline != "":
		target = "inline:" + c.inline
	case c.m.Kind == KindDraft:
		target += ":draft:" + strconv.FormatInt(v.DraftID, 10)
	default:
		target += ":" + strconv.FormatInt(v.MessageID, 10)
	}
	return c.BotName() + ":" + target + ":" + c.m.Name
}

// References to queued messages: a parameter that takes a message_id of the
// bot's own message (an edit's, a delete's, a pin's, the source of a copy
// or forward, reply_parameters) may name instead the task that sends it.
const (
	// FieldMessageTaskID names the task (its receipt id) that sends the
	// message, in place of message_id; chat_id (from_chat_id for a copy or
	// forward) may then be left out: it is the chat the message went to.
	FieldMessageTaskID = "message_task_id"
	// FieldMessageTaskPart picks the message of a multi-part reply or an
	// album (0 the first, the default).
	FieldMessageTaskPart = "message_task_part"
)

// Ref is a reference to a message a queued task sends.
type Ref struct {
	TaskID string
	Part   int
}

// Refs returns the call's references to queued messages: its own
// (message_task_id) and reply_parameters', either nil if absent.
func (c *Call) Refs() (ref, reply *Ref) { return c.ref, c.replyRef }

var taskIDRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

// ValidTaskID reports whether id can name a task.
func ValidTaskID(id string) bool { return taskIDRE.MatchString(id) }

// checkRef checks message_task_id and message_task_part.
func (p *params) checkRef(name string) error {
	_, hasID := p.m.fields["message_id"]
	if !hasID || p.m.Kind == KindCallback {
		return invalid(name, ErrUnknownField, "%s names no message", p.m.Name)
	}
	if p.ref == nil {
		p.ref = &Ref{}
	}
	v := p.raw[name]
	if name == FieldMessageTaskPart {
		if err := json.Unmarshal(v, &p.ref.Part); err != nil || p.ref.Part < 0 {
			return invalid(name, ErrInvalidField, "the index of a part, from 0")
		}
		return nil
	}
	if err := json.Unmarshal(v, &p.ref.TaskID); err != nil || !ValidTaskID(p.ref.TaskID) {
		return invalid(name, ErrInvalidField, "a task id, as a receipt gives it")
	}
	if _, ok := p.raw["message_id"]; ok {
		return invalid(name, ErrInvalidField, "set message_id or message_task_id, not both")
	}
	return nil
}

// refFills reports whether a reference fills the method's parameter name:
// message_id, and the chat it names (chat_id, or from_chat_id for a copy or
// a forward).
func refFills(m *Method, name string) bool {
	switch name {
	case "message_id":
		return true
	case "from_chat_id":
		return true
	case "chat_id":
		_, copies := m.fields["from_chat_id"]
		return !copies
	}
	return false
}

// RefTarget is a referenced message as its task's result names it.
type RefTarget struct {
	ChatID     int64
	MessageIDs []int64
}

// Resolve returns the call with its references replaced by the messages
// they name (targets by task id), validated again. A reference whose part
// does not exist is a [*ValidationError].
func (c *Call) Resolve(targets map[string]RefTarget) (*Call, error) {
	var params map[string]json.RawMessage
	if err := json.Unmarshal(c.Params, &params); err != nil {
		return nil, err
	}
	pick := func(field string, r *Ref) (RefTarget, int64, error) {
		t, ok := targets[r.TaskID]
		if !ok || r.Part >= len(t.MessageIDs) {
			return t, 0, invalid(field, ErrInvalidField, "task %s sent %d message(s): no part %d", r.TaskID, len(t.MessageIDs), r.Part)
		}
		return t, t.MessageIDs[r.Part], nil
	}
	if r := c.ref; r != nil {
		t, id, err := pick(FieldMessageTaskID, r)
		if err != nil {
			return nil, err
		}
		delete(params, FieldMessageTaskID)
		delete(params, FieldMessageTaskPart)
		params["message_id"], _ = json.Marshal(id)
		chatField := "chat_id"
		if _, copies := c.m.fields["from_chat_id"]; copies {
			chatField = "from_chat_id"
		}
		if _, ok := params[chatField]; !ok {
			params[chatField], _ = json.Marshal(t.ChatID)
		}
	}
	if r := c.replyRef; r != nil {
		var rp map[string]json.RawMessage
		if err := json.Unmarshal(params["reply_parameters"], &rp); err != nil {
			return nil, err
		}
		t, id, err := pick("reply_parameters.message_task_id", r)
		if err != nil {
			return nil, err
		}
		delete(rp, FieldMessageTaskID)
		delete(rp, FieldMessageTaskPart)
		rp["message_id"], _ = json.Marshal(id)
		var chat telego.ChatID
		_ = json.Unmarshal(params["chat_id"], &chat)
		if _, ok := rp["chat_id"]; !ok && chat.ID != t.ChatID {
			rp["chat_id"], _ = json.Marshal(t.ChatID)
		}
		params["reply_parameters"], _ = json.Marshal(rp)
	}
	out := *c
	var err error
	if out.Params, err = json.Marshal(params); err != nil {
		return nil, err
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return &out, nil
}

// TypeSendMessageRef is the task type of a sendMessage whose
// reply_parameters name a queued message by its task
// (message_task_id): a [Call] payload, run by the handler of every method
// once that message is sent. Other sendMessage calls are [TypeSendMessage]
// tasks.
const TypeSendMessageRef = "telegram:send_message:ref"

// RepliesByRef reports whether params' reply_parameters name a queued
// message by its task (a sendMessage that is then queued as a
// [TypeSendMessageRef] call).
func RepliesByRef(params json.RawMessage) bool {
	var p struct {
		Reply *struct {
			TaskID string `json:"message_task_id"`
		} `json:"reply_parameters"`
	}
	return json.Unmarshal(params, &p) == nil && p.Reply != nil && p.Reply.TaskID != ""
}
