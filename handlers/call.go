package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net/textproto"
	"sort"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
	ta "github.com/mymmrac/telego/telegoapi"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/files"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/ratelimit"
	"github.com/telequeue/telequeue/tasks"
)

// MethodCaller calls any Bot API method with one bot. The senders of
// [NewBots] implement it; [CallHandler] needs it. Errors are as
// [Sender.SendMessage]'s: a refused call wraps a *telegoapi.Error,
// anything else a [*TransportError].
type MethodCaller interface {
	CallMethod(ctx context.Context, method string, body *ta.RequestData) (json.RawMessage, error)
}

// Uploads is the store of uploaded files the [CallHandler] reads (see
// [NewUploadStore]).
type Uploads interface {
	// Open returns an upload's bytes.
	Open(ctx context.Context, u tasks.Upload) ([]byte, error)
	// FileID returns the file_id Telegram gave bot for the upload, "" if
	// none yet.
	FileID(ctx context.Context, bot string, u tasks.Upload) (string, error)
	// SetFileID records the file_id Telegram gave bot for the upload.
	SetFileID(ctx context.Context, bot string, u tasks.Upload, fileID string) error
	// Release says that holder (a task id) no longer needs the uploads.
	Release(ctx context.Context, holder string, ups ...tasks.Upload) error
}

// UploadClaims is implemented by upload stores that let one sender upload a
// file while the others sending the same file wait for the file_id it gets
// (the store of [NewUploadStore] does). Without it, first sends of one file
// that run at once each upload it: a photo broadcast to thousands of chats
// would reach Telegram as many times as senders started on it before the
// first file_id was stored.
type UploadClaims interface {
	// ClaimUpload claims the upload of u by bot for ttl unless another
	// sender holds the claim (ok false). release frees it.
	ClaimUpload(ctx context.Context, bot string, u tasks.Upload, ttl time.Duration) (release func(), ok bool, err error)
}

var _ UploadClaims = (*files.Store)(nil)

// How a sender waits for another's upload of the same file.
const (
	// uploadClaimTTL bounds a claim whose holder died before releasing it.
	uploadClaimTTL = 30 * time.Second
	// uploadWait is the longest a sender waits for another's upload; then
	// it uploads the file itself.
	uploadWait = 10 * time.Second
	// uploadPoll is how often a waiting sender looks for the file_id.
	uploadPoll = 20 * time.Millisecond
)

// CallHandler handles the task type of every method in [tasks.Methods] but
// sendMessage: one pipeline for all of them. It decodes and validates the
// payload, asks the limiter for the method's slots (its cost, its kind's
// limits), calls the method, classifies the answer as for sendMessage (429,
// 403, 5xx, migrate_to_chat_id, with the method's own successes such as
// "message is not modified"), and records the sent marker, the result and
// the outcome event in one round trip.
type CallHandler struct {
	core    *SendMessageHandler
	uploads Uploads
	files   uploader
	refs    *refResolver
}

// uploader builds requests with files and learns their file_ids, for
// calls and for broadcasts of calls.
type uploader struct {
	uploads Uploads // nil: no upload store
	log     *slog.Logger
}

var _ asynq.Handler = (*CallHandler)(nil)

// NewCallHandler returns the handler of every table method, sharing send's
// bots, limiter, markers, observer and outcome stream (and its budget of
// senders that may sleep on a chat's limit). Every sender must implement
// [MethodCaller] (those of [NewBots] do). uploads may be nil if no task
// carries an upload (one that does is then archived).
func NewCallHandler(send *SendMessageHandler, uploads Uploads) (*CallHandler, error) {
	for name, s := range send.bots {
		if _, ok := s.(MethodCaller); !ok {
			return nil, fmt.Errorf("handlers: bot %q: its sender cannot call any method (use NewBots)", name)
		}
	}
	return &CallHandler{core: send, uploads: uploads, files: uploader{uploads: uploads, log: send.log},
		refs: &refResolver{rdb: send.rdb, insp: send.insp, log: send.log}}, nil
}

