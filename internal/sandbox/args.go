package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
)

// apiErr is a Bot API error answer.
type apiErr struct {
	code int
	desc string
}

// badRequest returns a 400 "Bad Request: desc".
func badRequest(desc string) *apiErr {
	return &apiErr{code: http.StatusBadRequest, desc: "Bad Request: " + desc}
}

var errTooLarge = &apiErr{code: http.StatusRequestEntityTooLarge, desc: "Request Entity Too Large"}

// args are a call's fields as received, whatever the body's encoding: each
// field's text (a JSON string field unquoted, any other JSON value as its
// JSON text, a form field as sent) and the multipart file parts by name.
type args struct {
	v      map[string]string
	files  map[string]*multipart.FileHeader
	params map[string]any // for Received.Params; nil unless recorded
}

// decodeArgs reads a JSON, urlencoded or multipart call (and the URL query,
// for fields the body does not set). The caller must call cleanup when done
// with the files.
func (s *Sandbox) decodeArgs(r *http.Request) (a *args, cleanup func(), e *apiErr) {
	a = &args{v: make(map[string]string)}
	cleanup = func() {}
	record := !s.noParams
	switch mediaType(r.Header.Get("Content-Type")) {
	case "application/json":
		if r.ContentLength > maxBody {
			return nil, cleanup, errTooLarge
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			return nil, cleanup, badRequest("can't read request body")
		}
		if len(b) > maxBody {
			return nil, cleanup, errTooLarge
		}
		if b = bytes.TrimSpace(b); len(b) > 0 {
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(b, &fields); err != nil {
				return nil, cleanup, badRequest("can't parse JSON encoded request")
			}
			for k, raw := range fields {
				switch {
				case string(raw) == "null":
				case raw[0] == '"':
					var str string
					if json.Unmarshal(raw, &str) != nil {
						return nil, cleanup, badRequest("can't parse JSON encoded request")
					}
					a.v[k] = str
				default:
					a.v[k] = string(raw)
				}
			}
			if record {
				dec := json.NewDecoder(bytes.NewReader(b))
				dec.UseNumber()
				_ = dec.Decode(&a.params)
			}
		}
		for k, vs := range r.URL.Query() {
			if _, ok := a.v[k]; !ok && len(vs) > 0 {
				a.v[k] = vs[0]
				a.recordForm(k, vs[0], record)
			}
		}
		return a, cleanup, nil
	case "multipart/form-data":
		r.Body = http.MaxBytesReader(nil, r.Body, maxMultipart)
		if err := r.ParseMultipartForm(maxBody); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, cleanup, errTooLarge
			}
			return nil, cleanup, badRequest("can't parse multipart form data")
		}
		if mf := r.MultipartForm; mf != nil {
			cleanup = func() { _ = mf.RemoveAll() }
			if len(mf.File) > 0 {
				a.files = make(map[string]*multipart.FileHeader, len(mf.File))
				for k, fh := range mf.File {
					if len(fh) > 0 {
						a.files[k] = fh[0]
					}
				}
			}
		}
	default:
		r.Body = http.MaxBytesReader(nil, r.Body, maxBody)
		if err := r.ParseForm(); err != nil {
			return nil, cleanup, badRequest("can't parse form data")
		}
	}
	for k, vs := range r.Form {
		if len(vs) > 0 {
			a.v[k] = vs[0]
			a.recordForm(k, vs[0], record)
		}
	}
	return a, cleanup, nil
}

// recordForm adds a form field to params: JSON objects and arrays decoded,
// anything else as its text.
func (a *args) recordForm(k, v string, record bool) {
	if !record {
		return
	}
	if a.params == nil {
		a.params = make(map[string]any)
	}
	var val any = v
	if t := strings.TrimSpace(v); t != "" && (t[0] == '{' || t[0] == '[') {
		var decoded any
		dec := json.NewDecoder(strings.NewReader(t))
		dec.UseNumber()
		if dec.Decode(&decoded) == nil {
			val = decoded
		}
	}
	a.params[k] = val
}

// chat reads a chat id field; empty reports "<field> is empty".
func (a *args) chat(field string) (chatRef, *apiErr) {
	v := a.v[field]
	if v == "" {
		return chatRef{}, badRequest(field + " is empty")
	}
	num, key, ok := parseChatID(v)
	switch {
	case !ok:
		return chatRef{}, badRequest("chat not found")
	case num == 0 && key[0] != '@':
		return chatRef{}, badRequest(field + " is empty")
	}
	c := chatRef{id: v, key: key, num: num}
	if num != 0 {
		c.id = key
	}
	return c, nil
}

// int reads an integer field; ok is false when it is absent.
func (a *args) int(field string) (n int64, ok bool, e *apiErr) {
	v, present := a.v[field]
	if !present || v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false, badRequest("invalid " + field + " specified")
	}
	return n, true, nil
}

// messageID reads the required message_id.
func (a *args) messageID() (int64, *apiErr) {
	n, ok, e := a.int("message_id")
	if e != nil {
		return 0, e
	}
	if !ok || n <= 0 {
		return 0, badRequest("message identifier is not specified")
	}
	return n, nil
}

