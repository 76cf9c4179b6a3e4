package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/recovery"
	"github.com/telequeue/telequeue/internal/redisx"
	"github.com/telequeue/telequeue/ratelimit"
	"github.com/telequeue/telequeue/tasks"
)

// Config configures a [SendMessageHandler]. Zero values are documented
// defaults.
type Config struct {
	// Bots maps bot names to senders (see [NewBots]). Required.
	Bots map[string]Sender
	// Limiter enforces Telegram's limits; nil sends without limits.
	Limiter Limiter
	// Redis stores "sent" markers; nil turns duplicate suppression off. It
	// must be the Redis of the asynq server that runs the handler: after a
	// send the handler writes the marker and the task's result (asynq's
	// task hash) in one round trip.
	Redis redis.UniversalClient
	// SentMarkerTTL is how long a marker lives (default 72h).
	SentMarkerTTL time.Duration
	// MarkerWriteTimeout bounds how long the handler keeps trying to write a
	// marker while Redis is unreachable (default 10m). The message has been
	// delivered by then; giving up risks a duplicate, never a loss.
	MarkerWriteTimeout time.Duration
	// ChatWaiters is how many sends of this handler may sleep at once on a
	// chat-bound rate-limit wait (a chat or group that got a message
	// moments ago); default 5, half of the default 10 senders. A send that
	// would have to wait so while that many already do is rescheduled
	// instead (not a failure), so that a busy chat never occupies every
	// sender while other chats could be served.
	ChatWaiters int
	// GlobalQueues are the queues whose sends count against the bot's
	// global budget; nil or empty: every queue. A send from any other queue
	// (e.g. critical replies to users) is bounded only by its chat's and
	// group's limits and by 429 pauses: Telegram's ~30/s applies to bulk
	// notifications, not to answers (README, "Replies outside the
	// broadcast budget"). Broadcasts always count against it.
	GlobalQueues []string
	// Observer receives metrics events; nil discards them.
	Observer Observer
	// Completions, if not nil, carries the writes that record a delivery
	// (marker, result, event) in the round trip in which asynq completes
	// the task; it must be the one whose hook is on the Redis client of the
	// asynq server that runs the handler (server.Config.Completions). Nil:
	// they take a round trip of their own.
	Completions *Completions
	// Outcomes receives a "sent" event per delivered message or reply, in
	// the round trip that stores its marker (see [NewOutcomeStream]); nil
	// records none. Failures are recorded by the server (see
	// [FailureEvent]).
	Outcomes Outcomes
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// SendMessageHandler handles [tasks.TypeSendMessage].
type SendMessageHandler struct {
	bots               map[string]Sender
	limiter            Limiter
	unlimited          func(ratelimit.Key) bool // the limiter's Unlimited, if it has one
	rdb                redis.UniversalClient
	markerTTL          time.Duration
	markerWriteTimeout time.Duration
	chatWaiters        chan struct{}    // a token per send sleeping on a chat-bound wait
	globalQueues       map[string]bool  // nil: every queue counts against the global budget
	insp               *asynq.Inspector // wakes calls waiting for a message; nil without Redis
	obs                Observer
	completions        *Completions
	outcomes           Outcomes
	log                *slog.Logger
}

var _ asynq.Handler = (*SendMessageHandler)(nil)

// maxMigrations bounds how often one send follows migrate_to_chat_id.
const maxMigrations = 2

// NewSendMessageHandler validates cfg and returns the handler.
func NewSendMessageHandler(cfg Config) (*SendMessageHandler, error) {
	if len(cfg.Bots) == 0 {
		return nil, errors.New("handlers: no bots configured (set TELEGRAM_BOT_TOKEN or TELEGRAM_BOTS)")
	}
	h := &SendMessageHandler{
		bots: cfg.Bots, limiter: cfg.Limiter, rdb: cfg.Redis,
		markerTTL: cfg.SentMarkerTTL, markerWriteTimeout: cfg.MarkerWriteTimeout,
		obs: cfg.Observer, completions: cfg.Completions, outcomes: cfg.Outcomes, log: cfg.Logger,
	}
	if u, ok := cfg.Limiter.(interface{ Unlimited(ratelimit.Key) bool }); ok {
		h.unlimited = u.Unlimited
	}
	if h.markerTTL <= 0 {
		h.markerTTL = 72 * time.Hour
	}
	if h.rdb != nil {
		h.insp = asynq.NewInspectorFromRedisClient(h.rdb)
	}
	if h.markerWriteTimeout <= 0 {
		h.markerWriteTimeout = 10 * time.Minute
	}
	if cfg.ChatWaiters <= 0 {
		cfg.ChatWaiters = 5
	}
	h.chatWaiters = make(chan struct{}, cfg.ChatWaiters)
	if len(cfg.GlobalQueues) > 0 {
		h.globalQueues = map[string]bool{}
		for _, q := range cfg.GlobalQueues {
			h.globalQueues[q] = true
		}
	}
	if h.obs == nil {
		h.obs = nopObserver{}
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

// ProcessTask sends one message. See the package documentation for how each
// outcome ends.
func (h *SendMessageHandler) ProcessTask(ctx context.Context, t *asynq.Task) (err error) {
	defer func() { err = Expired(t, err) }()
	ctx, cancel, err := withDeadline(ctx, t)
	defer cancel()
	if err != nil {
		return err
	}
	m, err := decodeTask(t, tasks.ParseSendMessage)
	if err != nil {
		return err
	}
	botName := m.BotName()
	bot, err := senderOf(h.bots, botName)
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	taskID, _ := asynq.GetTaskID(ctx)

	// A run may follow one whose send Telegram confirmed (a crash, a
	// shutdown, Redis gone before asynq recorded the success): its sent
	// marker says so. With a limiter the marker is read in the round trip of
	// the first limiter call. The task's fence rides with it: with a
	// limiter in every call and in the pause check after a sleep (see
	// waitForSlot); without one nothing sleeps between the marker's read and
	// the send, so that read is the fence's last check before it.
	var check *sentCheck
	if h.rdb != nil && taskID != "" {
		if h.limiter != nil {
			check = &sentCheck{key: keys.Sent(taskID)}
		} else if done, err := h.alreadySent(ctx, t, taskID); err != nil || done {
			return err
		}
	}

	msg, chat, migratedFrom, err := h.send(ctx, botName, bot, taskID, m, m.ChatID, check)
	if errors.Is(err, errAlreadySent) {
		return h.completeSent(ctx, t, taskID, check.marker)
	}
	if err != nil {
		return err
	}
	res := sendResult(msg, chat, migratedFrom)
	data, err := json.Marshal(res)
	if err != nil {
		return err
	}
	ev := newEvent(ctx, t, tasks.OutcomeSent, botName, m.ChatID.String())
	ev.ChatID, ev.MigratedFrom, ev.MessageIDs = res.ChatID, res.MigratedFrom, []int64{res.MessageID}
	return h.recordDelivery(ctx, t, taskID, data, ev)
}

// send sends m to chat, resending to the new supergroup when Telegram says
// the group migrated, and returns Telegram's message, the chat it went to and
// the migrated group's old id (0 if none). Errors are sorted into retry
// classes as the package documentation describes.
//
// check, if not nil, reads the task's sent marker with the first limiter
// call; send returns errAlreadySent, with the marker in check, if there is
// one.
func (h *SendMessageHandler) send(ctx context.Context, botName string, bot Sender, taskID string, m *tasks.SendMessage, chat telego.ChatID, check *sentCheck) (*telego.Message, telego.ChatID, int64, error) {
	var migratedFrom int64
	for migrations := 0; ; migrations++ {
		if err := h.waitForSlot(ctx, botName, limitKey(botName, m, chat), check); err != nil {
			return nil, chat, 0, err
		}
		params, err := m.Params(chat)
		if err != nil {
			return nil, chat, 0, fmt.Errorf("%w: %w: %w", ErrInvalidPayload, err, asynq.SkipRetry)
		}
		start := time.Now()
		msg, sendErr := bot.SendMessage(ctx, params)
		v := classify(sendErr, botName, migrations)
		h.obs.Sent(botName, v.outcome, time.Since(start))
		switch v.class {
		case classSent:
			return msg, chat, migratedFrom, nil
		case classMigrated:
			h.log.InfoContext(ctx, "group migrated to a supergroup; resending",
				"task_id", taskID, "bot", botName, "chat_id", chat.String(), "new_chat_id", v.migrateTo)
			if migratedFrom == 0 {
				migratedFrom = chat.ID
			}
			chat = telego.ChatID{ID: v.migrateTo}
			continue
		case classRateLimited:
			throttled(ctx, h.limiter, h.log, limitKey(botName, m, chat), v.retryAfter, "task_id", taskID, "bot", botName)
		case classUnauthorized:
			h.log.ErrorContext(ctx, "Telegram rejected the bot token: check the worker's configuration",
				"bot", botName, "task_id", taskID)
		case classTransient:
			h.obs.Retry(botName)
		}
		return nil, chat, 0, v.returned()
	}
}

// throttled records a 429 answer's pause in the limiter (if any), so that
// no process sends to k's bot or chat before it runs out. A failure is
// logged with attrs: the task is rescheduled after the pause anyway.
func throttled(ctx context.Context, l Limiter, log *slog.Logger, k ratelimit.Key, retryAfter time.Duration, attrs ...any) {
	if l == nil {
		return
	}
	if err := l.Throttled(ctx, k, retryAfter); err != nil {
		log.WarnContext(ctx, "could not record 429 pause", append(attrs, "error", err)...)
	}
}

func limitKey(bot string, m *tasks.SendMessage, chat telego.ChatID) ratelimit.Key {
	return ratelimit.Key{
		Bot:   bot,
		Chat:  chat.String(),
		Group: chat.ID < 0 || chat.Username != "",
		Paid:  m.AllowPaidBroadcast,
	}
}

// chatReserveWait is the longest chat-bound wait for which a send reserves
// its slot at once (see waitForSlot).
const chatReserveWait = 5 * time.Millisecond

// waitForSlot asks the limiter for a slot and sleeps until it comes, or
// returns a *LimiterWaitError to reschedule the task when the wait is long.
//
// A wait that the chat sets (its own limit, a group's per-minute limit, a
// 429 pause of the chat) is handled apart from one the bot's budget sets:
//
//   - The send does not reserve it. A reservation takes one slot of every
//     limit at the same instant, and the bot's budget cannot hand out the
//     slots before a reserved instant once it is booked (its limiter keeps
//     only the next free instant): a message reserved 1 s ahead for its
//     chat's sake would idle the whole bot for that second. Instead the send
//     sleeps until the chat's slot and asks again, when only the bot's
//     budget can hold it back.
//   - Only ChatWaiters sends sleep so at a time; others are rescheduled
//     (not a failure), so that a busy chat never occupies every sender while
//     other chats could be served. Waits beyond the limiter's MaxWait are
//     rescheduled too.
//
// Waits for the bot's budget are reserved and slept whatever their number:
// they pace the whole bot.
//
// A send that sleeps on a reservation checks, just before its slot, that no
// other sender met a 429 for its bot or chat meanwhile: if one did, the slot
// is given up and the send waits behind the pause like any other.
func (h *SendMessageHandler) waitForSlot(ctx context.Context, bot string, k ratelimit.Key, check *sentCheck) error {
	return h.waitForSlotUnless(ctx, bot, k, check, nil)
}

// waitForSlotUnless is waitForSlot that, if stale is not nil, asks it
// before every limiter call (first, and after each sleep) and returns its
// error, if any, instead of taking a slot: a coalesced edit that a newer one
// overtook while it waited gives up without spending its chat's slot.
func (h *SendMessageHandler) waitForSlotUnless(ctx context.Context, bot string, k ratelimit.Key, check *sentCheck, stale func(context.Context) error) error {
	if h.limiter == nil {
		return nil
	}
	queue, _ := asynq.GetQueueName(ctx)
	if h.globalQueues != nil && !h.globalQueues[queue] {
		// A reply outside the broadcast budget: its chat's and group's
		// limits only (a 429 pause of the bot still holds it).
		k.ChatOnly = true
	}
	// The task's fence rides in every limiter call and in the pause check
	// after a sleep, the sent marker in the first call: no round trip of
	// their own.
	ride := newFenceRide(ctx, h.log)
	pf := takePrefetched(ctx)
	for {
		if stale != nil {
			if err := stale(ctx); err != nil {
				return err
			}
		}
		if pf != nil {
			slot, err := h.prefetchedSlot(ctx, pf, k, check)
			if slot || err != nil {
				return err
			}
			pf = nil
		}
		var readMarker func(redis.Pipeliner)
		if check != nil && !check.done {
			// MGET, read by redisx.OneValue.
			readMarker = func(p redis.Pipeliner) { check.cmd = p.MGet(ctx, check.key) }
		}
		var r ratelimit.Reservation
		err := redisx.UntilAnswers(ctx, func() (err error) {
			r, err = h.limiter.AcquireAfter(ctx, k, ratelimit.Within{MaxWait: -1, ChatMaxWait: chatReserveWait}, both(readMarker, ride.pre(ctx)))
			return err
		})
		if err != nil {
			return fmt.Errorf("rate limiter unavailable: %w", err)
		}
		if err := ride.check(ctx); err != nil {
			return err
		}
		if readMarker != nil {
			if err := check.read(); err != nil {
				return err
			}
		}
		if r.OK {
			if r.Wait <= 0 {
				return nil
			}
			h.obs.RateLimitWait(bot, r.Wait, false)
			again, err := sleepToSlot(ctx, h.limiter, k, r.Wait, sleepSend, ride)
			if !again {
				return err
			}
			// A 429 paused the bot or chat after the slot was reserved:
			// ask again, behind the pause (the limiter accounts for it).
			continue
		}
		if !r.ChatBound || r.Long {
			h.obs.RateLimitWait(bot, r.Wait, true)
			return &LimiterWaitError{RetryAfter: r.Wait}
		}
		select {
		case h.chatWaiters <- struct{}{}:
		default:
			h.obs.RateLimitWait(bot, r.Wait, true)
			return &LimiterWaitError{RetryAfter: r.Wait}
		}
		h.obs.RateLimitWait(bot, r.Wait, false)
		err = sleepSend(ctx, r.Wait)
		<-h.chatWaiters
		if err != nil {
			return err
		}
	}
}

// prefetchedSlot uses what the task's dequeue read (see [Prefetch]) in
// place of the limiter's first round trip: the sent marker (errAlreadySent
// if there is one; else check is done), and, if no limit applies to k, the
// running pauses: slot is true if none holds k and the run's fence needs
// no read, and the send may go now.
func (h *SendMessageHandler) prefetchedSlot(ctx context.Context, pf *prefetched, k ratelimit.Key, check *sentCheck) (slot bool, err error) {
	if check != nil && !check.done && pf.markers {
		if pf.hasMarker {
			check.marker = pf.marker
			return false, errAlreadySent
		}
		check.done = true
	}
	running, ok := pf.running(k.Bot)
	if !ok || recovery.NeedsFence(ctx) {
		return false, nil
	}
	if h.unlimited == nil || !h.unlimited(k) {
		return false, nil
	}
	return !ratelimit.Paused(k, running), nil
}

// fenceError turns a fence check's error into the handler's: a
// *FencedError if the task was taken from this process.
func fenceError(ctx context.Context, log *slog.Logger, err error, taskID string) error {
	if errors.Is(err, recovery.ErrFenced) {
		log.WarnContext(ctx, "task taken over by another worker while this one was unresponsive; not sending it", "task_id", taskID)
		return &FencedError{}
	}
	return err
}

// errAlreadySent: the task's sent marker shows that an earlier run's send
// was confirmed.
var errAlreadySent = errors.New("already sent")

// sentCheck reads a task's sent marker in the round trip of the first
// limiter call (see waitForSlot).
type sentCheck struct {
	key    string
	cmd    *redis.SliceCmd // MGET of key (redisx.OneValue)
	done   bool            // read, and no marker
	marker []byte          // the marker, once read
}

// read interprets the MGET: nil if there is no marker, errAlreadySent if
// there is one.
func (c *sentCheck) read() error {
	marker, ok, err := redisx.OneValue(c.cmd)
	if err != nil {
		return fmt.Errorf("check sent marker: %w", err)
	}
	if !ok {
		c.done = true
		return nil
	}
	c.marker = []byte(marker)
	return errAlreadySent
}

// alreadySent completes a task whose message Telegram already confirmed in an
// earlier run, for a handler without a limiter (with one, the marker is read
// by waitForSlot).
func (h *SendMessageHandler) alreadySent(ctx context.Context, t *asynq.Task, taskID string) (bool, error) {
	if h.rdb == nil || taskID == "" {
		return false, nil
	}
	if pf := takePrefetched(ctx); pf != nil && pf.markers && !recovery.NeedsFence(ctx) {
		// Read in asynq's dequeue (see Prefetch), and no fence to read.
		if !pf.hasMarker {
			return false, nil
		}
		return true, h.completeSent(ctx, t, taskID, pf.marker)
	}
	// The fence rides with the marker's read.
	queue, _ := asynq.GetQueueName(ctx)
	var res []byte
	var fence *recovery.Fence
	err := redisx.UntilAnswers(ctx, func() error {
		pipe := h.rdb.Pipeline()
		marker := pipe.Get(ctx, keys.Sent(taskID))
		fence = recovery.QueueFence(ctx, pipe, queue, taskID)
		_, err := pipe.Exec(ctx)
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		res, err = marker.Bytes()
		return err
	})
	if ferr := fence.Check(); ferr != nil && (err == nil || errors.Is(err, redis.Nil)) {
		return false, fenceError(ctx, h.log, ferr, taskID)
	}
	switch {
	case errors.Is(err, redis.Nil):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("check sent marker: %w", err)
	}
	return true, h.completeSent(ctx, t, taskID, res)
}

// completeSent completes a task whose sent marker holds res: the result is
// stored and the message is not sent again.
func (h *SendMessageHandler) completeSent(ctx context.Context, t *asynq.Task, taskID string, res []byte) error {
	h.log.InfoContext(ctx, "message already delivered; completing without sending again", "task_id", taskID)
	if bot := botOf(t); bot != "" {
		h.obs.Sent(bot, OutcomeDeduplicated, 0)
	}
	if _, err := t.ResultWriter().Write(res); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// botOf reads the bot name of a payload without full validation.
func botOf(t *asynq.Task) string {
	var p struct {
		Bot string `json:"bot"`
	}
	if json.Unmarshal(t.Payload(), &p) != nil {
		return ""
	}
	if p.Bot == "" {
		return tasks.DefaultBot
	}
	return p.Bot
}
