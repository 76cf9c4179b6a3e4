package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mymmrac/telego"
	"github.com/mymmrac/telego/telegoapi"
)

// Bot API methods the sandbox implements.
const (
	methodSendMessage = "sendMessage"
	methodGetMe       = "getMe"
)

// Body size limits.
const (
	maxBody      = 1 << 20  // JSON and urlencoded
	maxMultipart = 64 << 20 // multipart, files included
)

// Bot user the sandbox answers as.
const (
	botFirstName = "Sandbox Bot"
	botUsername  = "sandbox_bot"
)

var (
	contentTypeJSON = []string{"application/json"}
	contentTypeHTML = []string{"text/html"}
)

// verdict is how the sandbox answers one Bot API call.
type verdict struct {
	code       int    // error code and HTTP status; 0 = success
	desc       string // error description
	retryAfter int
	migrateTo  int64
	html       string        // HTML body instead of JSON
	hang       time.Duration // KindTimeout
	drop       bool          // close the connection instead of replying
	fault      FaultKind
	delay      time.Duration // applied before replying
}

// sendReq is a parsed sendMessage call.
type sendReq struct {
	chat      chatRef
	text      string
	visible   string // text after entities parsing
	parseMode string
	paid      bool
	threadID  int64
	entities  json.RawMessage
	markup    json.RawMessage // echoed only if it is an inline keyboard
	params    map[string]any
}

func (s *Sandbox) serveBotAPI(w http.ResponseWriter, r *http.Request) {
	rest := r.URL.Path[len("/bot"):]
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		s.refuse(w, r, 0, "", http.StatusNotFound, "Not Found")
		return
	}
	token, method := rest[:i], rest[i+1:]
	method = strings.TrimPrefix(method, "test/")
	botID, ok := botIDOf(token)
	if !ok || method == "" || strings.IndexByte(method, '/') >= 0 {
		s.refuse(w, r, 0, "", http.StatusNotFound, "Not Found")
		return
	}
	if s.tokens != nil {
		if _, ok := s.tokens[token]; !ok {
			s.refuse(w, r, botID, method, http.StatusUnauthorized, "Unauthorized")
			return
		}
	}
	// Telegram's method names are case-insensitive.
	if strings.EqualFold(method, methodGetMe) {
		s.getMe(w, r, botID)
		return
	}
	if m := methods[strings.ToLower(method)]; m != nil {
		s.serveMethod(w, r, botID, m)
		return
	}
	s.refuse(w, r, botID, method, http.StatusNotFound, "Not Found")
}

// refuse answers a call rejected before rules and limits: malformed path,
// unknown token, unknown method or invalid parameters.
func (s *Sandbox) refuse(w http.ResponseWriter, r *http.Request, botID int64, method string, code int, desc string) {
	s.mu.Lock()
	s.st.requests++
	switch code {
	case http.StatusNotFound:
		s.st.notFound++
	case http.StatusUnauthorized:
		s.st.unauthorized++
	default:
		s.st.badRequests++
		s.methodStatsLocked(method).Requests++
	}
	v := verdict{code: code, desc: desc, delay: s.delayLocked()}
	s.mu.Unlock()
	s.reply(w, r, botID, method, "", &v)
}

func (s *Sandbox) getMe(w http.ResponseWriter, r *http.Request, botID int64) {
	s.mu.Lock()
	s.st.requests++
	v := verdict{delay: s.delayLocked()}
	if i := s.matchRuleLocked(methodGetMe, botID, nil); i >= 0 {
		rule := s.rules[i]
		s.useRuleLocked(i)
		switch rule.Kind {
		case KindLatency:
			v.delay += rule.Latency
		case KindDropAfterDeliver:
			v.drop = true
		default:
			d := v.delay
			v = faultVerdict(&rule.Rule, nil)
			v.delay = d
		}
		v.fault = rule.Kind
	}
	if v.code == 0 && v.hang == 0 {
		s.st.otherOK++
	}
	s.mu.Unlock()
	if s.reply(w, r, botID, methodGetMe, "", &v) {
		s.writeJSON(w, http.StatusOK, okResponse{Ok: true, Result: s.botUser(botID)})
	}
}

func (s *Sandbox) botUser(botID int64) *telego.User {
	return &telego.User{ID: botID, IsBot: true, FirstName: botFirstName, Username: botUsername, CanJoinGroups: true}
}