// Handlers maps the task type of every table method but sendMessage to h,
// and its ordered variant (tasks.OrderedType) to h behind an
// [OrderedHandler] with cfg.
func (h *CallHandler) Handlers(cfg OrderedConfig) (map[string]asynq.Handler, error) {
	ordered, err := NewOrderedHandler(h, cfg)
	if err != nil {
		return nil, err
	}
	out := map[string]asynq.Handler{}
	for _, m := range tasks.Methods() {
		if m.Type != tasks.TypeSendMessage {
			out[m.Type] = h
			out[tasks.OrderedType(m.Type)] = ordered
		}
	}
	out[tasks.TypeSendMessageRef] = h // a reply to a queued message
	return out, nil
}

// ErrUploadMissing: an upload a task needs is no longer stored (its
// retention ended); the task is archived.
var ErrUploadMissing = files.ErrMissing

// NewUploadStore returns telequeue's upload store in rdb: each upload stored
// once per content, shared by the tasks that use it, removed when the last
// of them is final or after 7 days. maxBytes is the largest upload accepted
// (0: tasks.MaxFileBytes).
func NewUploadStore(rdb redis.UniversalClient, maxBytes int64) (Uploads, error) {
	return files.NewStore(rdb, files.Config{MaxBytes: maxBytes})
}

// ProcessTask makes one call.
func (h *CallHandler) ProcessTask(ctx context.Context, t *asynq.Task) (err error) {
	defer func() { err = Expired(t, err) }()
	ctx, cancel, err := withDeadline(ctx, t)
	defer cancel()
	if err != nil {
		return err
	}
	c, err := decodeTask(t, tasks.ParseCall)
	if err != nil {
		return err
	}
	botName := c.BotName()
	sender, err := senderOf(h.core.bots, botName)
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	bot := sender.(MethodCaller) // checked by NewCallHandler
	taskID, _ := asynq.GetTaskID(ctx)
	m := c.MethodInfo()
	limited := h.core.limiter != nil && m.Kind != tasks.KindCallback
	outcome := tasks.OutcomeSent

	var check *sentCheck
	if h.core.rdb != nil && taskID != "" {
		if limited {
			check = &sentCheck{key: keys.Sent(taskID)}
		} else if done, err := h.core.alreadySent(ctx, t, taskID); err != nil || done {
			return err
		}
	}

	// Coalescing looks at the call as queued: its target may be a
	// referenced message, known to the producer only by its task.
	stale := h.supersededCheck(t, taskID, c)
	if len(refsOf(c)) > 0 {
		queue, _ := asynq.GetQueueName(ctx)
		resolved, err := h.refs.resolve(ctx, queue, taskID, c)
		if err != nil {
			if FailureEvent(ctx, t, err) != nil {
				h.release(ctx, taskID, c)
			}
			return err
		}
		c = resolved
	}
	res, err := h.call(ctx, botName, bot, taskID, c, limited, check, stale)
	if errors.Is(err, errSuperseded) {
		h.core.obs.Sent(botName, OutcomeSuperseded, 0)
		res = &tasks.CallResult{Method: c.Method, ChatID: c.Chat().ID, Superseded: true}
		err = nil
		outcome = tasks.OutcomeSuperseded
	}
	if errors.Is(err, errAlreadySent) {
		h.release(ctx, taskID, c)
		return h.core.completeSent(ctx, t, taskID, check.marker)
	}
	if err != nil {
		if FailureEvent(ctx, t, err) != nil {
			// The task ends here (archived): its uploads are not needed.
			h.release(ctx, taskID, c)
		}
		return err
	}
	data, err := json.Marshal(res)
	if err != nil {
		return err
	}
	chat := c.Chat().String()
	if c.Chat() == (telego.ChatID{}) {
		chat = ""
	}
	ev := newEvent(ctx, t, outcome, botName, chat)
	ev.ChatID, ev.MigratedFrom, ev.MessageIDs = res.ChatID, res.MigratedFrom, res.MessageIDs
	if len(c.Uploads) == 0 {
		return h.core.recordDelivery(ctx, t, taskID, data, ev)
	}
	// The uploads are freed once the marker is stored: a rerun without it
	// would need them.
	if err := h.core.recordDeliveryNow(ctx, t, taskID, data, ev); err != nil {
		return err
	}
	h.release(ctx, taskID, c)
	return nil
}

