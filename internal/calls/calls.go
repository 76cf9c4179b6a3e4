// Package calls queues a Bot API call given as Telegram takes it: the
// method's JSON parameters and the files they attach. It is the one path
// that the HTTP API (POST /v1/methods/{method}) and the CLI (telequeue
// call) share.
//
// A call is queued in three steps, so that an upload is held by the task
// that sends it from the moment it is stored:
//
//  1. [Queue.NewID] picks the task id up front.
//  2. [Queue.Put] stores each file in the upload store ([files.Store]),
//     held by that id, within its field's limit (a photo 10 MB, any other
//     file 50 MB, and at most Config.UploadMaxBytes).
//  3. [Queue.Send] validates the call (naming the field at fault), checks
//     the bot, claims the idempotency key and enqueues the task under the
//     id. When it fails, the call's uploads are released: nothing stays
//     stored and nothing is queued.
//
// Idempotency keys share their Redis keys and their meaning with the
// client's [client.IdempotencyKey]: a key used by a message is a duplicate
// for a call, and the other way round.
package calls

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/botreg"
	"github.com/telequeue/telequeue/internal/files"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redisx"
	"github.com/telequeue/telequeue/tasks"
)

// Config configures a [Queue]. Zero values mean the documented defaults.
type Config struct {
	// Bots lists the bot names workers know, as client.Config.Bots. Empty
	// (the default): names are checked against the registry the running
	// workers keep in Redis.
	Bots []string
	// Retention is how long a done task and its idempotency key are kept.
	// Default client.DefaultRetention (24h).
	Retention time.Duration
	// MaxRetry is the retry budget of a task. Default tasks.DefaultMaxRetry.
	MaxRetry int
	// Logger receives warnings; default: none.
	Logger *slog.Logger
}

func (cfg *Config) setDefaults() {
	if cfg.Retention == 0 {
		cfg.Retention = client.DefaultRetention
	}
	if cfg.MaxRetry == 0 {
		cfg.MaxRetry = tasks.DefaultMaxRetry
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
}

func (cfg *Config) validate() error {
	var errs []error
	if cfg.Retention < time.Second {
		errs = append(errs, fmt.Errorf("field Retention %v: must be at least 1s", cfg.Retention))
	}
	if cfg.MaxRetry < 1 {
		errs = append(errs, fmt.Errorf("field MaxRetry %d: must be at least 1", cfg.MaxRetry))
	}
	return errors.Join(errs...)
}

// Queue queues calls. It is safe for concurrent use.
type Queue struct {
	cfg       Config
	rdb       redis.UniversalClient
	store     *files.Store
	asynq     *asynq.Client
	inspector *asynq.Inspector
}

// New returns a Queue over rdb (which the caller keeps and closes) storing
// uploads in store.
func New(rdb redis.UniversalClient, store *files.Store, cfg Config) (*Queue, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("calls: config: %w", err)
	}
	if rdb == nil || store == nil {
		return nil, errors.New("calls: a Redis client and an upload store are required")
	}
	cfg.Bots = slices.Clone(cfg.Bots)
	return &Queue{
		cfg: cfg, rdb: rdb, store: store,
		asynq:     asynq.NewClientFromRedisClient(rdb),
		inspector: asynq.NewInspectorFromRedisClient(rdb),
	}, nil
}

// NewID returns a new task id: 26 lowercase base32 characters, as the
// client's.
func (q *Queue) NewID() string { return strings.ToLower(rand.Text()) }

// UploadError reports a file that was not stored: too large for its field
// (errors.Is [files.ErrTooLarge]), empty, or unreadable.
type UploadError struct {
	// Field is the parameter (e.g. "photo") or the attach name of the file.
	Field string
	// Limit is the largest size the field takes, for a file too large.
	Limit int64
	Err   error
}

func (e *UploadError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *UploadError) Unwrap() error { return e.Err }

// FileParams returns the top-level parameters of m that take a file:
// m.FileFields(), and "thumbnail" when m has it (telego types it
// *InputFile, which the table does not list as a file field yet).
func FileParams(m *tasks.Method) []string {
	out := m.FileFields()
	if slices.Contains(m.Fields(), "thumbnail") && !slices.Contains(out, "thumbnail") {
		out = append(out, "thumbnail")
	}
	return out
}