// sendMessageCall turns a parsed sendMessage into a call.
func sendMessageCall(m *sendReq) *call {
	return &call{
		chat: &m.chat,
		paid: m.paid,
		rec:  Received{Text: m.text, ParseMode: m.parseMode, Params: m.params},
		apply: func(e *exec) any {
			ct := content{markup: m.markup}
			ct.setText(&formatted{raw: m.text, visible: m.visible, parseMode: m.parseMode, entities: m.entities})
			msg := e.chat.newMessage(e.now, m.threadID, kindText, ct)
			e.rec.MessageID = msg.id
			return e.s.result(e.bot, e.ref, msg)
		},
	}
}

// reply waits out v.delay and answers every verdict except success; it
// returns true if the caller must write the successful result.
func (s *Sandbox) reply(w http.ResponseWriter, r *http.Request, botID int64, method, chat string, v *verdict) bool {
	ctx := r.Context()
	s.sleep(ctx, v.delay)
	if s.log.Enabled(ctx, slog.LevelDebug) {
		status := v.code
		if status == 0 {
			status = http.StatusOK
		}
		s.log.LogAttrs(ctx, slog.LevelDebug, "bot api call",
			slog.Int64("bot_id", botID), slog.String("method", method), slog.String("chat_id", chat),
			slog.Int("status", status), slog.String("fault", string(v.fault)))
	}
	switch {
	case v.hang > 0:
		s.hang(w, r, v.hang)
	case v.drop:
		abort(w)
	case v.html != "":
		w.Header()["Content-Type"] = contentTypeHTML
		w.WriteHeader(v.code)
		_, _ = io.WriteString(w, v.html)
	case v.code != 0:
		s.writeAPIError(w, v.code, v.desc, v.retryAfter, v.migrateTo)
	default:
		return true
	}
	return false
}

// hang holds a request that will never be answered until the client gives
// up, the sandbox closes or d passes.
func (s *Sandbox) hang(w http.ResponseWriter, r *http.Request, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		w.Header()["Content-Type"] = contentTypeHTML
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusGatewayTimeout)
		_, _ = io.WriteString(w, gatewayTimeoutHTML)
	case <-r.Context().Done():
		abort(w)
	case <-s.closing:
		abort(w)
	}
}

// abort closes the connection without a reply.
func abort(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	// http.ErrAbortHandler is net/http's documented way to abort a reply.
	panic(http.ErrAbortHandler)
}

// okResponse and errorResponse are Telegram's reply envelopes.
type okResponse struct {
	Ok     bool `json:"ok"`
	Result any  `json:"result"`
}

type errorResponse struct {
	Ok          bool                          `json:"ok"`
	ErrorCode   int                           `json:"error_code"`
	Description string                        `json:"description"`
	Parameters  *telegoapi.ResponseParameters `json:"parameters,omitempty"`
}

func (s *Sandbox) writeAPIError(w http.ResponseWriter, code int, desc string, retry int, migrate int64) {
	e := errorResponse{ErrorCode: code, Description: desc}
	if retry != 0 || migrate != 0 {
		e.Parameters = &telegoapi.ResponseParameters{RetryAfter: retry, MigrateToChatID: migrate}
	}
	s.writeJSON(w, code, &e)
}

type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

func (s *Sandbox) writeJSON(w http.ResponseWriter, code int, v any) {
	e := s.encs.Get().(*encoder)
	defer func() {
		if e.buf.Cap() <= 64<<10 {
			s.encs.Put(e)
		}
	}()
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		s.log.Error("sandbox: encode reply", slog.Any("error", err))
		http.Error(w, "encode reply", http.StatusInternalServerError)
		return
	}
	w.Header()["Content-Type"] = contentTypeJSON
	w.WriteHeader(code)
	_, _ = w.Write(e.buf.Bytes())
}

// rawSend holds sendMessage's fields as received, before validation.
type rawSend struct {
	chatID, text, parseMode, paid, threadID string
	entities, markup                        []byte
}

// jsonScalar decodes a JSON string, number or bool to its text.
type jsonScalar string

func (j *jsonScalar) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || string(b) == "null":
		*j = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*j = jsonScalar(s)
	case b[0] == '{' || b[0] == '[':
		return errors.New("object where a scalar was expected")
	default:
		*j = jsonScalar(b)
	}
	return nil
}