// release frees the task's uploads once it is done with them. A failure
// only delays their removal to the end of their retention.
func (h *CallHandler) release(ctx context.Context, taskID string, c *tasks.Call) {
	if h.uploads == nil || len(c.Uploads) == 0 || taskID == "" {
		return
	}
	ups := make([]tasks.Upload, 0, len(c.Uploads))
	for _, u := range c.Uploads {
		ups = append(ups, u)
	}
	tctx, cancel := tidyContext(ctx)
	defer cancel()
	if err := h.uploads.Release(tctx, taskID, ups...); err != nil {
		h.core.log.WarnContext(ctx, "could not release the task's uploads; they expire with their retention", "task_id", taskID, "error", err)
	}
}

// call makes c's call, following migrate_to_chat_id, and returns its
// result. Errors are sorted into retry classes as for sendMessage.
func (h *CallHandler) call(ctx context.Context, botName string, bot MethodCaller, taskID string, c *tasks.Call, limited bool, check *sentCheck, stale func(context.Context) error) (*tasks.CallResult, error) {
	m := c.MethodInfo()
	chat := c.Chat()
	// Before the slot: a sender waiting for another's upload must not
	// hold a slot of Telegram's limits, or its call would reach Telegram
	// later than the slot allows.
	start := time.Now()
	release, err := h.files.awaitUploads(ctx, botName, c)
	if err != nil {
		return nil, err
	}
	defer release() // after rememberFileIDs: waiting senders find the file_id
	if !limited && time.Since(start) >= uploadPoll {
		// It waited for another sender's upload: without a limiter call to
		// ride, the fence is read on its own (with one, it rides that).
		if err := readFence(ctx, h.core.rdb, h.core.log); err != nil {
			return nil, err
		}
	}
	var migratedFrom int64
	for migrations := 0; ; migrations++ {
		k := callLimitKey(botName, c, chat)
		if limited {
			if err := h.core.waitForSlotUnless(ctx, botName, k, check, stale); err != nil {
				return nil, err
			}
		} else if stale != nil {
			if err := stale(ctx); err != nil {
				return nil, err
			}
		}
		body, err := h.files.request(ctx, botName, c, chat)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		raw, callErr := bot.CallMethod(ctx, m.Name, body)
		v := classifyCall(m, callErr, botName, migrations)
		h.core.obs.Sent(botName, v.outcome, time.Since(start))
		switch v.class {
		case classSent:
			h.files.rememberFileIDs(ctx, botName, c, raw)
			res := callResult(m, raw, chat, migratedFrom)
			res.NotModified, res.AlreadyGone = v.notModified, v.alreadyGone
			return res, nil
		case classMigrated:
			h.core.log.InfoContext(ctx, "group migrated to a supergroup; calling again with the new chat",
				"task_id", taskID, "bot", botName, "method", m.Name, "chat_id", chat.String(), "new_chat_id", v.migrateTo)
			if migratedFrom == 0 {
				migratedFrom = chat.ID
			}
			chat = telego.ChatID{ID: v.migrateTo}
			continue
		case classRateLimited:
			if limited {
				throttled(ctx, h.core.limiter, h.core.log, k, v.retryAfter, "task_id", taskID, "bot", botName)
			}
		case classUnauthorized:
			h.core.log.ErrorContext(ctx, "Telegram rejected the bot token: check the worker's configuration",
				"bot", botName, "task_id", taskID)
		case classTransient:
			h.core.obs.Retry(botName)
		}
		return nil, v.returned()
	}
}

// errSuperseded: a newer call to the same coalescing target is queued; this
// one completes as superseded without calling Telegram.
var errSuperseded = errors.New("superseded by a newer call to the same target")