// FieldLimit is Telegram's limit for a file in field of method m:
// tasks.MaxPhotoBytes for a photo (and a thumbnail), tasks.MaxFileBytes
// otherwise, including a file attached under a name of its own (checked
// against its field once the call names it).
func FieldLimit(m *tasks.Method, field string) int64 {
	if m != nil && slices.Contains(FileParams(m), field) && (field == "photo" || field == "thumbnail") {
		return tasks.MaxPhotoBytes
	}
	return tasks.MaxFileBytes
}

// Limit is the largest upload Put accepts for field of m: the smaller of
// [FieldLimit] and the store's UPLOAD_MAX_BYTES.
func (q *Queue) Limit(m *tasks.Method, field string) int64 {
	return q.store.Limit(FieldLimit(m, field))
}

// Put stores r's content for field of a call of m, held by the task id,
// and returns its reference for tasks.Call.Uploads. A file over its limit
// ([Queue.Limit]) is an [*UploadError] wrapping [files.ErrTooLarge], and
// nothing is stored.
func (q *Queue) Put(ctx context.Context, id string, m *tasks.Method, field string, r io.Reader, name, contentType string) (tasks.Upload, error) {
	return q.PutLimited(ctx, id, field, FieldLimit(m, field), r, name, contentType)
}

// PutLimited is Put for a file whose field's Telegram limit the caller
// knows (e.g. tasks.MaxPhotoBytes for "media[0].media" of a photo item);
// the store's UPLOAD_MAX_BYTES caps it.
func (q *Queue) PutLimited(ctx context.Context, id, field string, limit int64, r io.Reader, name, contentType string) (tasks.Upload, error) {
	limit = q.store.Limit(limit)
	u, err := q.store.Put(ctx, id, r, name, contentType, limit)
	switch {
	case errors.Is(err, files.ErrTooLarge), errors.Is(err, files.ErrEmpty):
		return u, &UploadError{Field: field, Limit: limit, Err: err}
	case err != nil:
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return u, &UploadError{Field: field, Limit: limit, Err: fmt.Errorf("%w: %w", files.ErrTooLarge, err)}
		}
		return u, fmt.Errorf("calls: store %s: %w", field, unavailable(err))
	}
	return u, nil
}

// Attachment is the parameter that attaches a file by name.
type Attachment struct {
	// Field is the parameter, as validation names it: "photo",
	// "media[1].media", "media.thumbnail".
	Field string
	// Limit is Telegram's limit for it: tasks.MaxPhotoBytes for a photo or
	// thumbnail, tasks.MaxFileBytes otherwise.
	Limit int64
}