type jsonSend struct {
	ChatID             jsonScalar      `json:"chat_id"`
	Text               jsonScalar      `json:"text"`
	ParseMode          jsonScalar      `json:"parse_mode"`
	AllowPaidBroadcast jsonScalar      `json:"allow_paid_broadcast"`
	MessageThreadID    jsonScalar      `json:"message_thread_id"`
	Entities           json.RawMessage `json:"entities"`
	ReplyMarkup        json.RawMessage `json:"reply_markup"`
}

// decodeJSONSend decodes a JSON body into the fields sendMessage uses.
func decodeJSONSend(b []byte) (rawSend, error) {
	var js jsonSend
	if err := json.Unmarshal(b, &js); err != nil {
		return rawSend{}, err
	}
	return rawSend{
		chatID: string(js.ChatID), text: string(js.Text), parseMode: string(js.ParseMode),
		paid: string(js.AllowPaidBroadcast), threadID: string(js.MessageThreadID),
		entities: js.Entities, markup: js.ReplyMarkup,
	}, nil
}

// decodeJSONParams decodes a JSON body into all its fields (numbers as
// json.Number) and takes sendMessage's fields from them.
func decodeJSONParams(b []byte) (rawSend, map[string]any, error) {
	var params map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		return rawSend{}, nil, err
	}
	var raw rawSend
	for _, f := range []struct {
		dst *string
		key string
	}{
		{&raw.chatID, "chat_id"}, {&raw.text, "text"}, {&raw.parseMode, "parse_mode"},
		{&raw.paid, "allow_paid_broadcast"}, {&raw.threadID, "message_thread_id"},
	} {
		switch v := params[f.key].(type) {
		case nil:
		case string:
			*f.dst = v
		case json.Number:
			*f.dst = v.String()
		case bool:
			*f.dst = strconv.FormatBool(v)
		default:
			return rawSend{}, nil, errors.New(f.key + ": object where a scalar was expected")
		}
	}
	for _, f := range []struct {
		dst *[]byte
		key string
	}{{&raw.entities, "entities"}, {&raw.markup, "reply_markup"}} {
		if v, ok := params[f.key]; ok && v != nil {
			enc, err := json.Marshal(v)
			if err != nil {
				return rawSend{}, nil, err
			}
			*f.dst = enc
		}
	}
	return raw, params, nil
}

// jsonFields are the sendMessage fields whose form values are JSON.
var jsonFields = []string{"entities", "reply_markup", "link_preview_options", "reply_parameters", "suggested_post_parameters"}

// mediaType returns the lower-cased media type of a Content-Type header.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	for i := 0; i < len(ct); i++ {
		if 'A' <= ct[i] && ct[i] <= 'Z' {
			return strings.ToLower(ct)
		}
	}
	return ct
}

// parseSendMessage reads and validates a sendMessage call. A non-zero code
// is Telegram's answer to an invalid one.
func (s *Sandbox) parseSendMessage(r *http.Request) (m sendReq, code int, desc string) {
	var raw rawSend
	record := !s.noParams
	switch mediaType(r.Header.Get("Content-Type")) {
	case "application/json":
		buf := s.bufs.Get().(*bytes.Buffer)
		buf.Reset()
		defer func() {
			if buf.Cap() <= 64<<10 {
				s.bufs.Put(buf)
			}
		}()
		if r.ContentLength > maxBody {
			return m, http.StatusRequestEntityTooLarge, "Request Entity Too Large"
		}
		if _, err := buf.ReadFrom(io.LimitReader(r.Body, maxBody+1)); err != nil {
			return m, http.StatusBadRequest, "Bad Request: can't read request body"
		}
		if buf.Len() > maxBody {
			return m, http.StatusRequestEntityTooLarge, "Request Entity Too Large"
		}
		if b := bytes.TrimSpace(buf.Bytes()); len(b) > 0 {
			var err error
			if record {
				raw, m.params, err = decodeJSONParams(b)
			} else {
				raw, err = decodeJSONSend(b)
			}
			if err != nil {
				return m, http.StatusBadRequest, "Bad Request: can't parse JSON encoded request"
			}
		}
		if r.URL.RawQuery != "" {
			mergeValues(&raw, &m.params, r.URL.Query(), record)
		}
	case "multipart/form-data":
		r.Body = http.MaxBytesReader(nil, r.Body, maxMultipart)
		if err := r.ParseMultipartForm(maxBody); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return m, errTooLarge.code, errTooLarge.desc
			}
			return m, http.StatusBadRequest, "Bad Request: can't parse multipart form data"
		}
		if r.MultipartForm != nil {
			defer func() { _ = r.MultipartForm.RemoveAll() }()
		}
		mergeValues(&raw, &m.params, r.Form, record)
	default:
		// urlencoded bodies, GET query strings, and bodies Telegram ignores.
		r.Body = http.MaxBytesReader(nil, r.Body, maxBody)
		if err := r.ParseForm(); err != nil {
			return m, http.StatusBadRequest, "Bad Request: can't parse form data"
		}
		mergeValues(&raw, &m.params, r.Form, record)
	}
	return s.validateSend(raw, m.params)
}