// supersededCheck returns the check that tells a coalescing call (an edit,
// a draft) that a newer call to its target was queued after it, or nil for
// a call that does not coalesce (or opted out with
// tasks.HeaderNoCoalesce). The producer records the newest call's task id
// under the target's key (client does); a call finds its own id there, or
// none (nothing recorded, or expired), and is delivered, or another id and
// is superseded. The newest call is therefore always delivered.
func (h *CallHandler) supersededCheck(t *asynq.Task, taskID string, c *tasks.Call) func(context.Context) error {
	target := c.CoalesceKey()
	if target == "" || taskID == "" || h.core.rdb == nil || t.Headers()[tasks.HeaderNoCoalesce] != "" {
		return nil
	}
	key := keys.Coalesce(target)
	return func(ctx context.Context) error {
		newest, err := h.core.rdb.Get(ctx, key).Result()
		switch {
		case errors.Is(err, redis.Nil):
			return nil
		case err != nil:
			// Unknown: deliver. An edit sent twice shows the newer
			// content in the end; one dropped could leave the older.
			h.core.log.WarnContext(ctx, "could not read the newest call of the target; delivering", "task_id", taskID, "error", err)
			return nil
		case newest != taskID:
			h.core.log.DebugContext(ctx, "superseded by a newer call to the same target", "task_id", taskID, "newest", newest)
			return errSuperseded
		}
		return nil
	}
}

// awaitUploads returns once every upload of c is either known to Telegram
// (a file_id for bot) or claimed by this sender, which then uploads it and
// must call release once its file_id is stored. Uploads another sender is
// uploading are waited for, up to uploadWait, after which this sender
// uploads them too. Claims are taken per content in hash order and all
// given back when one is refused, so two tasks sharing files never wait on
// each other.
func (up uploader) awaitUploads(ctx context.Context, bot string, c *tasks.Call) (release func(), err error) {
	noop := func() {}
	claims, ok := up.uploads.(UploadClaims)
	if !ok || len(c.Uploads) == 0 {
		return noop, nil
	}
	deadline := time.Now().Add(uploadWait)
	for {
		pending, err := up.unsent(ctx, bot, c)
		if err != nil {
			return nil, err
		}
		var held []func()
		releaseAll := func() {
			for _, r := range held {
				r()
			}
		}
		all := true
		for _, u := range pending {
			r, ok, err := claims.ClaimUpload(ctx, bot, u, uploadClaimTTL)
			if err != nil {
				// Claims only save uploads: upload without one.
				releaseAll()
				up.log.WarnContext(ctx, "could not claim an upload; uploading it without waiting for other senders", "bot", bot, "upload", u.String(), "error", err)
				return noop, nil
			}
			if !ok {
				all = false
				break
			}
			held = append(held, r)
		}
		if all {
			return releaseAll, nil
		}
		releaseAll()
		if time.Now().After(deadline) {
			up.log.WarnContext(ctx, "another sender's upload of the same file took too long; uploading it again", "bot", bot, "waited", uploadWait)
			return noop, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(uploadPoll):
		}
	}
}

// unsent returns c's uploads for which bot has no file_id, once per content,
// sorted by hash.
func (up uploader) unsent(ctx context.Context, bot string, c *tasks.Call) ([]tasks.Upload, error) {
	seen := map[string]bool{}
	var out []tasks.Upload
	for _, u := range c.Uploads {
		if seen[u.SHA256] {
			continue
		}
		seen[u.SHA256] = true
		id, err := up.uploads.FileID(ctx, bot, u)
		if err != nil {
			return nil, fmt.Errorf("read file_id of %s: %w", u, err)
		}
		if id == "" {
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SHA256 < out[j].SHA256 })
	return out, nil
}

// callLimitKey is the limiter key of c sent to chat: sends count against
// every limit, as many times as the messages they create; changes and chat
// actions against the chat's and the group's only. An edit of an inline
// message is limited per inline message.
func callLimitKey(bot string, c *tasks.Call, chat telego.ChatID) ratelimit.Key {
	k := ratelimit.Key{Bot: bot, Chat: chat.String(), Group: chat.ID < 0 || chat.Username != "", Cost: c.Cost()}
	if chat == (telego.ChatID{}) {
		k.Chat = "inline:" + c.InlineMessageID()
	}
	switch c.MethodInfo().Kind {
	case tasks.KindSend:
		k.Paid = c.Paid()
	default:
		k.ChatOnly = true
	}
	return k
}

