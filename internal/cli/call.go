package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/tasks"
)

const callAbout = `Queues one call of a Bot API method and prints its task id.

JSON is the method's parameters exactly as the Bot API takes them ("-" reads
them from standard input), e.g.
  telequeue call sendPhoto '{"chat_id": 42, "photo": "@cat.jpg", "caption": "Cat"}'
  telequeue call editMessageText '{"chat_id": 42, "message_id": 7, "text": "v2"}'
  telequeue call answerCallbackQuery '{"callback_query_id": "4382bf", "text": "Saved"}'
A file parameter (photo, document, ..., and "media" and "thumbnail" inside
sendMediaGroup's and editMessageMedia's "media") takes a file_id, an http(s)
URL, or @PATH: the file at PATH is uploaded (a photo up to 10 MB, other files
up to 50 MB). The JSON may also carry "bot", "priority", "idempotency_key",
"send_in" and "send_at", as JSONL lines of "telequeue send" do; the flags
apply when it does not. A repeated --key prints the first task's id and
queues nothing.

In "telequeue send --jsonl", a line with "method" (default sendMessage) is
a call of that method: its parameters plus the same fields.`

// maxCallInput bounds the JSON of a call read from an argument or stdin.
const maxCallInput = 1 << 20

// callFlags are the flags of "telequeue call".
type callFlags struct {
	bot, priority, key string
	in                 time.Duration
}

func runCall(ctx context.Context, e *env, args []string) error {
	var f callFlags
	fs := newFlagSet(e, "call", "[flags] METHOD JSON|-", callAbout)
	fs.StringVar(&f.bot, "bot", "", `bot name from TELEGRAM_BOTS (default "default")`)
	fs.StringVar(&f.priority, "priority", "", `critical, default or bulk (default "default")`)
	fs.StringVar(&f.key, "key", "", "idempotency key: a repeat with the same key queues nothing")
	fs.DurationVar(&f.in, "in", 0, "call after this delay, e.g. 10s or 2h")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("want METHOD and JSON (or - for standard input)")
	}
	m, ok := tasks.MethodByName(pos[0])
	if !ok {
		return usagef("method %q: telequeue queues %s", pos[0], methodList())
	}
	if f.priority != "" && !client.Priority(f.priority).Valid() {
		return usagef("--priority %q: use critical, default or bulk", f.priority)
	}
	if f.in < 0 {
		return usagef("--in %v: must not be negative", f.in)
	}
	input := []byte(pos[1])
	if pos[1] == "-" {
		if input, err = io.ReadAll(io.LimitReader(e.stdin, maxCallInput+1)); err != nil {
			return fmt.Errorf("read JSON: %w", err)
		}
		if len(input) > maxCallInput {
			return fmt.Errorf("the JSON on standard input exceeds %d bytes", maxCallInput)
		}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(input, &fields); err != nil || fields == nil {
		return usagef("JSON: want a JSON object of the method's parameters")
	}
	d := callDefaults{bot: f.bot, opts: callOptions{priority: f.priority, key: f.key, sendIn: f.in}}
	c, opts, err := d.parse(m, fields)
	if err != nil {
		return err
	}
	cl, err := newClient(e)
	if err != nil {
		return err
	}
	defer cl.Close()
	r, err := sendCall(ctx, cl, c, opts)
	if dup, err := reportDuplicate(e, "call", "task", err); dup || err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, r.ID)
	return err
}

func methodList() string {
	var names []string
	for _, m := range tasks.Methods() {
		names = append(names, m.Name)
	}
	return strings.Join(names, ", ")
}

// callDefaults are the flags that apply to a call that does not say
// otherwise.
type callDefaults struct {
	bot  string
	opts callOptions
}

// callOptions are how a call is queued: its flags or its JSON's fields.
type callOptions struct {
	priority, key string
	sendAt        time.Time
	sendIn        time.Duration
}

// options are o as the client's options, for a call of bot.
func (o callOptions) options(bot string) []client.Option {
	var opts []client.Option
	if bot != "" {
		opts = append(opts, client.Bot(bot))
	}
	if o.priority != "" {
		opts = append(opts, client.Priority(o.priority))
	}
	if o.key != "" {
		opts = append(opts, client.IdempotencyKey(o.key))
	}
	switch {
	case !o.sendAt.IsZero():
		opts = append(opts, client.SendAt(o.sendAt))
	case o.sendIn > 0:
		opts = append(opts, client.SendIn(o.sendIn))
	}
	return opts
}

// callOptionFields name the fields of a call's JSON behind the client's
// options (client.OptionError.Option).
var callOptionFields = map[string]string{
	"Bot": "bot", "Priority": "priority", "IdempotencyKey": "idempotency_key", "SendAt": "send_at", "SendIn": "send_in",
}

// callOptionKeys are the fields of a call's JSON that are telequeue's, not
// the method's.
var callOptionKeys = [...]string{"bot", "priority", "idempotency_key", "send_in", "send_at"}