// mergeValues fills fields of raw and params that are still unset from v.
func mergeValues(raw *rawSend, params *map[string]any, v url.Values, record bool) {
	set := func(dst *string, key string) {
		if *dst == "" {
			if vs := v[key]; len(vs) > 0 {
				*dst = vs[0]
			}
		}
	}
	setJSON := func(dst *[]byte, key string) {
		if *dst == nil {
			if vs := v[key]; len(vs) > 0 && vs[0] != "" {
				*dst = []byte(vs[0])
			}
		}
	}
	set(&raw.chatID, "chat_id")
	set(&raw.text, "text")
	set(&raw.parseMode, "parse_mode")
	set(&raw.paid, "allow_paid_broadcast")
	set(&raw.threadID, "message_thread_id")
	setJSON(&raw.entities, "entities")
	setJSON(&raw.markup, "reply_markup")
	if !record || len(v) == 0 {
		return
	}
	if *params == nil {
		*params = make(map[string]any, len(v))
	}
	for k, vs := range v {
		if _, ok := (*params)[k]; ok || len(vs) == 0 {
			continue
		}
		var val any = vs[0]
		for _, jf := range jsonFields {
			if k == jf {
				var decoded any
				dec := json.NewDecoder(strings.NewReader(vs[0]))
				dec.UseNumber()
				if dec.Decode(&decoded) == nil {
					val = decoded
				}
				break
			}
		}
		(*params)[k] = val
	}
}

// validateSend checks sendMessage's fields as Telegram does.
func (s *Sandbox) validateSend(raw rawSend, params map[string]any) (m sendReq, code int, desc string) {
	const bad = http.StatusBadRequest
	m.params = params
	if raw.chatID == "" {
		return m, bad, "Bad Request: chat_id is empty"
	}
	num, key, ok := parseChatID(raw.chatID)
	switch {
	case !ok:
		return m, bad, "Bad Request: chat not found"
	case num == 0 && key[0] != '@':
		return m, bad, "Bad Request: chat_id is empty"
	}
	m.chat = chatRef{id: raw.chatID, key: key, num: num}
	if num != 0 {
		m.chat.id = key
	}
	pm, ok := normaliseParseMode(raw.parseMode)
	if !ok {
		return m, bad, "Bad Request: unsupported parse_mode"
	}
	m.text, m.parseMode = raw.text, pm
	m.visible = visibleText(raw.text, pm)
	if strings.TrimSpace(m.visible) == "" {
		return m, bad, "Bad Request: message text is empty"
	}
	if len(m.visible) > MaxMessageLength && utf16Len(m.visible) > MaxMessageLength {
		return m, bad, "Bad Request: message is too long"
	}
	if raw.paid != "" {
		b, err := strconv.ParseBool(strings.ToLower(raw.paid))
		if err != nil {
			return m, bad, "Bad Request: invalid allow_paid_broadcast"
		}
		m.paid = b
	}
	if raw.threadID != "" {
		n, err := strconv.ParseInt(raw.threadID, 10, 64)
		if err != nil {
			return m, bad, "Bad Request: invalid message_thread_id"
		}
		m.threadID = n
	}
	if len(raw.entities) > 0 {
		if raw.entities[0] != '[' || !json.Valid(raw.entities) {
			return m, bad, "Bad Request: can't parse entities JSON object"
		}
		var buf bytes.Buffer
		_ = json.Compact(&buf, raw.entities)
		m.entities = buf.Bytes()
	}
	if len(raw.markup) > 0 {
		mk, e := parseMarkup(raw.markup)
		if e != nil {
			return m, e.code, e.desc
		}
		m.markup = mk
	}
	return m, 0, ""
}

