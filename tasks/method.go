package tasks

import (
	"reflect"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/mymmrac/telego"
)

// Kind sorts Bot API methods by how Telegram limits them and how telequeue
// runs them.
type Kind int

// Kinds of methods.
const (
	// KindSend creates messages: it counts against the bot's budget, the
	// chat's and the group's, once per message it creates.
	KindSend Kind = iota + 1
	// KindChange edits, deletes or pins messages: it counts against the
	// chat's and the group's budgets only (Telegram counts edits per chat).
	KindChange
	// KindChatAction is sendChatAction: limited like a change, and dropped,
	// not retried, once older than its deadline ([ChatActionDeadline]).
	KindChatAction
	// KindDraft is sendMessageDraft: a partial message streamed while an
	// answer is generated. Limited like a change, coalesced (only the
	// newest draft of a draft_id is sent) and dropped once older than
	// [DraftDeadline].
	KindDraft
	// KindCallback is answerCallbackQuery: never limited, served first on
	// its own queue ([QueueCallbacks]), dropped once older than its deadline
	// ([CallbackDeadline]).
	KindCallback
)

func (k Kind) String() string {
	switch k {
	case KindSend:
		return "send"
	case KindChange:
		return "change"
	case KindChatAction:
		return "chat_action"
	case KindDraft:
		return "draft"
	case KindCallback:
		return "callback"
	}
	return "unknown"
}

// QueueCallbacks is the queue of callback answers: a lane of its own that
// workers serve with their own senders, so that an answer never waits
// behind other work.
const QueueCallbacks = "callbacks"

// Deadlines of the methods whose answer is worthless when late. A task still
// unsent at its deadline is dropped with the reason recorded (outcome
// "stale"), not retried.
const (
	// CallbackDeadline: Telegram's client shows a progress bar until the
	// answer comes, and a query expires within seconds; at most 15 s.
	CallbackDeadline = 10 * time.Second
	// ChatActionDeadline: a late "typing…" is worse than none.
	ChatActionDeadline = 5 * time.Second
	// DraftDeadline: a draft is overtaken by the next one or the final
	// message within seconds.
	DraftDeadline = 10 * time.Second
)

// Method describes one Bot API method telequeue queues. The table of them
// ([Methods]) is the one place a method is added: its name, its kind, the
// telego parameter type that lists its fields (which are required, which
// are files), and its own checks; decoding, validation, limits, the call and
// the recording of its outcome are shared by all.
type Method struct {
	// Name is the Bot API's name, e.g. "sendPhoto".
	Name string
	// Type is the task type, e.g. "telegram:send_photo". Never renamed:
	// queued tasks carry it.
	Type string
	// Kind says how Telegram limits it.
	Kind Kind
	// Paid reports whether Telegram takes allow_paid_broadcast.
	Paid bool

	params reflect.Type     // telego's parameter struct
	fields map[string]field // by JSON name
	files  []string         // top-level InputFile fields, in struct order
	check  func(p *params) error
}

// field is one parameter of a method, read from its telego struct.
type field struct {
	typ      reflect.Type
	required bool
}

