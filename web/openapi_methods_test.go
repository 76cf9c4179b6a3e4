package web

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/tasks"
)

// The part of openapi.json about POST /v1/methods/{method} is generated
// from the method table (tasks.Methods): the path, and per method one JSON
// and one multipart request schema. TestOpenAPIMethods fails when the file
// is out of date; `go test ./web -run TestOpenAPIMethods -update` writes it.
var update = flag.Bool("update", false, "rewrite openapi.json's generated part from tasks.Methods")

// obj is a JSON object that keeps its keys in order.
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := marshal(e.k)
		v, err := marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal is json.Marshal without HTML escaping: the file keeps "<b>".
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// decodeObj reads a JSON object into ordered raw entries.
func decodeObj(data []byte) (obj, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("want a JSON object: %v", err)
	}
	var o obj
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		o = append(o, kv{t.(string), v})
	}
	return o, nil
}

// set replaces key's value, or appends it.
func (o obj) set(key string, v any) obj {
	for i := range o {
		if o[i].k == key {
			o[i].v = v
			return o
		}
	}
	return append(o, kv{key, v})
}

func (o obj) get(key string) json.RawMessage {
	for _, e := range o {
		if e.k == key {
			return e.v.(json.RawMessage)
		}
	}
	return nil
}

// withMethods returns the document doc with the generated part put in
// (replaced when present), indented as the file is.
func withMethods(doc []byte) ([]byte, error) {
	top, err := decodeObj(doc)
	if err != nil {
		return nil, err
	}
	paths, err := decodeObj(top.get("paths"))
	if err != nil {
		return nil, err
	}
	comps, err := decodeObj(top.get("components"))
	if err != nil {
		return nil, err
	}
	schemas, err := decodeObj(comps.get("schemas"))
	if err != nil {
		return nil, err
	}
	paths = paths.set("/v1/methods/{method}", methodsPath())
	schemas = schemas.set("CallReceipt", callReceiptSchema())
	for _, m := range tasks.Methods() {
		schemas = schemas.set(m.Name+"Request", methodSchema(m, false))
		schemas = schemas.set(m.Name+"Form", methodSchema(m, true))
	}
	top = top.set("paths", paths).set("components", comps.set("schemas", schemas))
	compact, err := marshal(top)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func ref(name string) obj { return obj{{"$ref", "#/components/schemas/" + name}} }

func errorResponse(desc string, example obj) obj {
	media := obj{{"schema", ref("ErrorBody")}}
	if example != nil {
		media = append(media, kv{"example", obj{{"error", example}}})
	}
	return obj{{"description", desc}, {"content", obj{{"application/json", media}}}}
}

func methodsPath() obj {
	var names, jsonRefs, formRefs []any
	for _, m := range tasks.Methods() {
		names = append(names, m.Name)
		jsonRefs = append(jsonRefs, ref(m.Name+"Request"))
		formRefs = append(formRefs, ref(m.Name+"Form"))
	}
	post := obj{
		{"operationId", "callMethod"},
		{"summary", "Queue a call of any Bot API method"},
		{"description", "Queues one call of a Bot API method (the path names it, e.g. sendPhoto) for telequeue's workers, " +
			"which call it within Telegram's limits, retry transient failures and wait out rate limits. " +
			"The body is the method's parameters exactly as Telegram takes them, plus telequeue's `bot`, `priority` and " +
			"`send_at` or `send_in`; the schema `<method>Request` (JSON) or `<method>Form` (multipart/form-data) lists them. " +
			"Every parameter is validated as the Bot API would, and an error names it; nothing is queued then.\n\n" +
			"Files: a file parameter (photo, document, a `media` item's media, thumbnail) takes a file_id, an http(s) URL, " +
			"or `attach://<name>` naming a file part of a multipart body. In a multipart body a file part named after " +
			"the parameter itself (e.g. a part `photo`) is that parameter's file. Other parts are text: JSON-typed " +
			"parameters (media, reply_markup, caption_entities) as JSON text, numbers and booleans as text. " +
			"Uploads are stored in Redis once per content until the call is done; Telegram's limits apply " +
			"(a photo 10 MB, any other file 50 MB) and UPLOAD_MAX_BYTES.\n\n" +
			"answerCallbackQuery goes to the `callbacks` queue (no priority) and sendChatAction is dropped when late; neither can be scheduled. " +
			"The JSON body is at most 1 MiB; so are a multipart body's text parts together."},
		{"parameters", []any{
			obj{{"name", "method"}, {"in", "path"}, {"required", true}, {"description", "The Bot API method."},
				{"schema", obj{{"type", "string"}, {"enum", names}}}},
			obj{{"name", "Idempotency-Key"}, {"in", "header"}, {"required", false},
				{"description", "As for POST /v1/messages: a second request with the same key (a message's or a call's) queues nothing and answers 409 with the first task's id."},
				{"schema", obj{{"type", "string"}, {"minLength", 1}, {"maxLength", 200}}}},
		}},
		{"requestBody", obj{{"required", true}, {"content", obj{
			{"application/json", obj{{"schema", obj{{"oneOf", jsonRefs}}}, {"examples", obj{
				{"sendPhoto by URL", obj{{"value", obj{{"chat_id", 123456789}, {"photo", "https://example.com/cat.jpg"}, {"caption", "<b>Cat</b>"}, {"parse_mode", "HTML"}}}}},
				{"editMessageText", obj{{"value", obj{{"chat_id", 123456789}, {"message_id", 42}, {"text", "Updated"}}}}},
				{"answerCallbackQuery", obj{{"value", obj{{"callback_query_id", "4382bfdwdsb323b2d9"}, {"text", "Saved"}}}}},
			}}}},
			{"multipart/form-data", obj{{"schema", obj{{"oneOf", formRefs}}}}},
		}}}},
		{"responses", obj{
			{"202", obj{{"description", "Queued."},
				{"headers", obj{{"Location", obj{{"description", "/v1/messages/{id}"}, {"schema", obj{{"type", "string"}}}}}}},
				{"content", obj{{"application/json", obj{{"schema", ref("CallReceipt")},
					{"example", obj{{"id", "k3j5x2v7q9w8e4r6t1y0u2i3o4"}, {"queue", "default"}, {"method", "sendPhoto"}}}}}}}}},
			{"400", errorResponse("Invalid parameter (`invalid_field`, with `field`, e.g. `photo` or `media[1].media`) or malformed body (`malformed_json`).",
				obj{{"code", "invalid_field"}, {"field", "photo"}, {"message", "photo: required parameter is missing: sendPhoto needs it"}})},
			{"401", obj{{"$ref", "#/components/responses/Unauthorized"}}},
			{"404", errorResponse("Not a method telequeue queues (`not_found`, field `method`), or the API is disabled (`api_disabled`).", nil)},
			{"409", errorResponse("The Idempotency-Key was used before; `id` and `queue` name the first task.", nil)},
			{"413", errorResponse("A file exceeds its limit (`body_too_large`, with `field`): 10 MB for a photo, 50 MB for other files, or UPLOAD_MAX_BYTES. Nothing is queued or kept.",
				obj{{"code", "body_too_large"}, {"field", "photo"}, {"message", "photo: the file exceeds 10485760 bytes, the most this field takes here"}})},
			{"415", errorResponse("Neither application/json nor multipart/form-data (`unsupported_media_type`).", nil)},
			{"503", obj{{"$ref", "#/components/responses/Unavailable"}}},
		}},
	}
	return obj{{"post", post}}
}

func callReceiptSchema() obj {
	return obj{
		{"type", "object"},
		{"required", []string{"id", "queue", "method"}},
		{"properties", obj{
			{"id", obj{{"type", "string"}}},
			{"queue", obj{{"type", "string"}, {"description", "critical, default, bulk, or callbacks for answerCallbackQuery."}}},
			{"method", obj{{"type", "string"}}},
			{"scheduled_at", obj{{"type", "string"}, {"format", "date-time"}, {"description", "Present for scheduled calls."}}},
		}},
	}
}

// methodSchema is the request schema of m: its parameters (from telego's
// parameter type, via the table) and telequeue's fields.
func methodSchema(m *tasks.Method, form bool) obj {
	doc := "https://core.telegram.org/bots/api#" + strings.ToLower(m.Name)
	files := client.FileParams(m.Name)
	var required []string
	props := obj{}
	for _, f := range m.Fields() {
		if f == "allow_paid_broadcast" && !m.Paid {
			continue // Telegram takes it for sends only; the API refuses it
		}
		if m.Required(f) {
			required = append(required, f)
		}
		var p obj
		switch {
		case slices.Contains(files, f) && form:
			p = obj{{"type", "string"}, {"format", "binary"}, {"description", "The file as a part of this name, or a text part: a file_id, an http(s) URL or attach://<name> naming another part."}}
		case slices.Contains(files, f):
			p = obj{{"type", "string"}, {"description", "A file_id, an http(s) URL, or attach://<name> naming a part of a multipart/form-data request."}}
		case f == "chat_id" || f == "from_chat_id":
			p = ref("ChatID")
		case f == "media" && form:
			p = obj{{"type", "string"}, {"description", "JSON text of the InputMedia (array for an album); media and thumbnail take attach://<name> of a file part."}}
		case f == "media":
			p = obj{{"description", "InputMedia (an array of them for an album), as the Bot API takes it; media and thumbnail take a file_id or URL."}}
		default:
			p = obj{{"description", "See " + doc + "."}}
		}
		props = append(props, kv{f, p})
	}
	if slices.Contains(m.Fields(), "message_id") && m.Kind != tasks.KindCallback {
		props = append(props,
			kv{tasks.FieldMessageTaskID, obj{{"type", "string"}, {"description", "The id of the queued task that sends the message, in place of message_id; chat_id (from_chat_id for a copy or forward) may then be left out. The call runs once that message is sent."}}},
			kv{tasks.FieldMessageTaskPart, obj{{"type", "integer"}, {"minimum", 0}, {"description", "Which message of that task's multi-part reply or album (0, the first, by default)."}}},
		)
	}
	props = append(props,
		kv{"bot", obj{{"type", "string"}, {"description", `The bot that makes the call (default "default").`}}},
	)
	if m.ChatAddressed() && m.Deadline() == 0 {
		props = append(props, kv{"ordered", obj{{"type", "boolean"}, {"description", "Deliver in the chat's order with its other ordered messages and calls (a send and its later edit)."}}})
	}
	if m.Coalesces() {
		props = append(props, kv{"coalesce", obj{{"type", "boolean"}, {"default", true}, {"description", "false delivers this edit even when a newer edit of the same message is queued before its turn (by default the older is superseded)."}}})
	}
	if m.Kind != tasks.KindCallback {
		props = append(props, kv{"priority", obj{{"type", "string"}, {"enum", []string{"critical", "default", "bulk"}}, {"default", "default"}}})
	}
	if m.Deadline() == 0 {
		props = append(props,
			kv{"send_at", obj{{"type", "string"}, {"format", "date-time"}, {"description", "Call at this time (RFC 3339); not with send_in."}}},
			kv{"send_in", obj{{"type", "string"}, {"description", "Call after this delay, e.g. 90s or 1h30m; not with send_at."}}},
		)
	}
	kind := "JSON"
	if form {
		kind = "multipart/form-data"
	}
	s := obj{
		{"type", "object"},
		{"description", fmt.Sprintf("%s of %s (%s), plus telequeue's fields.", kind, m.Name, doc)},
	}
	if len(required) > 0 {
		s = append(s, kv{"required", required})
	}
	s = append(s, kv{"properties", props})
	if form {
		s = append(s, kv{"additionalProperties", obj{{"type", "string"}, {"format", "binary"}, {"description", "A file part that an attach://<name> value names."}}})
	} else {
		s = append(s, kv{"additionalProperties", false})
	}
	return s
}

func TestOpenAPIMethods(t *testing.T) {
	want, err := withMethods(openAPI)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("openapi.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(want, openAPI) {
		t.Fatal("openapi.json is not up to date with tasks.Methods: run go test ./web -run TestOpenAPIMethods -update")
	}
	// Every method of the table has its path value and both schemas.
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name   string
				Schema struct{ Enum []string }
			}
		}
		Components struct {
			Schemas map[string]struct {
				Required   []string
				Properties map[string]json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	post, ok := doc.Paths["/v1/methods/{method}"]["post"]
	if !ok {
		t.Fatal("no POST /v1/methods/{method}")
	}
	enum := post.Parameters[0].Schema.Enum
	for _, m := range tasks.Methods() {
		if !slices.Contains(enum, m.Name) {
			t.Errorf("%s is not in the method parameter's enum", m.Name)
		}
		for _, name := range []string{m.Name + "Request", m.Name + "Form"} {
			s, ok := doc.Components.Schemas[name]
			if !ok {
				t.Errorf("no schema %s", name)
				continue
			}
			for _, f := range m.Fields() {
				if _, ok := s.Properties[f]; !ok && (f != "allow_paid_broadcast" || m.Paid) {
					t.Errorf("%s lacks %s", name, f)
				}
				if m.Required(f) != slices.Contains(s.Required, f) {
					t.Errorf("%s: %s required %v, want %v", name, f, !m.Required(f), m.Required(f))
				}
			}
		}
	}
}