// request builds the Bot API request of c to chat: JSON when every file is
// a file_id or URL (an upload Telegram already has counts as its file_id),
// multipart/form-data with the uploads' bytes otherwise.
func (up uploader) request(ctx context.Context, bot string, c *tasks.Call, chat telego.ChatID) (*ta.RequestData, error) {
	var params map[string]json.RawMessage
	if err := json.Unmarshal(c.Params, &params); err != nil {
		return nil, fmt.Errorf("%w: %w: %w", ErrInvalidPayload, err, asynq.SkipRetry)
	}
	if params == nil {
		params = map[string]json.RawMessage{}
	}
	if chat != c.Chat() {
		b, _ := json.Marshal(chat)
		params["chat_id"] = b
	}
	// Uploads Telegram already has go by file_id; the rest are sent.
	send := map[string]tasks.Upload{}
	for name, u := range c.Uploads {
		id := ""
		if up.uploads != nil {
			var err error
			if id, err = up.uploads.FileID(ctx, bot, u); err != nil {
				return nil, fmt.Errorf("read file_id of %s: %w", u, err)
			}
		}
		if id == "" {
			send[name] = u
			continue
		}
		replaceAttach(params, name, id)
	}
	if len(send) == 0 {
		b, err := json.Marshal(params)
		if err != nil {
			return nil, err
		}
		return &ta.RequestData{ContentType: ta.ContentTypeJSON, BodyRaw: b}, nil
	}
	if up.uploads == nil {
		return nil, fmt.Errorf("%w: this worker has no upload store: %w", ErrUploadMissing, asynq.SkipRetry)
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for name, v := range params {
		val := string(v)
		var s string
		if json.Unmarshal(v, &s) == nil {
			val = s
		}
		if err := w.WriteField(name, val); err != nil {
			return nil, err
		}
	}
	for name, u := range send {
		data, err := up.uploads.Open(ctx, u)
		if err != nil {
			if errors.Is(err, ErrUploadMissing) {
				return nil, fmt.Errorf("%w: %s: %w", err, u, asynq.SkipRetry)
			}
			return nil, fmt.Errorf("read %s: %w", u, err)
		}
		hdr := textproto.MIMEHeader{}
		filename := u.Name
		if filename == "" {
			filename = name
		}
		hdr.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, name, filename))
		ct := u.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		hdr.Set("Content-Type", ct)
		part, err := w.CreatePart(hdr)
		if err != nil {
			return nil, err
		}
		if _, err := part.Write(data); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return &ta.RequestData{ContentType: w.FormDataContentType(), BodyRaw: buf.Bytes()}, nil
}

// replaceAttach replaces "attach://name" with fileID wherever params use it:
// a top-level file parameter or the media of an album item or
// editMessageMedia.
func replaceAttach(params map[string]json.RawMessage, name, fileID string) {
	ref, _ := json.Marshal("attach://" + name)
	id, _ := json.Marshal(fileID)
	for k, v := range params {
		if bytes.Contains(v, ref) {
			params[k] = bytes.ReplaceAll(v, ref, id)
		}
	}
}

// rememberFileIDs records the file_id Telegram gave each upload the call
// sent, so that later calls (retries, other tasks of the same upload) send
// the file_id instead. A failure only costs a second upload.
func (up uploader) rememberFileIDs(ctx context.Context, bot string, c *tasks.Call, raw json.RawMessage) {
	if up.uploads == nil || len(c.Uploads) == 0 {
		return
	}
	for name, id := range uploadFileIDs(c, raw) {
		u, ok := c.Uploads[name]
		if !ok || id == "" {
			continue
		}
		tctx, cancel := tidyContext(ctx)
		err := up.uploads.SetFileID(tctx, bot, u, id)
		cancel()
		if err != nil {
			up.log.WarnContext(ctx, "could not record an upload's file_id; the next send uploads it again", "bot", bot, "upload", u.String(), "error", err)
		}
	}
}