// methodTable lists every method telequeue queues besides sendMessage
// (which has its own typed payload, [SendMessage], and is reached through
// the table as well: see [MethodByName]).
func methodTable() []*Method {
	send := func(name string, p any, check func(*params) error) *Method {
		return newMethod(name, KindSend, p, true, check)
	}
	change := func(name string, p any, check func(*params) error) *Method {
		return newMethod(name, KindChange, p, false, check)
	}
	return []*Method{
		newMethod("sendMessage", KindSend, telego.SendMessageParams{}, true, checkText),
		send("sendPhoto", telego.SendPhotoParams{}, checkCaption),
		send("sendVideo", telego.SendVideoParams{}, checkCaption),
		send("sendAnimation", telego.SendAnimationParams{}, checkCaption),
		send("sendAudio", telego.SendAudioParams{}, checkCaption),
		send("sendDocument", telego.SendDocumentParams{}, checkCaption),
		send("sendVoice", telego.SendVoiceParams{}, checkCaption),
		send("sendVideoNote", telego.SendVideoNoteParams{}, nil),
		send("sendSticker", telego.SendStickerParams{}, nil),
		send("sendMediaGroup", telego.SendMediaGroupParams{}, checkAlbum),
		send("sendLocation", telego.SendLocationParams{}, checkLocation),
		send("sendVenue", telego.SendVenueParams{}, checkVenue),
		send("sendContact", telego.SendContactParams{}, checkContact),
		send("sendPoll", telego.SendPollParams{}, checkPoll),
		send("sendDice", telego.SendDiceParams{}, checkDice),
		send("copyMessage", telego.CopyMessageParams{}, checkCopy),
		newMethod("copyMessages", KindSend, telego.CopyMessagesParams{}, false, checkMessageIDs),
		newMethod("forwardMessage", KindSend, telego.ForwardMessageParams{}, false, checkSource),
		newMethod("forwardMessages", KindSend, telego.ForwardMessagesParams{}, false, checkMessageIDs),
		change("editMessageText", telego.EditMessageTextParams{}, checkEditText),
		change("editMessageCaption", telego.EditMessageCaptionParams{}, checkEditCaption),
		change("editMessageMedia", telego.EditMessageMediaParams{}, checkEditMedia),
		change("editMessageReplyMarkup", telego.EditMessageReplyMarkupParams{}, checkEditTarget),
		change("deleteMessage", telego.DeleteMessageParams{}, checkMessageID),
		change("deleteMessages", telego.DeleteMessagesParams{}, checkMessageIDs),
		change("pinChatMessage", telego.PinChatMessageParams{}, checkMessageID),
		change("unpinChatMessage", telego.UnpinChatMessageParams{}, checkOptionalMessageID),
		newMethod("answerCallbackQuery", KindCallback, telego.AnswerCallbackQueryParams{}, false, checkCallback),
		newMethod("sendChatAction", KindChatAction, telego.SendChatActionParams{}, false, checkChatAction),
		newMethod("sendMessageDraft", KindDraft, telego.SendMessageDraftParams{}, false, checkDraft),
	}
}

// Methods returns every method telequeue queues, sorted by name. Each is a
// copy: changing it changes nothing else.
func Methods() []*Method {
	out := make([]*Method, 0, len(methodsByName.list))
	for _, m := range methodsByName.list {
		c := *m
		out = append(out, &c)
	}
	return out
}

// MethodByName returns (a copy of) the method the Bot API calls name, e.g.
// "sendPhoto".
func MethodByName(name string) (*Method, bool) {
	return copyOf(methodsByName.byName[name])
}

// MethodByType returns (a copy of) the method of a task type, e.g.
// "telegram:send_photo".
func MethodByType(typ string) (*Method, bool) {
	return copyOf(methodsByName.byType[typ])
}

// MethodNameOf returns the Bot API name of the method of a task type
// (e.g. "sendPhoto"), without copying its entry: for a worker's hot path.
func MethodNameOf(typ string) (string, bool) {
	m := methodsByName.byType[typ]
	if m == nil {
		return "", false
	}
	return m.Name, true
}

func copyOf(m *Method) (*Method, bool) {
	if m == nil {
		return nil, false
	}
	c := *m
	return &c, true
}

// MethodOf returns (a copy of) the method whose telego parameter struct params
// is (or points to), e.g. the sendPhoto method for a *telego.SendPhotoParams.
func MethodOf(params any) (*Method, bool) {
	t := reflect.TypeOf(params)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return copyOf(methodsByName.byParams[t])
}

// method returns the table's own entry (for the package's use only).
func method(name string) *Method { return methodsByName.byName[name] }

// methodIndex is built once from methodTable and never changed.
type methodIndex struct {
	list     []*Method
	byName   map[string]*Method
	byType   map[string]*Method
	byParams map[reflect.Type]*Method
}