// Attachments maps the attach names that params (a call's parameters, by
// name, as JSON) give with "attach://<name>" to the parameters that give
// them: top-level ones and those of the items of "media". What does not
// parse maps nothing (validation names it later).
func Attachments(params map[string]json.RawMessage) map[string]Attachment {
	out := map[string]Attachment{}
	limit := func(photo bool) int64 {
		if photo {
			return tasks.MaxPhotoBytes
		}
		return tasks.MaxFileBytes
	}
	for key, v := range params {
		if name, ok := attachName(v); ok {
			out[name] = Attachment{Field: key, Limit: limit(key == "photo" || key == "thumbnail")}
		}
	}
	var items []map[string]json.RawMessage
	var item map[string]json.RawMessage
	single := false
	switch {
	case json.Unmarshal(params["media"], &items) == nil:
	case json.Unmarshal(params["media"], &item) == nil:
		items, single = []map[string]json.RawMessage{item}, true
	}
	for i, it := range items {
		var typ string
		_ = json.Unmarshal(it["type"], &typ)
		prefix := fmt.Sprintf("media[%d]", i)
		if single {
			prefix = "media"
		}
		for _, key := range []string{"media", "thumbnail", "cover"} {
			if name, ok := attachName(it[key]); ok {
				out[name] = Attachment{Field: prefix + "." + key, Limit: limit(key != "media" || typ == "photo")}
			}
		}
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

// Release frees the uploads that task id holds. Send does it when it fails;
// a caller that stored uploads and does not call Send does it itself.
// Errors are logged: the uploads then expire with their retention.
func (q *Queue) Release(ctx context.Context, id string, ups map[string]tasks.Upload) {
	if len(ups) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := q.store.Release(ctx, id, slices.Collect(maps.Values(ups))...); err != nil {
		q.cfg.Logger.WarnContext(ctx, "calls: release uploads; they expire with their retention", "task_id", id, "error", err)
	}
}

// Options are how a call is queued.
type Options struct {
	// Priority is the queue (critical, default or bulk); empty: default.
	// answerCallbackQuery always goes to tasks.QueueCallbacks and takes no
	// priority.
	Priority client.Priority
	// Key is the idempotency key; empty: none.
	Key string
	// SendAt or SendIn schedule the call (at most one; at most
	// client.MaxScheduleAhead ahead).
	SendAt time.Time
	SendIn time.Duration
}

// Send validates c and queues it as task id, held uploads and all. It
// returns a *tasks.ValidationError naming the field at fault (field
// "priority", "send_at" or "send_in" for a bad option, "bot" for a bot no
// worker serves), a *client.DuplicateError for an idempotency key used
// before, and errors wrapping client.ErrUnavailable when Redis cannot be
// reached. On any error c's uploads are released and nothing is queued.
func (q *Queue) Send(ctx context.Context, id string, c *tasks.Call, opts Options) (*client.Receipt, error) {
	r, err := q.send(ctx, id, c, opts)
	if err != nil {
		q.Release(ctx, id, c.Uploads)
		return nil, err
	}
	return r, nil
}

func (q *Queue) send(ctx context.Context, id string, c *tasks.Call, opts Options) (*client.Receipt, error) {
	if id == "" {
		return nil, errors.New("calls: empty task id")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m, _ := tasks.MethodByName(c.Method) // known: Validate checked it
	now := time.Now()
	queue, processAt, err := schedule(m, opts, now)
	if err != nil {
		return nil, err
	}
	if err := q.checkBot(ctx, c.BotName()); err != nil {
		return nil, err
	}
	aopts := []asynq.Option{asynq.TaskID(id), asynq.MaxRetry(q.cfg.MaxRetry), asynq.Retention(q.cfg.Retention)}
	if queue != "" {
		aopts = append(aopts, asynq.Queue(queue))
	}
	if !processAt.IsZero() {
		aopts = append(aopts, asynq.ProcessAt(processAt))
	}
	task, err := tasks.NewCallTask(c, aopts...)
	if err != nil {
		return nil, err
	}
	if opts.Key != "" {
		headers := maps.Clone(task.Headers())
		if headers == nil {
			headers = map[string]string{}
		}
		headers[tasks.HeaderIdempotencyKey] = opts.Key
		task = asynq.NewTaskWithHeaders(task.Type(), task.Payload(), headers, append(tasks.DefaultOptions(task.Type(), 0), aopts...)...)
	}
	if queue == "" {
		queue = queueOf(task.Type())
	}
	val := id + "|" + queue
	if opts.Key != "" {
		ttl := q.cfg.Retention
		if !processAt.IsZero() {
			ttl += time.Until(processAt)
		}
		if err := q.claimKey(ctx, opts.Key, val, ttl); err != nil {
			return nil, err
		}
	}
	if _, err := q.asynq.EnqueueContext(ctx, task); err != nil {
		if !q.enqueuedAnyway(ctx, queue, id, opts.Key, val, err) {
			return nil, fmt.Errorf("calls: enqueue: %w", unavailable(err))
		}
	}
	return &client.Receipt{ID: id, Queue: queue, ScheduledAt: processAt}, nil
}

// queueOf is the queue tasks.DefaultOptions gives a task type.
func queueOf(typ string) string {
	if m, ok := tasks.MethodByType(typ); ok && m.Kind == tasks.KindCallback {
		return tasks.QueueCallbacks
	}
	return tasks.QueueDefault
}

// schedule checks the options' priority and time: the queue ("" for the
// method's default) and when the task is due (zero: now).
func schedule(m *tasks.Method, opts Options, now time.Time) (string, time.Time, error) {
	var queue string
	if opts.Priority != "" {
		if !opts.Priority.Valid() {
			return "", time.Time{}, &tasks.ValidationError{Field: "priority", Err: tasks.ErrInvalidField,
				Detail: fmt.Sprintf("%q: use critical, default or bulk", string(opts.Priority))}
		}
		if m.Kind == tasks.KindCallback {
			return "", time.Time{}, &tasks.ValidationError{Field: "priority", Err: tasks.ErrInvalidField,
				Detail: m.Name + " always goes to the " + tasks.QueueCallbacks + " queue"}
		}
		queue = string(opts.Priority)
	}
	if opts.Key != "" {
		if err := checkKey(opts.Key); err != nil {
			return "", time.Time{}, err
		}
	}
	var at time.Time
	field := "send_at"
	switch {
	case !opts.SendAt.IsZero() && opts.SendIn != 0:
		return "", time.Time{}, &tasks.ValidationError{Field: "send_in", Err: tasks.ErrInvalidField, Detail: "set either send_at or send_in, not both"}
	case !opts.SendAt.IsZero():
		at = opts.SendAt
	case opts.SendIn < 0:
		return "", time.Time{}, &tasks.ValidationError{Field: "send_in", Err: tasks.ErrInvalidField, Detail: "must not be negative"}
	case opts.SendIn > 0:
		at, field = now.Add(opts.SendIn), "send_in"
	}
	if at.Sub(now) > client.MaxScheduleAhead {
		return "", time.Time{}, &tasks.ValidationError{Field: field, Err: tasks.ErrInvalidField,
			Detail: fmt.Sprintf("more than %v ahead (the furthest a send can be scheduled)", client.MaxScheduleAhead)}
	}
	if !at.After(now) {
		return queue, time.Time{}, nil
	}
	if m.Deadline() > 0 {
		return "", time.Time{}, &tasks.ValidationError{Field: field, Err: tasks.ErrInvalidField,
			Detail: fmt.Sprintf("%s is worthless after %v: it cannot be scheduled", m.Name, m.Deadline())}
	}
	return queue, at, nil
}

// checkKey checks an idempotency key as client.IdempotencyKey does.
func checkKey(key string) error {
	n := utf8.RuneCountInString(key)
	if n > client.MaxIdempotencyKeyLength || !utf8.ValidString(key) || !isPrintable(key) {
		return &tasks.ValidationError{Field: "idempotency_key", Err: tasks.ErrInvalidField,
			Detail: fmt.Sprintf("must have 1 to %d printable characters", client.MaxIdempotencyKeyLength)}
	}
	return nil
}

func isPrintable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// checkBot refuses a bot no worker serves.
func (q *Queue) checkBot(ctx context.Context, name string) error {
	if len(q.cfg.Bots) > 0 {
		return tasks.CheckBot(name, q.cfg.Bots)
	}
	known, err := botreg.Known(ctx, q.rdb)
	if err != nil {
		return fmt.Errorf("calls: bot registry: %w", unavailable(err))
	}
	if slices.Contains(known, name) {
		return nil
	}
	slices.Sort(known)
	detail := fmt.Sprintf("%q: no running worker serves this bot (known: %s)", name, strings.Join(known, ", "))
	if len(known) == 0 {
		detail = fmt.Sprintf("%q: no running worker serves this bot: no worker has registered any bot in the last %v (is one running?)", name, botreg.TTL)
	}
	return &tasks.ValidationError{Field: "bot", Err: tasks.ErrUnknownBot, Detail: detail}
}

// claimScript sets the idempotency key unless it exists, and returns the
// existing value if it does; as the client's, so that keys mean the same
// for messages and calls.
var claimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
`)

// releaseScript deletes the key only if it still holds our value.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

func (q *Queue) claimKey(ctx context.Context, key, val string, ttl time.Duration) error {
	prev, err := claimScript.Run(ctx, q.rdb, []string{keys.Idempotency(key)}, val, strconv.FormatInt(ttl.Milliseconds(), 10)).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return nil
	case err != nil:
		return fmt.Errorf("calls: idempotency key: %w", unavailable(err))
	}
	id, queue, _ := strings.Cut(prev, "|")
	return &client.DuplicateError{Key: key, ID: id, Queue: queue}
}

// enqueuedAnyway handles a failed enqueue as the client does: when the
// outcome is unknown and the task exists, the enqueue worked; otherwise the
// key is released, unless Redis cannot tell (then a retry is reported as a
// duplicate rather than risk calling twice).
func (q *Queue) enqueuedAnyway(ctx context.Context, queue, id, key, val string, enqErr error) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if redisx.Unreachable(enqErr) || errors.Is(enqErr, context.DeadlineExceeded) || errors.Is(enqErr, context.Canceled) {
		_, err := q.inspector.GetTaskInfo(queue, id)
		switch {
		case err == nil:
			return true
		case !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound):
			if key != "" {
				q.cfg.Logger.WarnContext(ctx, "calls: enqueue outcome unknown; idempotency key kept", "task_id", id, "queue", queue, "error", err)
			}
			return false
		}
	}
	if key != "" {
		if err := releaseScript.Run(ctx, q.rdb, []string{keys.Idempotency(key)}, val).Err(); err != nil {
			q.cfg.Logger.WarnContext(ctx, "calls: release idempotency key", "task_id", id, "error", err)
		}
	}
	return false
}

// unavailable wraps a connection failure with client.ErrUnavailable.
func unavailable(err error) error {
	if err == nil || errors.Is(err, client.ErrUnavailable) || !redisx.Unreachable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", client.ErrUnavailable, err)
}