// uploadFileIDs maps the attach names of c's uploads to the file_ids in
// Telegram's answer raw: the media of the message for a top-level file, of
// the i-th message for the i-th album item. Thumbnails are not mapped.
func uploadFileIDs(c *tasks.Call, raw json.RawMessage) map[string]string {
	var params map[string]json.RawMessage
	if json.Unmarshal(c.Params, &params) != nil {
		return nil
	}
	out := map[string]string{}
	attachOf := func(v json.RawMessage) string {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return ""
		}
		name, _ := strings.CutPrefix(s, "attach://")
		if name == s {
			return ""
		}
		return name
	}
	m := c.MethodInfo()
	switch {
	case m.Name == "sendMediaGroup":
		var items []struct {
			Media json.RawMessage `json:"media"`
		}
		var msgs []json.RawMessage
		if json.Unmarshal(params["media"], &items) != nil || json.Unmarshal(raw, &msgs) != nil {
			return nil
		}
		for i, it := range items {
			if name := attachOf(it.Media); name != "" && i < len(msgs) {
				out[name] = mediaFileID(msgs[i])
			}
		}
	case m.TakesMedia():
		var it struct {
			Media json.RawMessage `json:"media"`
		}
		if json.Unmarshal(params["media"], &it) == nil {
			if name := attachOf(it.Media); name != "" {
				out[name] = mediaFileID(raw)
			}
		}
	default:
		for _, f := range m.FileFields() {
			if f == "thumbnail" || f == "cover" {
				continue
			}
			if name := attachOf(params[f]); name != "" {
				out[name] = mediaFileID(raw)
			}
		}
	}
	return out
}

// mediaFileID returns the file_id of a message's media: the largest size of
// a photo, else the file of its video, animation, audio, document, voice,
// video note or sticker.
func mediaFileID(msg json.RawMessage) string {
	type file struct {
		FileID string `json:"file_id"`
	}
	var m struct {
		Photo     []file `json:"photo"`
		Video     *file  `json:"video"`
		Animation *file  `json:"animation"`
		Audio     *file  `json:"audio"`
		Document  *file  `json:"document"`
		Voice     *file  `json:"voice"`
		VideoNote *file  `json:"video_note"`
		Sticker   *file  `json:"sticker"`
	}
	if json.Unmarshal(msg, &m) != nil {
		return ""
	}
	if n := len(m.Photo); n > 0 {
		return m.Photo[n-1].FileID
	}
	for _, f := range []*file{m.Video, m.Animation, m.Audio, m.Document, m.Voice, m.VideoNote, m.Sticker} {
		if f != nil && f.FileID != "" {
			return f.FileID
		}
	}
	return ""
}

// callResult reads what a producer needs from a method's answer raw: the
// ids of the messages it created or changed, their chat (after any
// migration), and the date.
func callResult(m *tasks.Method, raw json.RawMessage, chat telego.ChatID, migratedFrom int64) *tasks.CallResult {
	res := &tasks.CallResult{Method: m.Name, ChatID: chat.ID, MigratedFrom: migratedFrom}
	if chat.Username != "" {
		res.ChatUsername = chat.Username
	}
	type msg struct {
		MessageID int64 `json:"message_id"`
		Date      int64 `json:"date"`
		Chat      *struct {
			ID int64 `json:"id"`
		} `json:"chat"`
	}
	add := func(v msg) {
		if v.MessageID != 0 {
			res.MessageIDs = append(res.MessageIDs, v.MessageID)
		}
		if v.Chat != nil && v.Chat.ID != 0 {
			res.ChatID = v.Chat.ID
		}
		if v.Date != 0 {
			res.Date = v.Date
		}
	}
	switch trimmed := bytes.TrimSpace(raw); {
	case len(trimmed) > 0 && trimmed[0] == '{':
		var v msg
		if json.Unmarshal(trimmed, &v) == nil {
			add(v)
		}
		if id := mediaFileID(trimmed); id != "" {
			res.FileIDs = append(res.FileIDs, id)
		}
	case len(trimmed) > 0 && trimmed[0] == '[':
		var vs []json.RawMessage
		if json.Unmarshal(trimmed, &vs) == nil {
			for _, item := range vs {
				var v msg
				if json.Unmarshal(item, &v) == nil {
					add(v)
				}
				if id := mediaFileID(item); id != "" {
					res.FileIDs = append(res.FileIDs, id)
				}
			}
		}
	}
	return res
}