var methodsByName = func() methodIndex {
	idx := methodIndex{byName: map[string]*Method{}, byType: map[string]*Method{}, byParams: map[reflect.Type]*Method{}}
	for _, m := range methodTable() {
		idx.list = append(idx.list, m)
		idx.byName[m.Name] = m
		idx.byType[m.Type] = m
		if m.Type != TypeSendMessage {
			idx.byType[m.Type+orderedSuffix] = m
		} else {
			idx.byType[TypeSendMessageRef] = m
		}
		idx.byParams[m.params] = m
	}
	sort.Slice(idx.list, func(i, j int) bool { return idx.list[i].Name < idx.list[j].Name })
	return idx
}()

var inputFileType = reflect.TypeOf(telego.InputFile{})

// isFileType reports whether a parameter of type t takes a file: a
// telego.InputFile, or a pointer to one (an optional thumbnail or cover).
func isFileType(t reflect.Type) bool {
	return t == inputFileType || (t.Kind() == reflect.Pointer && t.Elem() == inputFileType)
}

// newMethod reads a method's fields from its telego parameter struct p: a
// field without omitempty or omitzero is required, one of type
// telego.InputFile takes a file.
func newMethod(name string, kind Kind, p any, paid bool, check func(*params) error) *Method {
	m := &Method{Name: name, Type: typeName(name), Kind: kind, Paid: paid, params: reflect.TypeOf(p), fields: map[string]field{}, check: check}
	if name == "sendMessage" {
		m.Type = TypeSendMessage
	}
	t := reflect.TypeOf(p)
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		jname, opts, _ := strings.Cut(tag, ",")
		if jname == "" || jname == "-" {
			continue
		}
		required := !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero")
		m.fields[jname] = field{typ: f.Type, required: required}
		if isFileType(f.Type) {
			m.files = append(m.files, jname)
		}
	}
	return m
}

// typeName turns a Bot API method name into a task type:
// "sendPhoto" → "telegram:send_photo".
func typeName(method string) string {
	var b strings.Builder
	b.WriteString("telegram:")
	for i, r := range method {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Fields returns the JSON names of the method's parameters, sorted.
func (m *Method) Fields() []string {
	out := make([]string, 0, len(m.fields))
	for name := range m.fields {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Required reports whether the method's parameter name must be set.
func (m *Method) Required(name string) bool { return m.fields[name].required }

// FileFields returns the top-level parameters that take a file (a file_id,
// a URL or an upload), e.g. ["photo"] for sendPhoto. Files inside "media"
// (albums, editMessageMedia) are not listed.
func (m *Method) FileFields() []string { return append([]string(nil), m.files...) }

// TakesMedia reports whether the method has a "media" parameter of
// InputMedia objects (sendMediaGroup, editMessageMedia).
func (m *Method) TakesMedia() bool {
	_, ok := m.fields["media"]
	return ok
}

// ChatAddressed reports whether the method names a chat (chat_id): every
// method but answerCallbackQuery.
func (m *Method) ChatAddressed() bool {
	_, ok := m.fields["chat_id"]
	return ok
}

// Deadline is how long after enqueueing a task of the method is still
// worth sending (0: no deadline of its own).
func (m *Method) Deadline() time.Duration {
	switch m.Kind {
	case KindCallback:
		return CallbackDeadline
	case KindChatAction:
		return ChatActionDeadline
	case KindDraft:
		return DraftDeadline
	}
	return 0
}

// Coalesces reports whether pending calls of the method to the same target
// collapse to the newest (see [Call.CoalesceKey]): the edits of a
// message's text, caption, media or keyboard, and drafts.
func (m *Method) Coalesces() bool {
	switch m.Name {
	case "editMessageText", "editMessageCaption", "editMessageMedia", "editMessageReplyMarkup", "sendMessageDraft":
		return true
	}
	return false
}
