package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/calls"
	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/files"
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
	d := callDefaults{bot: f.bot, opts: calls.Options{Priority: client.Priority(f.priority), Key: f.key, SendIn: f.in}}
	c, opts, err := d.parse(m, fields)
	if err != nil {
		return err
	}
	q, err := newCallQueue(e)
	if err != nil {
		return err
	}
	defer q.Close()
	r, err := q.send(ctx, c, opts)
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
	opts calls.Options
}

// callOptionKeys are the fields of a call's JSON that are telequeue's, not
// the method's.
var callOptionKeys = [...]string{"bot", "priority", "idempotency_key", "send_in", "send_at"}

// parse takes telequeue's fields out of fields and returns the call of m
// with the rest as its parameters (files still as @PATH).
func (d *callDefaults) parse(m *tasks.Method, fields map[string]json.RawMessage) (*tasks.Call, calls.Options, error) {
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
			var p string
			if err = json.Unmarshal(raw, &p); err == nil {
				opts.Priority = client.Priority(p)
			}
		case "idempotency_key":
			err = json.Unmarshal(raw, &opts.Key)
		case "send_in":
			var in time.Duration
			if in, err = parseSendIn(raw); err == nil {
				opts.SendIn, opts.SendAt = in, time.Time{}
			}
		case "send_at":
			var at time.Time
			if err = json.Unmarshal(raw, &at); err == nil {
				opts.SendAt, opts.SendIn = at, 0
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

// callQueue queues calls with their files, over a Redis connection of its
// own.
type callQueue struct {
	rdb redis.UniversalClient
	q   *calls.Queue
}

// newCallQueue loads the configuration from the environment and connects.
func newCallQueue(e *env) (*callQueue, error) {
	cfg, err := config.Load(e.lookup, true)
	if err != nil {
		return nil, err
	}
	rc, err := cfg.Redis()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	level, err := config.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	rdb, ok := rc.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("config: unsupported Redis connection %T", rc)
	}
	store, err := files.NewStore(rdb, files.Config{MaxBytes: cfg.UploadMaxBytes})
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	q, err := calls.New(rdb, store, calls.Config{
		Bots: cfg.ProducerBotNames(), Retention: cfg.ResultRetention, MaxRetry: cfg.MaxRetry,
		Logger: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return &callQueue{rdb: rdb, q: q}, nil
}

func (cq *callQueue) Close() error { return cq.rdb.Close() }

// send uploads the files c names as @PATH, held by a new task id, and
// queues c under that id.
func (cq *callQueue) send(ctx context.Context, c *tasks.Call, opts calls.Options) (*client.Receipt, error) {
	m, ok := tasks.MethodByName(c.Method)
	if !ok {
		return nil, &tasks.ValidationError{Field: "method", Err: tasks.ErrUnknownMethod, Detail: c.Method}
	}
	id := cq.q.NewID()
	if err := cq.attach(ctx, id, m, c); err != nil {
		cq.q.Release(ctx, id, c.Uploads)
		return nil, err
	}
	return cq.q.Send(ctx, id, c, opts)
}

// attach uploads every @PATH file value of c's parameters and puts
// attach://<name> in its place.
func (cq *callQueue) attach(ctx context.Context, id string, m *tasks.Method, c *tasks.Call) error {
	if !bytes.Contains(c.Params, []byte(`"@`)) {
		return nil
	}
	var params map[string]json.RawMessage
	if err := json.Unmarshal(c.Params, &params); err != nil {
		return nil // Send names the problem
	}
	upload := func(field, name string, limit int64, raw json.RawMessage) (json.RawMessage, error) {
		var s string
		if json.Unmarshal(raw, &s) != nil || !strings.HasPrefix(s, "@") {
			return raw, nil
		}
		f, err := os.Open(s[1:])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		defer f.Close()
		u, err := cq.q.PutLimited(ctx, id, field, limit, f, filepath.Base(s[1:]), "")
		if err != nil {
			return nil, err
		}
		if c.Uploads == nil {
			c.Uploads = map[string]tasks.Upload{}
		}
		c.Uploads[name] = u
		return json.Marshal("attach://" + name)
	}
	var err error
	for _, f := range calls.FileParams(m) {
		if raw, ok := params[f]; ok {
			if params[f], err = upload(f, f, calls.FieldLimit(m, f), raw); err != nil {
				return err
			}
		}
	}
	if raw, ok := params["media"]; ok && m.TakesMedia() {
		if params["media"], err = attachMedia(raw, upload); err != nil {
			return err
		}
	}
	c.Params, err = json.Marshal(params)
	return err
}

// attachMedia uploads the @PATH media, thumbnails and covers of an
// InputMedia object, or of an array of them (an album), as media<i>,
// media<i>_thumbnail and media<i>_cover.
func attachMedia(raw json.RawMessage, upload func(field, name string, limit int64, raw json.RawMessage) (json.RawMessage, error)) (json.RawMessage, error) {
	var items []map[string]json.RawMessage
	single := false
	if json.Unmarshal(raw, &items) != nil {
		var item map[string]json.RawMessage
		if json.Unmarshal(raw, &item) != nil {
			return raw, nil // Send names the problem
		}
		items, single = []map[string]json.RawMessage{item}, true
	}
	for i, it := range items {
		field := "media"
		if !single {
			field = fmt.Sprintf("media[%d]", i)
		}
		var typ string
		_ = json.Unmarshal(it["type"], &typ)
		for _, k := range []string{"media", "thumbnail", "cover"} {
			v, ok := it[k]
			if !ok {
				continue
			}
			name := fmt.Sprintf("media%d", i)
			if k != "media" {
				name += "_" + k
			}
			limit := int64(tasks.MaxFileBytes)
			if k != "media" || typ == "photo" {
				limit = tasks.MaxPhotoBytes
			}
			var err error
			if it[k], err = upload(field+"."+k, name, limit, v); err != nil {
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
func (d *lineDefaults) parseCall(m *tasks.Method, line []byte) (*tasks.Call, calls.Options, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		return nil, calls.Options{}, fmt.Errorf("%w: %v", tasks.ErrMalformedPayload, err)
	}
	delete(fields, "method")
	if _, ok := fields["ordered"]; ok || d.ordered {
		return nil, calls.Options{}, &tasks.ValidationError{Field: "ordered", Err: tasks.ErrInvalidField, Detail: "ordered applies to sendMessage lines only"}
	}
	return d.call.parse(m, fields)
}