// Received is one successful Bot API call that did something: a send
// (sendMessage, send*, copy*, forward*), an edit, a delete, a pin or unpin,
// a chat action or a callback answer. getMe is not recorded.
type Received struct {
	// Seq numbers the records from 1 since New or the last Reset.
	Seq int64 `json:"seq"`
	// BotID is the numeric prefix of the token; the token itself is never
	// stored.
	BotID int64 `json:"bot_id"`
	// Method is the Bot API method, such as "sendMessage" or
	// "editMessageCaption", spelt as in the Bot API.
	Method string `json:"method"`
	// ChatID is the chat as sent: a canonical integer or "@name"; "" for
	// calls without a chat (answerCallbackQuery, inline edits).
	ChatID string `json:"chat_id"`
	// MessageID is the message the call made (the first of an album or of
	// copyMessages/forwardMessages) or acted on (edit, delete, pin; the
	// first id of deleteMessages). Message ids increase per (bot, chat)
	// from 1.
	MessageID int64 `json:"message_id"`
	// MessageIDs are all the messages made (albums, copyMessages,
	// forwardMessages) or deleted (deleteMessages).
	MessageIDs []int64 `json:"message_ids,omitempty"`
	// Text is the text as sent, before entities parsing (sendMessage,
	// editMessageText).
	Text string `json:"text"`
	// Caption is the caption as sent, before entities parsing (media sends,
	// copyMessage, editMessageCaption, editMessageMedia); an album's first
	// caption.
	Caption string `json:"caption,omitempty"`
	// ParseMode is the canonical parse mode ("HTML", "Markdown",
	// "MarkdownV2") or "".
	ParseMode string `json:"parse_mode,omitempty"`
	// Media are the files sent, one per album item.
	Media []MediaFile `json:"media,omitempty"`
	// MediaGroupID is an album's media_group_id.
	MediaGroupID string `json:"media_group_id,omitempty"`
	// FromChatID and SourceIDs are the messages copied or forwarded.
	FromChatID string  `json:"from_chat_id,omitempty"`
	SourceIDs  []int64 `json:"source_ids,omitempty"`
	// InlineMessageID is the message an inline edit targeted.
	InlineMessageID string `json:"inline_message_id,omitempty"`
	// Action is sendChatAction's action; CallbackQueryID is the callback
	// query answerCallbackQuery answered.
	Action          string `json:"action,omitempty"`
	CallbackQueryID string `json:"callback_query_id,omitempty"`
	// Paid reports allow_paid_broadcast=true.
	Paid bool `json:"paid,omitempty"`
	// Params are all fields received, unless [Config.NoRecordParams]: JSON
	// bodies as decoded with json.Number for numbers, form fields as strings
	// except JSON-valued ones (reply_markup, entities, media, …), which are
	// decoded.
	Params map[string]any `json:"params,omitempty"`
	// At is when the sandbox handled it.
	At time.Time `json:"at"`
}

// wakeLocked releases the WaitFor and WaitForSends callers whose count has
// been reached.
func (s *Sandbox) wakeLocked() {
	kept := s.waiters[:0]
	for _, w := range s.waiters {
		if s.countLocked(w.sends) >= w.n {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	clear(s.waiters[len(kept):])
	s.waiters = kept
}

// countLocked returns the number of records, or of sends.
func (s *Sandbox) countLocked(sends bool) int {
	if sends {
		return s.sends
	}
	return s.msgs.len()
}

// Messages returns a copy of every call recorded since New or the last
// Reset, in order.
func (s *Sandbox) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgs.all()
}

// Count returns how many calls were recorded since New or the last Reset.
// With only sendMessage calls, that is the number of messages delivered.
func (s *Sandbox) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgs.len()
}

// WaitFor blocks until at least n calls have been recorded since New or the
// last Reset, or ctx ends.
func (s *Sandbox) WaitFor(ctx context.Context, n int) error {
	return s.wait(ctx, n, false)
}

// WaitForSends blocks until at least n sends (calls that make messages:
// sendMessage, send*, copy*, forward*; an album is one) have been recorded
// since New or the last Reset, or ctx ends.
func (s *Sandbox) WaitForSends(ctx context.Context, n int) error {
	return s.wait(ctx, n, true)
}

func (s *Sandbox) wait(ctx context.Context, n int, sends bool) error {
	s.mu.Lock()
	if s.countLocked(sends) >= n {
		s.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	s.waiters = append(s.waiters, waiter{n: n, sends: sends, ch: ch})
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, w := range s.waiters {
		if w.ch == ch {
			s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
			return ctx.Err()
		}
	}
	return nil // woken while ctx ended
}