// ids reads message_ids: 1–100 ids in strictly increasing order.
func (a *args) ids() ([]int64, *apiErr) {
	v := a.v["message_ids"]
	if v == "" {
		return nil, badRequest("message_ids is empty")
	}
	var ids []int64
	if err := json.Unmarshal([]byte(v), &ids); err != nil {
		return nil, badRequest("can't parse message identifiers JSON object")
	}
	switch {
	case len(ids) == 0:
		return nil, badRequest("message_ids is empty")
	case len(ids) > 100:
		return nil, badRequest("too many message identifiers specified")
	}
	for i, id := range ids {
		if id <= 0 || (i > 0 && id <= ids[i-1]) {
			return nil, badRequest("message identifiers must be positive and in strictly increasing order")
		}
	}
	return ids, nil
}

// bool reads a boolean field; absent is false.
func (a *args) bool(field string) (bool, *apiErr) {
	v := a.v[field]
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(strings.ToLower(v))
	if err != nil {
		return false, badRequest("invalid " + field)
	}
	return b, nil
}

// float reads a required number.
func (a *args) float(field string) (float64, *apiErr) {
	v := a.v[field]
	if v == "" {
		return 0, badRequest(field + " is empty")
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, badRequest("invalid " + field + " specified")
	}
	return f, nil
}

// markup reads reply_markup; it returns the markup to echo (an inline
// keyboard, compacted) or nil.
func (a *args) markup() (json.RawMessage, *apiErr) {
	return parseMarkup([]byte(a.v["reply_markup"]))
}

func parseMarkup(raw []byte) (json.RawMessage, *apiErr) {
	if len(raw) == 0 {
		return nil, nil
	}
	var mk struct {
		InlineKeyboard json.RawMessage `json:"inline_keyboard"`
	}
	if err := json.Unmarshal(raw, &mk); err != nil {
		return nil, badRequest("can't parse reply keyboard markup JSON object")
	}
	if len(mk.InlineKeyboard) == 0 || string(mk.InlineKeyboard) == "null" {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, badRequest("can't parse reply keyboard markup JSON object")
	}
	return buf.Bytes(), nil
}

// entities reads an entities field (entities, caption_entities).
func (a *args) entities(field string) (json.RawMessage, *apiErr) {
	v := a.v[field]
	if v == "" {
		return nil, nil
	}
	if v[0] != '[' || !json.Valid([]byte(v)) {
		return nil, badRequest("can't parse entities JSON object")
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, []byte(v))
	return buf.Bytes(), nil
}

// formatted is a text or caption with its parse mode and entities.
type formatted struct {
	raw, visible, parseMode string
	entities                json.RawMessage
}

// markupKey stands for the formatting a parse mode gives the text, which
// the sandbox does not parse into entities: "" when there is none (no parse
// mode, or a text without tags or Markdown markers), else the parse mode and
// the raw text. An edit that changes only the formatting is a change.
func (f *formatted) markupKey() string {
	if f.parseMode == "" || f.raw == f.visible && !strings.ContainsAny(f.raw, "*_~`[]|") {
		return ""
	}
	return f.parseMode + "\x00" + f.raw
}

// caption reads caption, parse_mode and caption_entities: at most
// [MaxCaptionLength] characters after entities parsing.
func (a *args) caption() (formatted, *apiErr) {
	return captionOf(a.v["caption"], a.v["parse_mode"], a.v["caption_entities"])
}

func captionOf(text, parseMode, entities string) (formatted, *apiErr) {
	pm, ok := normaliseParseMode(parseMode)
	if !ok {
		return formatted{}, badRequest("unsupported parse_mode")
	}
	f := formatted{raw: text, parseMode: pm, visible: visibleText(text, pm)}
	if len(f.visible) > MaxCaptionLength && utf16Len(f.visible) > MaxCaptionLength {
		return f, badRequest("message caption is too long")
	}
	if entities != "" {
		if entities[0] != '[' || !json.Valid([]byte(entities)) {
			return f, badRequest("can't parse entities JSON object")
		}
		var buf bytes.Buffer
		_ = json.Compact(&buf, []byte(entities))
		f.entities = buf.Bytes()
	}
	return f, nil
}

// text reads text, parse_mode and entities as sendMessage does.
func (a *args) text() (formatted, *apiErr) {
	pm, ok := normaliseParseMode(a.v["parse_mode"])
	if !ok {
		return formatted{}, badRequest("unsupported parse_mode")
	}
	f := formatted{raw: a.v["text"], parseMode: pm}
	f.visible = visibleText(f.raw, pm)
	if strings.TrimSpace(f.visible) == "" {
		return f, badRequest("message text is empty")
	}
	if len(f.visible) > MaxMessageLength && utf16Len(f.visible) > MaxMessageLength {
		return f, badRequest("message is too long")
	}
	ents, e := a.entities("entities")
	f.entities = ents
	return f, e
}