// parse takes telequeue's fields out of fields and returns the call of m
// with the rest as its parameters (files still as @PATH).
func (d *callDefaults) parse(m *tasks.Method, fields map[string]json.RawMessage) (*tasks.Call, callOptions, error) {
	opts := d.opts
	bot := d.bot
	for _, k := range callOptionKeys {
		raw, ok := fields[k]
		if !ok {
			continue
		}
		delete(fields, k)
		var err error
		switch k {
		case "bot":
			err = json.Unmarshal(raw, &bot)
		case "priority":
			err = json.Unmarshal(raw, &opts.priority)
		case "idempotency_key":
			err = json.Unmarshal(raw, &opts.key)
		case "send_in":
			var in time.Duration
			if in, err = parseSendIn(raw); err == nil {
				opts.sendIn, opts.sendAt = in, time.Time{}
			}
		case "send_at":
			var at time.Time
			if err = json.Unmarshal(raw, &at); err == nil {
				opts.sendAt, opts.sendIn = at, 0
			}
		}
		if err != nil {
			return nil, opts, &tasks.ValidationError{Field: k, Err: tasks.ErrInvalidField, Detail: lineOptionHelp(k)}
		}
	}
	params, err := json.Marshal(fields)
	if err != nil {
		return nil, opts, fmt.Errorf("%w: %v", tasks.ErrMalformedPayload, err)
	}
	return &tasks.Call{Bot: bot, Method: m.Name, Params: params}, opts, nil
}

// sendCall queues c with the client, the files its parameters name as
// @PATH uploaded. A bad option is reported under the JSON field (or flag
// value) behind it.
func sendCall(ctx context.Context, cl *client.Client, c *tasks.Call, o callOptions) (*client.Receipt, error) {
	params, files, err := attach(c.Method, c.Params)
	defer func() {
		for _, f := range files {
			_ = f.Reader.(io.Closer).Close()
		}
	}()
	if err != nil {
		return nil, err
	}
	r, err := cl.CallJSON(ctx, c.Method, params, files, o.options(c.Bot)...)
	var oe *client.OptionError
	if errors.As(err, &oe) {
		if field, ok := callOptionFields[oe.Option]; ok {
			return nil, &tasks.ValidationError{Field: field, Err: tasks.ErrInvalidField, Detail: oe.Err.Error()}
		}
	}
	return r, err
}

// attach replaces every @PATH file value of a call's parameters (a file
// parameter of the method, and the media, thumbnail and cover of the
// InputMedia of "media") with attach://<name>, and opens the files: the
// client reads and stores them within their fields' limits. The caller
// closes the files, also on error.
func attach(method string, raw json.RawMessage) (json.RawMessage, map[string]client.File, error) {
	if !bytes.Contains(raw, []byte(`"@`)) {
		return raw, nil, nil
	}
	var params map[string]json.RawMessage
	if err := json.Unmarshal(raw, &params); err != nil {
		return raw, nil, nil // the client names the problem
	}
	files := map[string]client.File{}
	open := func(field, name string, v json.RawMessage) (json.RawMessage, error) {
		var s string
		if json.Unmarshal(v, &s) != nil || !strings.HasPrefix(s, "@") {
			return v, nil
		}
		f, err := os.Open(s[1:])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		files[name] = client.File{Reader: f, Name: filepath.Base(s[1:])}
		return json.Marshal("attach://" + name)
	}
	var err error
	for _, f := range client.FileParams(method) {
		if v, ok := params[f]; ok {
			if params[f], err = open(f, f, v); err != nil {
				return nil, files, err
			}
		}
	}
	if v, ok := params["media"]; ok {
		if params["media"], err = attachMedia(v, open); err != nil {
			return nil, files, err
		}
	}
	out, err := json.Marshal(params)
	return out, files, err
}

// attachMedia opens the @PATH media, thumbnails and covers of an
// InputMedia object, or of an array of them (an album), as media<i>,
// media<i>_thumbnail and media<i>_cover.
func attachMedia(raw json.RawMessage, open func(field, name string, v json.RawMessage) (json.RawMessage, error)) (json.RawMessage, error) {
	var items []map[string]json.RawMessage
	single := false
	if json.Unmarshal(raw, &items) != nil {
		var item map[string]json.RawMessage
		if json.Unmarshal(raw, &item) != nil {
			return raw, nil // the client names the problem
		}
		items, single = []map[string]json.RawMessage{item}, true
	}
	for i, it := range items {
		field := "media"
		if !single {
			field = fmt.Sprintf("media[%d]", i)
		}
		for _, k := range []string{"media", "thumbnail", "cover"} {
			v, ok := it[k]
			if !ok {
				continue
			}
			name := fmt.Sprintf("media%d", i)
			if k != "media" {
				name += "_" + k
			}
			var err error
			if it[k], err = open(field+"."+k, name, v); err != nil {
				return nil, err
			}
		}
	}
	if single {
		return json.Marshal(items[0])
	}
	return json.Marshal(items)
}

// isCallLine reports whether a JSONL line names a method other than
// sendMessage, and which.
func isCallLine(line []byte) (*tasks.Method, bool, error) {
	if !bytes.Contains(line, []byte(`"method"`)) {
		return nil, false, nil
	}
	var l struct {
		Method *string `json:"method"`
	}
	if err := json.Unmarshal(line, &l); err != nil || l.Method == nil {
		return nil, false, nil // the sendMessage path names the problem
	}
	m, ok := tasks.MethodByName(*l.Method)
	if !ok {
		return nil, false, &tasks.ValidationError{Field: "method", Err: tasks.ErrUnknownMethod, Detail: fmt.Sprintf("%q", *l.Method)}
	}
	return m, true, nil
}

// parseCall decodes a JSONL line of method m: its parameters and the
// per-line fields, over the flags' defaults.
func (d *lineDefaults) parseCall(m *tasks.Method, line []byte) (*tasks.Call, callOptions, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		return nil, callOptions{}, fmt.Errorf("%w: %v", tasks.ErrMalformedPayload, err)
	}
	delete(fields, "method")
	if _, ok := fields["ordered"]; ok || d.ordered {
		return nil, callOptions{}, &tasks.ValidationError{Field: "ordered", Err: tasks.ErrInvalidField, Detail: "ordered applies to sendMessage lines only"}
	}
	return d.call.parse(m, fields)
}
