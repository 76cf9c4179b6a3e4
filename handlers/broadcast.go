package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/broadcast"
	"github.com/telequeue/telequeue/internal/recovery"
	"github.com/telequeue/telequeue/internal/redisx"
	"github.com/telequeue/telequeue/ratelimit"
	"github.com/telequeue/telequeue/tasks"
)

// Defaults of [BroadcastConfig].
const (
	DefaultBroadcastLookahead     = 50 * time.Millisecond
	DefaultBroadcastShare         = 0.85
	DefaultBroadcastMaxActive     = 4
	DefaultBroadcastSlice         = time.Minute
	DefaultBroadcastRetries       = 3
	DefaultBroadcastRetryBackoff  = 10 * time.Second
	DefaultBroadcastOutageAfter   = 3
	DefaultBroadcastSettleTimeout = 10 * time.Minute
)

// busyDelay is how long a chunk task waits when its process already runs
// MaxActive chunks.
const busyDelay = time.Second

// BroadcastConfig configures a [BroadcastHandler]. Zero values are
// documented defaults.
type BroadcastConfig struct {
	// Bots maps bot names to senders (see [NewBots]). Required.
	Bots map[string]Sender
	// Uploads is the store of the files a broadcast of a call uploads (a
	// photo to every recipient); nil if broadcasts carry no upload.
	Uploads Uploads
	// Redis holds the broadcasts' state; the handler also enqueues the next
	// chunk tasks through it. Required.
	Redis redis.UniversalClient
	// Limiter enforces Telegram's limits; nil sends without limits. A
	// broadcast send reserves a slot only when the slot is at most
	// Lookahead away, so that broadcasts never book the bot's budget ahead
	// of messages from other queues; see the package documentation.
	Limiter Limiter
	// Lookahead is how far ahead of now a broadcast send may reserve its
	// slot (default 50ms). A message from another queue waits at most about
	// this long, plus one slot, behind broadcast traffic.
	Lookahead time.Duration
	// Share is the fraction of a bot's budget broadcasts use (default 0.85:
	// about 25 of Telegram's 30 messages per second). The rest stays free
	// for other messages, and each broadcast send leaves a little slack
	// behind it (T/Share instead of T) that absorbs the jitter between the
	// reserved instant and the moment Telegram sees the request, which
	// would otherwise draw a 429 and pause the whole bot. 1 lets
	// broadcasts use the whole budget.
	Share float64
	// MaxWait is the longest limiter wait a chunk sleeps; a longer one (a
	// 429 pause, a busy group) reschedules the chunk task (default 2s).
	MaxWait time.Duration
	// MaxActive is how many chunk tasks this process runs at once (default
	// 4). A chunk task beyond it is rescheduled after a second, so that a
	// broadcast never occupies every sender of a process and messages from
	// the critical and default queues always find one free. Set it below the
	// server's concurrency. A chunk that a recoverer took back from a dead
	// worker runs beyond it within 30 s of the take: its recipients were
	// mid-send.
	MaxActive int
	// Slice is how long one run of a chunk task sends before it reschedules
	// itself, giving the worker back to the queues (default 1m). Keep it
	// below the server's ShutdownTimeout: on shutdown a run then stops
	// between two recipients instead of being cut off mid-send.
	Slice time.Duration
	// RecipientRetries is how many retry passes a chunk makes over the
	// recipients whose send failed transiently (5xx, timeout, network);
	// after the last they count as failed (default 3).
	RecipientRetries int
	// RetryBackoff is the wait before retry pass 1; pass p waits
	// RetryBackoff·4^(p-1) (default 10s: 10s, 40s, 160s).
	RetryBackoff time.Duration
	// OutageAfter is the number of consecutive transient failures within a
	// run that are taken for an outage: the chunk task then fails and is
	// retried with backoff instead of deferring recipient after recipient
	// (default 3).
	OutageAfter int
	// SettleTimeout bounds how long the handler keeps trying to record a
	// recipient's outcome while Redis is unreachable (default 10m). Giving
	// up risks sending that recipient again, never skipping one.
	SettleTimeout time.Duration
	// Observer receives metrics events; nil discards them.
	Observer Observer
	// Outcomes receives an event for each recipient that blocked the bot
	// (403) or failed for good (see [NewOutcomeStream]); nil records none.
	// Sent and cancelled recipients are counted in the broadcast's status,
	// not streamed one by one.
	Outcomes Outcomes
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// BroadcastHandler handles [tasks.TypeBroadcastChunk]: it sends a broadcast's
// message to the recipients of one chunk, one after the other, recording each
// outcome in Redis as soon as Telegram answers, and then enqueues the next
// chunk of its lane.
type BroadcastHandler struct {
	bots          map[string]Sender
	uploads       Uploads
	store         *broadcast.Store
	rdb           redis.UniversalClient
	enqueuer      *asynq.Client
	limiter       Limiter
	lookahead     time.Duration
	share         float64
	maxWait       time.Duration
	active        chan struct{}
	slice         time.Duration
	retries       int
	backoff       time.Duration
	outageAfter   int
	settleTimeout time.Duration
	obs           Observer
	outcomes      Outcomes
	log           *slog.Logger

	// pacers holds one mutex per bot: the chunks of this process that
	// wait for a slot beyond the lookahead queue on it, so that one of
	// them at a time asks the limiter instead of all of them at every slot.
	pacersMu sync.Mutex
	pacers   map[string]*sync.Mutex
}

var _ asynq.Handler = (*BroadcastHandler)(nil)

// NewBroadcastHandler validates cfg and returns the handler.
func NewBroadcastHandler(cfg BroadcastConfig) (*BroadcastHandler, error) {
	if len(cfg.Bots) == 0 {
		return nil, errors.New("handlers: no bots configured (set TELEGRAM_BOT_TOKEN or TELEGRAM_BOTS)")
	}
	if cfg.Redis == nil {
		return nil, errors.New("handlers: broadcast handler needs Redis")
	}
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Lookahead", cfg.Lookahead}, {"MaxWait", cfg.MaxWait}, {"Slice", cfg.Slice}, {"RetryBackoff", cfg.RetryBackoff}, {"SettleTimeout", cfg.SettleTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v: must not be negative", d.name, d.v))
		}
	}
	if math.IsNaN(cfg.Share) || cfg.Share < 0 || cfg.Share > 1 {
		errs = append(errs, fmt.Errorf("invalid Share %v: must be in (0, 1]", cfg.Share))
	}
	if cfg.MaxActive < 0 || cfg.RecipientRetries < 0 || cfg.OutageAfter < 0 {
		errs = append(errs, errors.New("MaxActive, RecipientRetries and OutageAfter must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("handlers: broadcast config: %w", err)
	}
	h := &BroadcastHandler{
		bots:          cfg.Bots,
		uploads:       cfg.Uploads,
		store:         broadcast.NewStore(cfg.Redis),
		rdb:           cfg.Redis,
		enqueuer:      asynq.NewClientFromRedisClient(cfg.Redis),
		limiter:       cfg.Limiter,
		lookahead:     orDefault(cfg.Lookahead, DefaultBroadcastLookahead),
		share:         cfg.Share,
		maxWait:       orDefault(cfg.MaxWait, ratelimit.DefaultMaxWait),
		active:        make(chan struct{}, orDefault(cfg.MaxActive, DefaultBroadcastMaxActive)),
		slice:         orDefault(cfg.Slice, DefaultBroadcastSlice),
		retries:       orDefault(cfg.RecipientRetries, DefaultBroadcastRetries),
		backoff:       orDefault(cfg.RetryBackoff, DefaultBroadcastRetryBackoff),
		outageAfter:   orDefault(cfg.OutageAfter, DefaultBroadcastOutageAfter),
		settleTimeout: orDefault(cfg.SettleTimeout, DefaultBroadcastSettleTimeout),
		obs:           cfg.Observer,
		outcomes:      cfg.Outcomes,
		log:           cfg.Logger,
		pacers:        make(map[string]*sync.Mutex),
	}
	if h.share == 0 {
		h.share = DefaultBroadcastShare
	}
	if h.obs == nil {
		h.obs = nopObserver{}
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// SnoozeError reschedules a broadcast chunk task without counting a failure:
// its process already runs MaxActive chunks, its time slice is used, or its
// recipients wait for a retry pass. Reason says which.
type SnoozeError struct {
	Reason     string
	RetryAfter time.Duration
}

func (e *SnoozeError) Error() string {
	return fmt.Sprintf("broadcast: %s; continuing in %s", e.Reason, e.RetryAfter.Round(time.Millisecond))
}

// RescheduleAfter returns RetryAfter.
func (e *SnoozeError) RescheduleAfter() time.Duration { return e.RetryAfter }

// ProcessTask sends one chunk; see the package documentation.
func (h *BroadcastHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := decodeTask(t, tasks.ParseBroadcastChunk)
	if err != nil {
		return err
	}
	taskID, _ := asynq.GetTaskID(ctx)
	log := h.log.With("task_id", taskID, "broadcast", p.Broadcast, "chunk", p.Chunk)
	select {
	case h.active <- struct{}{}:
		defer func() { <-h.active }()
	default:
		if !h.justTaken(ctx, taskID) {
			return &SnoozeError{Reason: fmt.Sprintf("this worker already runs %d chunks", cap(h.active)), RetryAfter: busyDelay}
		}
		log.InfoContext(ctx, "chunk taken back from a dead worker moments ago: running it beyond MaxActive", "max_active", cap(h.active))
	}

	var (
		raw  []byte
		info *broadcast.Info
	)
	err = redisx.UntilAnswers(ctx, func() (err error) {
		raw, info, err = h.store.Message(ctx, p.Broadcast)
		return err
	})
	switch {
	case errors.Is(err, broadcast.ErrNotFound):
		log.WarnContext(ctx, "broadcast not found (expired or deleted); nothing to send")
		return nil
	case err != nil:
		return fmt.Errorf("broadcast: read state: %w", err)
	}
	var (
		m       *tasks.SendMessage
		call    *tasks.Call
		botName string
	)
	if tasks.IsBroadcastCall(raw) {
		// Any send-type method: a photo, a document, a copy of a post.
		if call, err = decode(raw, tasks.CallVersion, tasks.ParseBroadcastCall); err != nil {
			return fmt.Errorf("broadcast %s: stored call: %w", p.Broadcast, err)
		}
		botName = call.BotName()
	} else {
		if m, err = decode(raw, tasks.SendMessageVersion, tasks.ParseBroadcastMessage); err != nil {
			return fmt.Errorf("broadcast %s: stored message: %w", p.Broadcast, err)
		}
		botName = m.BotName()
	}
	bot, err := senderOf(h.bots, botName)
	if err == nil && call != nil {
		if _, ok := bot.(MethodCaller); !ok {
			err = fmt.Errorf("handlers: bot %q: its sender cannot call %s (use NewBots)", botName, call.Method)
		}
	}
	if err != nil {
		h.lastError(ctx, p.Broadcast, err)
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	r := &chunkRun{
		h: h, id: p.Broadcast, chunk: p.Chunk, info: info, msg: m, call: call, bot: bot, botName: botName,
		start: time.Now(), log: log, task: t, ride: newFenceRide(ctx, log),
	}
	err = r.run(ctx)
	if errors.Is(err, errGone) {
		log.WarnContext(ctx, "broadcast disappeared while sending (expired or deleted); stopping")
		return nil
	}
	if err == nil {
		r.releaseUploads(ctx)
	}
	return err
}

// takenRunsAtOnce is how long after a recoverer took a chunk task back
// from a dead worker (see internal/recovery) the chunk runs even on a worker
// that runs MaxActive chunks: a dead worker's chunks all come back at once,
// and a snooze would add seconds (whole-second retries, the delayed-task
// check) to the recovery of sends that were in flight.
const takenRunsAtOnce = 30 * time.Second

// justTaken reports whether the task ctx runs was taken back from a dead
// worker within takenRunsAtOnce. It reads the task's fence: one round trip,
// made only when the worker is full.
func (h *BroadcastHandler) justTaken(ctx context.Context, taskID string) bool {
	queue, _ := asynq.GetQueueName(ctx)
	if recovery.ProcessOf(ctx) == "" || queue == "" || taskID == "" {
		return false
	}
	at, err := recovery.TakenAt(ctx, h.rdb, queue, taskID)
	if err != nil {
		h.log.WarnContext(ctx, "could not read a chunk task's fence", "task_id", taskID, "error", err)
		return false
	}
	return !at.IsZero() && time.Since(at) < takenRunsAtOnce
}

// errRecheck ends a pass early: another run of the chunk moved its progress,
// or the broadcast was cancelled. The run goes on from the progress found.
var errRecheck = errors.New("broadcast: chunk state changed")

// chunkRun is one run of a chunk task.
type chunkRun struct {
	h         *BroadcastHandler
	id        string
	chunk     int
	info      *broadcast.Info
	msg       *tasks.SendMessage // the message, or nil for a call
	call      *tasks.Call        // the call of any send-type method, or nil
	bot       Sender
	botName   string
	start     time.Time
	log       *slog.Logger
	handedOff bool
	transient int // consecutive transient failures
	task      *asynq.Task
	// ride reads the task's fence (nil if fast recovery is off): in the
	// limiter's round trips, or, without a limiter, in the round trip that
	// settles the recipient before (see pass).
	ride *fenceRide
	// fenceRead: without a limiter, the fence was read since the last send.
	fenceRead bool
	// verdict is the last permanent answer: the code and description of a
	// recipient settled as blocked or failed.
	verdict verdict
}

// run drives the chunk from the progress stored in Redis until it is done
// or the run must stop (a snooze, an error). It returns nil only when the
// chunk is done, so that a task is never completed while its chunk still
// has recipients to settle.
func (r *chunkRun) run(ctx context.Context) error {
	var prog broadcast.Progress
	err := redisx.UntilAnswers(ctx, func() (err error) {
		prog, err = r.h.store.Progress(ctx, r.id, r.chunk)
		return err
	})
	if err != nil {
		return fmt.Errorf("broadcast: read progress: %w", err)
	}
	for {
		switch {
		case !prog.Started:
			prog, err = r.step(ctx, broadcast.Step{Chunk: r.chunk, From: prog, To: broadcast.Progress{Started: true}})
		case prog.Done:
			return r.handoff(ctx)
		case r.info.State == broadcast.StateCancelled:
			prog, err = r.rest(ctx, prog, broadcast.OutcomeCancelled)
		default:
			prog, err = r.runPass(ctx, prog)
		}
		switch {
		case errors.Is(err, errRecheck):
			r.log.DebugContext(ctx, "chunk state changed; continuing from the stored progress", "progress", prog.String(), "state", r.info.State)
		case err != nil:
			return err
		}
	}
}

// runPass runs the rest of the current pass and ends it.
func (r *chunkRun) runPass(ctx context.Context, prog broadcast.Progress) (broadcast.Progress, error) {
	if prog.Pass > 0 {
		// Pass 0 ended in an earlier run, which may have crashed before
		// its hand-off.
		if err := r.handoff(ctx); err != nil {
			return prog, err
		}
	}
	var list []int64
	err := redisx.UntilAnswers(ctx, func() (err error) {
		list, err = r.h.store.Recipients(ctx, r.id, r.chunk, prog.Pass)
		return err
	})
	if err != nil {
		return prog, fmt.Errorf("broadcast: read recipients: %w", err)
	}
	prog, err = r.pass(ctx, prog, list)
	if err != nil {
		return prog, err
	}
	if prog.Pass == 0 {
		if err := r.handoff(ctx); err != nil {
			return prog, err
		}
	}
	return r.endPass(ctx, prog)
}

// pass sends to list[prog.Cursor:], settling each recipient, and returns the
// progress at the end of the list. It returns errRecheck if another run
// moved the chunk or the broadcast was cancelled.
func (r *chunkRun) pass(ctx context.Context, prog broadcast.Progress, list []int64) (broadcast.Progress, error) {
	for prog.Cursor < len(list) {
		if err := ctx.Err(); err != nil {
			return prog, fmt.Errorf("broadcast: run stopped: %w", err)
		}
		if time.Since(r.start) >= r.h.slice {
			return prog, &SnoozeError{Reason: "time slice used, giving the worker back", RetryAfter: 0}
		}
		chat := list[prog.Cursor]
		if err := r.fence(ctx); err != nil {
			return prog, err
		}
		outcome, err := r.send(ctx, chat)
		if err != nil {
			return prog, err
		}
		next := prog
		next.Cursor++
		// Without a limiter, the fence is read before the next recipient
		// in this round trip.
		var pre func(redis.Pipeliner)
		if r.h.limiter == nil {
			pre = r.ride.pre(ctx)
		}
		res, err := r.h.settle(ctx, r.id, broadcast.Step{Chunk: r.chunk, From: prog, To: next, Outcome: outcome, Chat: chat}, pre)
		if err != nil {
			return prog, r.gone(err)
		}
		if pre != nil {
			if err := r.ride.check(ctx); err != nil {
				return next, err
			}
			r.fenceRead = true
		}
		if !res.Applied {
			return res.Current, errRecheck
		}
		if outcome == broadcast.OutcomeBlocked || outcome == broadcast.OutcomeFailed {
			r.recordOutcome(ctx, chat, outcome)
		}
		prog = next
		if res.State == broadcast.StateCancelled {
			r.info.State = broadcast.StateCancelled
			r.log.InfoContext(ctx, "broadcast cancelled; settling the chunk's other recipients as cancelled")
			return prog, errRecheck
		}
	}
	return prog, nil
}

// endPass finishes a pass: the chunk is done if no recipient waits for a
// retry; otherwise the next pass starts after a backoff, or, after the last
// pass, the waiting recipients count as failed.
func (r *chunkRun) endPass(ctx context.Context, prog broadcast.Progress) (broadcast.Progress, error) {
	var waiting int
	err := redisx.UntilAnswers(ctx, func() (err error) {
		waiting, err = r.h.store.PassLength(ctx, r.id, r.chunk, prog.Pass+1)
		return err
	})
	if err != nil {
		return prog, fmt.Errorf("broadcast: read retry list: %w", err)
	}
	if waiting > 0 && prog.Pass >= r.h.retries {
		r.log.WarnContext(ctx, "recipients still failing after the last retry pass count as failed", "recipients", waiting)
		return r.rest(ctx, prog, broadcast.OutcomeFailed)
	}
	to := broadcast.Progress{Started: true, Done: true}
	if waiting > 0 {
		to = broadcast.Progress{Started: true, Pass: prog.Pass + 1}
	}
	next, err := r.step(ctx, broadcast.Step{Chunk: r.chunk, From: prog, To: to, DeletePasses: []int{prog.Pass}})
	if err != nil || next != to || to.Done {
		return next, err
	}
	after := r.h.backoff << (2 * prog.Pass)
	r.log.InfoContext(ctx, "retrying recipients whose send failed transiently", "recipients", waiting, "pass", to.Pass, "after", after)
	return next, &SnoozeError{Reason: fmt.Sprintf("%d recipient(s) to retry in pass %d", waiting, to.Pass), RetryAfter: after}
}

// step applies a progress change that settles nobody and returns the
// progress now stored: st.To, or what another run wrote.
func (r *chunkRun) step(ctx context.Context, st broadcast.Step) (broadcast.Progress, error) {
	res, err := r.h.settle(ctx, r.id, st, nil)
	if err != nil {
		return st.From, r.gone(err)
	}
	if !res.Applied {
		return res.Current, errRecheck
	}
	return st.To, nil
}

// rest settles the chunk's unsettled recipients as outcome and returns the
// progress now stored.
func (r *chunkRun) rest(ctx context.Context, prog broadcast.Progress, outcome broadcast.Outcome) (broadcast.Progress, error) {
	ctx, cancel := r.h.afterSend(ctx)
	defer cancel()
	var res broadcast.Result
	err := r.h.insist(ctx, r.id, func(ctx context.Context) error {
		var err error
		res, err = r.h.store.SettleRest(ctx, r.id, r.chunk, prog, outcome)
		return err
	})
	if err != nil {
		return prog, r.gone(err)
	}
	if !res.Applied {
		return res.Current, errRecheck
	}
	return res.Current, nil
}

// handoff enqueues the next chunk of this lane (chunk + lanes) unless it
// exists, a task has started it, or the broadcast was cancelled. Run it
// again after a crash: it is idempotent.
func (r *chunkRun) handoff(ctx context.Context) error {
	if r.handedOff {
		return nil
	}
	next := r.chunk + r.info.Lanes
	if r.info.Lanes <= 0 || next >= r.info.Chunks || r.info.State == broadcast.StateCancelled {
		r.handedOff = true
		return nil
	}
	task, err := tasks.NewBroadcastChunkTask(&tasks.BroadcastChunk{Broadcast: r.id, Chunk: next})
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	err = redisx.UntilAnswers(ctx, func() error {
		p, err := r.h.store.Progress(ctx, r.id, next)
		if err != nil || p.Started {
			return err
		}
		_, err = r.h.enqueuer.EnqueueContext(ctx, task)
		if errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("broadcast: hand over to chunk %d: %w", next, err)
	}
	r.handedOff = true
	return nil
}

// errGone ends a run whose broadcast disappeared (expired or deleted).
var errGone = errors.New("broadcast disappeared")

// gone wraps a failure to record progress; the store's ErrNotFound (the
// broadcast expired or was deleted while running) becomes errGone.
func (r *chunkRun) gone(err error) error {
	if errors.Is(err, broadcast.ErrNotFound) {
		return errGone
	}
	return fmt.Errorf("broadcast: record progress: %w", err)
}

// fence checks, without a limiter, that the chunk was not taken from this
// process before a recipient is sent: its own round trip only if the
// settle of the recipient before did not carry the read (the run's first
// recipient, or one after a step that settles nobody). With a limiter the
// read rides in its calls (see waitForSlot).
func (r *chunkRun) fence(ctx context.Context) error {
	if r.ride == nil || r.h.limiter != nil || r.fenceRead {
		return nil
	}
	return r.readFence(ctx)
}

// readFence reads the task's fence in a round trip of its own: a
// *FencedError if the chunk was taken from this process.
func (r *chunkRun) readFence(ctx context.Context) error {
	if r.ride == nil {
		return nil
	}
	err := redisx.UntilAnswers(ctx, func() error {
		pipe := r.h.rdb.Pipeline()
		r.ride.add(ctx, pipe)
		_, err := pipe.Exec(ctx)
		if errors.Is(err, redis.Nil) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("broadcast: read fence: %w", err)
	}
	if err := r.ride.check(ctx); err != nil {
		return err
	}
	r.fenceRead = true
	return nil
}

// send sends the message to one chat and sorts the answer: an outcome to
// settle, or an error that ends the run (429, a long limiter wait, a bad
// token, an outage).
func (r *chunkRun) send(ctx context.Context, chatID int64) (broadcast.Outcome, error) {
	chat := telego.ChatID{ID: chatID}
	start := time.Now()
	release, err := r.awaitUploads(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	if time.Since(start) >= uploadPoll {
		// It waited for another sender's upload: the fence, read before
		// that wait, is read again.
		if err := r.readFence(ctx); err != nil {
			return "", err
		}
	}
	for migrations := 0; ; migrations++ {
		k, err := r.key(chat)
		if err != nil {
			return "", err
		}
		if err := r.h.waitForSlot(ctx, r.botName, k, r.ride); err != nil {
			return "", err
		}
		r.fenceRead = false
		start := time.Now()
		sendErr, err := r.deliver(ctx, chat)
		if err != nil {
			return "", err
		}
		v := classify(sendErr, r.botName, migrations)
		r.h.obs.Sent(r.botName, v.outcome, time.Since(start))
		switch v.class {
		case classSent:
			r.transient = 0
			return broadcast.OutcomeSent, nil
		case classMigrated:
			chat = telego.ChatID{ID: v.migrateTo}
			continue
		case classRateLimited:
			throttled(ctx, r.h.limiter, r.log, k, v.retryAfter, "chat_id", chatID)
			return "", v.returned()
		case classUnauthorized:
			r.log.ErrorContext(ctx, "Telegram rejected the bot token: check the worker's configuration; run the archived chunk task again to resume", "bot", r.botName)
			r.h.lastError(ctx, r.id, v.err)
			return "", v.returned()
		case classTransient:
			return r.transientFailure(ctx, chatID, v.err)
		}
		// Permanent: this recipient never gets the message; the others may.
		r.transient = 0
		r.verdict = v
		if v.code == 403 {
			return broadcast.OutcomeBlocked, nil
		}
		r.log.DebugContext(ctx, "recipient failed for good", "chat_id", chatID, "code", v.code, "error", v.err)
		return broadcast.OutcomeFailed, nil
	}
}

// transientFailure defers one recipient to the next retry pass, unless
// OutageAfter recipients in a row failed: then the chunk task fails and is
// retried with backoff, leaving the recipient unsettled.
func (r *chunkRun) transientFailure(ctx context.Context, chatID int64, err error) (broadcast.Outcome, error) {
	r.h.obs.Retry(r.botName)
	r.transient++
	if r.transient >= r.h.outageAfter {
		out := fmt.Errorf("broadcast: %d recipients in a row failed, last %w; pausing the chunk", r.transient, err)
		r.h.lastError(ctx, r.id, out)
		return "", out
	}
	r.log.DebugContext(ctx, "recipient failed transiently; retrying in the next pass", "chat_id", chatID, "error", err)
	return broadcast.OutcomeRetry, nil
}

// waitForSlot waits for a limiter slot. It reserves only a slot at most
// Lookahead away, so that messages from other queues reserving meanwhile go
// first (see the package documentation):
//
//   - a slot within the lookahead is reserved at once;
//   - otherwise the chunk queues on the bot's pacer (one per process) and,
//     holding it, sleeps until the slot comes within the lookahead and asks
//     again, so that per slot one chunk per process asks rather than all;
//   - a wait beyond MaxWait (a 429 pause, a busy group) reschedules the
//     chunk.
//
// After sleeping until its slot, the chunk checks that no 429 pause began
// meanwhile: a send into a pause draws another 429 and lengthens the pause
// for every sender.
func (h *BroadcastHandler) waitForSlot(ctx context.Context, bot string, k ratelimit.Key, ride *fenceRide) error {
	if h.limiter == nil {
		return nil
	}
	for {
		wait, err := h.reserveWithin(ctx, bot, k, ride)
		if err != nil {
			return err
		}
		again, err := sleepToSlot(ctx, h.limiter, k, wait, sleepCtx, ride)
		if !again {
			return err
		}
		// The reserved slot is lost; ask again behind the pause.
	}
}

// reserveWithin reserves a slot at most Lookahead away and returns the wait
// until it, or a *LimiterWaitError for a wait beyond MaxWait. The task's
// fence rides in every limiter call: a *FencedError if the chunk was taken
// from this process.
func (h *BroadcastHandler) reserveWithin(ctx context.Context, bot string, k ratelimit.Key, ride *fenceRide) (time.Duration, error) {
	within := ratelimit.Within{MaxWait: h.lookahead, Share: h.share}
	r, err := h.limiter.AcquireAfter(ctx, k, within, ride.pre(ctx))
	if err != nil {
		return 0, fmt.Errorf("rate limiter unavailable: %w", err)
	}
	if err := ride.check(ctx); err != nil {
		return 0, err
	}
	if r.OK {
		return r.Wait, nil
	}
	wait := r.Wait
	pacer := h.pacer(bot)
	pacer.Lock()
	defer pacer.Unlock()
	var waited time.Duration
	for {
		if wait > h.maxWait {
			h.obs.RateLimitWait(bot, wait, true)
			return 0, &LimiterWaitError{RetryAfter: wait}
		}
		// Beyond the lookahead: sleep until the slot is within it.
		d := max(wait-h.lookahead, time.Millisecond)
		waited += d
		if err := sleepCtx(ctx, d); err != nil {
			return 0, err
		}
		r, err = h.limiter.AcquireAfter(ctx, k, within, ride.pre(ctx))
		if err != nil {
			return 0, fmt.Errorf("rate limiter unavailable: %w", err)
		}
		if err := ride.check(ctx); err != nil {
			return 0, err
		}
		if r.OK {
			h.obs.RateLimitWait(bot, waited+r.Wait, false)
			return r.Wait, nil
		}
		wait = r.Wait
	}
}

func (h *BroadcastHandler) pacer(bot string) *sync.Mutex {
	h.pacersMu.Lock()
	defer h.pacersMu.Unlock()
	p, ok := h.pacers[bot]
	if !ok {
		p = new(sync.Mutex)
		h.pacers[bot] = p
	}
	return p
}

// settle records one step, insisting while Redis is unreachable (as sent
// markers do): the step may record a message Telegram already confirmed.
// Its context is not canceled with the run's (see afterSend), so that a run
// stopped by shutdown still records what it sent.
//
// pre, if not nil, queues commands that go in the step's round trip (see
// [broadcast.Store.SettleAfter]).
func (h *BroadcastHandler) settle(ctx context.Context, id string, st broadcast.Step, pre func(redis.Pipeliner)) (broadcast.Result, error) {
	ctx, cancel := h.afterSend(ctx)
	defer cancel()
	var res broadcast.Result
	err := h.insist(ctx, id, func(ctx context.Context) error {
		var err error
		res, err = h.store.SettleAfter(ctx, id, st, pre)
		return err
	})
	return res, err
}

// afterSend returns a context for the writes that record what Telegram
// confirmed: not canceled with the run's, and bounded by SettleTimeout.
func (h *BroadcastHandler) afterSend(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), h.settleTimeout)
}

// insist runs f until it succeeds, fails with an error that a retry cannot
// fix, or ctx ends (see the package's insist).
func (h *BroadcastHandler) insist(ctx context.Context, id string, f func(context.Context) error) error {
	return redisx.Insist(ctx, h.log, "broadcast progress", "a recipient may be sent the message again", []any{"broadcast", id}, redisx.Recoverable, f)
}

// lastError records a chunk-wide error in the broadcast's status, best
// effort.
func (h *BroadcastHandler) lastError(ctx context.Context, id string, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if e := h.store.SetLastError(ctx, id, err.Error()); e != nil {
		h.log.WarnContext(ctx, "could not record the broadcast's last error", "broadcast", id, "error", e)
	}
}

// recordOutcome appends the event of a recipient settled as blocked or
// failed, with Telegram's answer, waiting while Redis is unreachable up to
// SettleTimeout. Giving up loses the event, never a recipient.
func (r *chunkRun) recordOutcome(ctx context.Context, chatID int64, outcome broadcast.Outcome) {
	if r.h.outcomes == nil {
		return
	}
	e := newEvent(ctx, r.task, tasks.OutcomeArchived, r.botName, strconv.FormatInt(chatID, 10))
	if outcome == broadcast.OutcomeBlocked {
		e.Outcome = tasks.OutcomeBlocked
	}
	e.BroadcastID, e.ErrorCode = r.id, r.verdict.code
	var te *TelegramError
	if errors.As(r.verdict.err, &te) {
		e.Description = te.Description
	}
	ctx, cancel := r.h.afterSend(ctx)
	defer cancel()
	if err := redisx.UntilAnswers(ctx, func() error { return r.h.outcomes.Append(ctx, e) }); err != nil {
		r.log.WarnContext(ctx, "could not record a recipient's outcome event", "chat_id", chatID, "error", err)
	}
}
