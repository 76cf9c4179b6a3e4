// Package server builds the asynq server that runs telequeue's handlers: its
// concurrency, queue weights, retry policy, error logging and graceful
// shutdown.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/internal/logging"
	"github.com/telequeue/telequeue/internal/recovery"
	"github.com/telequeue/telequeue/internal/redisx"
	"github.com/telequeue/telequeue/tasks"
)

// Config configures a Server. Zero values mean the documented defaults.
type Config struct {
	// Redis is the connection (required).
	Redis asynq.RedisConnOpt
	// Concurrency is the number of senders (default 10).
	Concurrency int
	// Queues maps queue names to weights (default critical=6, default=3,
	// bulk=1).
	Queues map[string]int
	// StrictPriority drains higher-weight queues first.
	StrictPriority bool
	// CallbackConcurrency is the number of senders that serve
	// tasks.QueueCallbacks (answerCallbackQuery) and nothing else, so that
	// an answer never waits behind other work (default 4). Negative serves
	// that queue with the other senders instead, at the highest weight.
	CallbackConcurrency int
	// ShutdownTimeout is how long in-flight sends may finish on shutdown
	// before their tasks go back to the queue (default 25s).
	ShutdownTimeout time.Duration
	// DrainTimeout is how long Shutdown still waits, after ShutdownTimeout,
	// for handlers that outlived it (default 4s). asynq has pushed their
	// tasks back to the queue by then, but it cannot stop a Bot API request
	// in flight: a send that Telegram confirms meanwhile writes its sent
	// marker, so that the task's next run completes without sending again.
	// The process exits when Shutdown returns, so ShutdownTimeout plus
	// DrainTimeout should fit the platform's stop grace period (Heroku:
	// 30s).
	DrainTimeout time.Duration
	// TaskCheckInterval is the idle polling interval (default 1s).
	TaskCheckInterval time.Duration
	// DelayedTaskCheckInterval is how often scheduled and retried tasks are
	// moved to their queues (default 5s).
	DelayedTaskCheckInterval time.Duration
	// SendMessage handles tasks.TypeSendMessage (required).
	SendMessage asynq.Handler
	// Handlers handle further task types, keyed by type name.
	Handlers map[string]asynq.Handler
	// Outcomes receives an event for every task that ends archived
	// ("blocked" for a 403, "archived" otherwise; see
	// handlers.FailureEvent); nil records none. Pass the one the handlers
	// record deliveries with.
	Outcomes handlers.Outcomes
	// Completions, if not nil, is the handlers' (handlers.Config
	// Completions): the server adds its hook to its Redis client, so that
	// the writes recording a delivery ride in asynq's completion of the
	// task.
	Completions *handlers.Completions
	// Prefetch, if not nil, is the handlers' reads that ride with asynq's
	// dequeue (handlers.Prefetch): the server adds its hook to its Redis
	// client, unless that is a cluster client, and hands each task's reads
	// to its handler.
	Prefetch *handlers.Prefetch
	// DeadAfter is how long a worker process may be silent before another
	// takes its running tasks back (default 13s: above a 12 s stall plus a
	// heartbeat, below 15 s with the scan and the pickup); negative turns
	// this fast recovery off, leaving asynq's own (about 2 minutes). Every
	// worker sharing the Redis should use the same value.
	DeadAfter time.Duration
	// Heartbeat is how often the process records its running tasks and
	// looks for dead processes (default 250ms); DeadAfter must be at least
	// ten of them.
	Heartbeat time.Duration
	// ReadFences makes every run read its task's fence wherever a handler
	// checks it (see internal/recovery), as a run of a process whose
	// heartbeat had a gap does. Off (the default), a run whose process has
	// beaten without a gap since the run began skips the read: no
	// recoverer can have taken its task. For tests that take a task over
	// without stopping its process.
	ReadFences bool
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// LogLevel is the level of asynq's own messages (default info).
	LogLevel slog.Level
}

// ErrUnknownTaskType is returned for a task whose type has no handler on
// this worker. It is not wrapped with asynq.SkipRetry: the task is retried,
// so that during a rolling deploy a newer worker that knows the type takes
// it, and archived with this reason once its retries run out.
var ErrUnknownTaskType = errors.New("unknown task type")

// Server is an asynq server with telequeue's handlers and policies.
type Server struct {
	srv  *asynq.Server
	lane *asynq.Server         // serves tasks.QueueCallbacks alone; nil if off
	rdb  redis.UniversalClient // made from Config.Redis; closed by Shutdown
	// completions carries the handlers' delivery records; nil if none.
	completions *handlers.Completions
	// prefetch holds the reads of asynq's dequeues; nil if none.
	prefetch *handlers.Prefetch
	// readFences: runs always read their fences (Config.ReadFences).
	readFences bool
	insp       *asynq.Inspector         // wakes calls waiting for a failed task's message
	types      map[string]asynq.Handler // task type → handler, matched exactly
	log        *slog.Logger
	drain      time.Duration

	outcomes handlers.Outcomes

	rec *recovery.Process // heartbeat and recoverer; nil if DeadAfter < 0

	inflight sync.WaitGroup // handler calls running now
	running  atomic.Int64   // how many, for logs
	warm     *warmPool      // runs the handler calls; its goroutines start with Start
	shutdown sync.Once
}

// DefaultQueues are the default queue weights.
func DefaultQueues() map[string]int {
	return map[string]int{tasks.QueueCritical: 6, tasks.QueueDefault: 3, tasks.QueueBulk: 1}
}

// validate checks cfg and fills in the defaults. It starts nothing, so that
// an invalid configuration leaves nothing behind.
func (cfg *Config) validate() error {
	if cfg.Redis == nil {
		return errors.New("server: Redis is required")
	}
	if cfg.SendMessage == nil {
		return errors.New("server: SendMessage handler is required")
	}
	for typ, h := range cfg.Handlers {
		if typ == "" || typ == tasks.TypeSendMessage || h == nil {
			return fmt.Errorf("server: bad handler for task type %q", typ)
		}
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 10
	}
	if len(cfg.Queues) == 0 {
		cfg.Queues = DefaultQueues()
	}
	if cfg.CallbackConcurrency == 0 {
		cfg.CallbackConcurrency = 4
	}
	if cfg.CallbackConcurrency < 0 {
		if _, ok := cfg.Queues[tasks.QueueCallbacks]; !ok {
			top := 1
			for _, w := range cfg.Queues {
				top = max(top, w)
			}
			cfg.Queues = maps.Clone(cfg.Queues)
			cfg.Queues[tasks.QueueCallbacks] = top
		}
	} else if _, ok := cfg.Queues[tasks.QueueCallbacks]; ok {
		return fmt.Errorf("server: queue %q is served by its own senders (CallbackConcurrency); leave it out of Queues or set CallbackConcurrency < 0", tasks.QueueCallbacks)
	}
	for q, w := range cfg.Queues {
		if w <= 0 {
			return fmt.Errorf("server: queue %q has weight %d; weights must be positive", q, w)
		}
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 25 * time.Second
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 4 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return nil
}

// New validates cfg and builds the server. It starts no goroutine and opens
// no connection (the Redis client connects on first use); call
// [Server.Run], or [Server.Start] and then [Server.Shutdown], which also
// releases a server that was never started.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// The server owns its Redis client rather than letting asynq make one:
	// asynq closes the client it made only when a started server shuts
	// down, so a server that never starts would leak it.
	rdb, ok := cfg.Redis.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("server: unsupported Redis option type %T", cfg.Redis)
	}
	log := cfg.Logger
	if cfg.Completions != nil {
		rdb.AddHook(cfg.Completions.Hook(rdb))
	}
	prefetch := cfg.Prefetch
	if _, cluster := rdb.(*redis.ClusterClient); cluster {
		prefetch = nil
	}
	if prefetch != nil {
		rdb.AddHook(prefetch.Hook(rdb))
	}
	var err error
	acfg := asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   cfg.Queues,
		StrictPriority:           cfg.StrictPriority,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		TaskCheckInterval:        cfg.TaskCheckInterval,
		DelayedTaskCheckInterval: cfg.DelayedTaskCheckInterval,
		RetryDelayFunc:           handlers.RetryDelay,
		IsFailure:                handlers.IsFailure,
		ErrorHandler:             asynq.ErrorHandlerFunc(errorLogger(log)),
		Logger:                   logging.Asynq{L: log},
		LogLevel:                 logging.AsynqLevel(cfg.LogLevel),
		HealthCheckFunc: func(err error) {
			if err != nil {
				log.Warn("redis health check failed", "error", err)
			}
		},
	}
	srv := asynq.NewServerFromRedisClient(rdb, acfg)
	s := &Server{srv: srv, rdb: rdb, completions: cfg.Completions, prefetch: prefetch, readFences: cfg.ReadFences, insp: asynq.NewInspectorFromRedisClient(rdb), types: map[string]asynq.Handler{}, log: log, drain: cfg.DrainTimeout, outcomes: cfg.Outcomes,
		warm: newWarmPool(cfg.Concurrency, log)}
	queues := slices.Collect(maps.Keys(cfg.Queues))
	if cfg.CallbackConcurrency > 0 {
		// The callback lane: its own asynq server on the same Redis
		// client, with its own senders, polling only its queue.
		lane := acfg
		lane.Concurrency, lane.Queues, lane.StrictPriority = cfg.CallbackConcurrency, map[string]int{tasks.QueueCallbacks: 1}, false
		s.lane = asynq.NewServerFromRedisClient(rdb, lane)
		if prefetch != nil {
			// Its polls ride on the other queues' dequeues.
			prefetch.Lane(tasks.QueueCallbacks)
		}
		queues = append(queues, tasks.QueueCallbacks)
	}
	if cfg.DeadAfter >= 0 {
		if s.rec, err = recovery.New(recovery.Config{Redis: rdb, Queues: queues, Beat: cfg.Heartbeat, DeadAfter: cfg.DeadAfter, Logger: log}); err != nil {
			_ = rdb.Close()
			return nil, fmt.Errorf("server: %w", err)
		}
	}
	s.types[tasks.TypeSendMessage] = s.track(cfg.SendMessage)
	for typ, h := range cfg.Handlers {
		s.types[typ] = s.track(h)
	}
	return s, nil
}

// dispatch runs the handler of t's type and caps its error's text (see
// [MaxErrorChars]). Types match exactly: asynq's ServeMux matches by prefix,
// which would hand "telegram:send_message_v2" to the send_message handler.
func (s *Server) dispatch(ctx context.Context, t *asynq.Task) error {
	h, ok := s.types[t.Type()]
	if !ok {
		typ := t.Type()
		if len(typ) > 100 {
			typ = typ[:100] + "…"
		}
		return fmt.Errorf("%w %q: this worker has no handler for it (a newer one may)", ErrUnknownTaskType, typ)
	}
	err := capError(h.ProcessTask(ctx, t))
	if err == nil {
		return nil
	}
	if e := handlers.FailureEvent(ctx, t, err); e != nil {
		if s.outcomes != nil {
			s.recordFailure(ctx, e)
		}
		// Calls that wait for this task's message (message_task_id)
		// fail now rather than at their next look.
		handlers.WakeRefWaiters(context.WithoutCancel(ctx), s.rdb, s.insp, s.log, e.TaskID)
	}
	return err
}

// recordFailure appends the event of a task that is about to be archived,
// waiting while Redis is unreachable for up to outcomeWriteTimeout (asynq
// cannot archive the task meanwhile either).
func (s *Server) recordFailure(ctx context.Context, e *tasks.Event) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outcomeWriteTimeout)
	defer cancel()
	if err := redisx.UntilAnswers(ctx, func() error { return s.outcomes.Append(ctx, e) }); err != nil {
		s.log.WarnContext(ctx, "could not record the outcome event of an archived task", "task_id", e.TaskID, "error", err)
	}
}

// outcomeWriteTimeout bounds how long recordFailure waits for Redis.
const outcomeWriteTimeout = 30 * time.Second

// track counts h's running calls, so that Shutdown can wait for those that
// outlive asynq's shutdown timeout.
func (s *Server) track(h asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		s.inflight.Add(1)
		s.running.Add(1)
		defer func() {
			s.running.Add(-1)
			s.inflight.Done()
		}()
		id, _ := asynq.GetTaskID(ctx)
		ctx = s.prefetch.Attach(ctx, id)
		if s.rec != nil {
			queue, _ := asynq.GetQueueName(ctx)
			defer s.rec.Begin(queue, id)()
			if s.readFences {
				ctx = recovery.WithProcess(ctx, s.rec.ID(), time.Now())
			} else {
				ctx = s.rec.WithRun(ctx, time.Now())
			}
		}
		return s.warm.run(func() error { return h.ProcessTask(ctx, t) })
	})
}

// Start starts processing in the background. Call [Server.Shutdown] when
// done.
func (s *Server) Start() error {
	if s.rec != nil {
		// Known before it runs a task: a task it runs is listed by the
		// next beat.
		s.rec.Start(context.Background())
	}
	if err := s.srv.Start(asynq.HandlerFunc(s.dispatch)); err != nil {
		return fmt.Errorf("server: start: %w", err)
	}
	if s.lane != nil {
		if err := s.lane.Start(asynq.HandlerFunc(s.dispatch)); err != nil {
			s.srv.Shutdown()
			return fmt.Errorf("server: start the callback lane: %w", err)
		}
	}
	s.warm.start()
	return nil
}

// Shutdown stops fetching new tasks, lets in-flight sends finish within
// ShutdownTimeout, pushes unfinished tasks back to their queues, waits up to
// DrainTimeout for handlers still running, closes the Redis client and
// returns. On a server that was never started it only closes the client.
// Calls after the first do nothing.
func (s *Server) Shutdown() {
	s.shutdown.Do(func() {
		s.srv.Stop()
		if s.lane != nil {
			s.lane.Stop()
			s.lane.Shutdown()
		}
		s.srv.Shutdown()
		s.waitHandlers()
		if s.completions != nil {
			// Records of sends that finished after asynq pushed their
			// tasks back: no asynq script will carry them.
			ctx, cancel := context.WithTimeout(context.Background(), s.drain)
			s.completions.Flush(ctx)
			cancel()
		}
		if s.rec != nil {
			// After the handlers: a task still running must stay listed,
			// or another worker would take it back DeadAfter later.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.rec.Stop(ctx)
			cancel()
		}
		s.warm.stop()
		if err := s.rdb.Close(); err != nil {
			s.log.Warn("server: closing the Redis client", "error", err)
		}
	})
}

// waitHandlers waits, up to the drain timeout, for handlers that asynq gave
// up on at its shutdown timeout. No handler starts after asynq's Shutdown,
// so Add cannot race with Wait.
func (s *Server) waitHandlers() {
	n := s.running.Load()
	if n == 0 {
		return
	}
	s.log.Warn("sends outlived SHUTDOWN_TIMEOUT and their tasks are back in the queue; waiting for Telegram's answers so that a confirmed send is not repeated",
		"handlers", n, "drain_timeout", s.drain)
	done := make(chan struct{})
	go func() {
		s.inflight.Wait()
		close(done)
	}()
	timer := time.NewTimer(s.drain)
	defer timer.Stop()
	select {
	case <-done:
		s.log.Info("running sends finished")
	case <-timer.C:
		s.log.Error("exiting with sends still running; a message they were sending may be sent again",
			"handlers", s.running.Load())
	}
}

// Run processes tasks until ctx is done (e.g. by SIGTERM through
// signal.NotifyContext), then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		s.Shutdown()
		return err
	}
	<-ctx.Done()
	s.log.Info("shutting down: finishing in-flight sends")
	s.Shutdown()
	s.log.Info("shutdown complete")
	return nil
}

// Ping checks the connection to Redis.
func (s *Server) Ping() error { return s.srv.Ping() }

// errorLogger logs each failed attempt with task id, type, queue, chat and
// attempt. The error text is ours (see handlers), never a token.
func errorLogger(log *slog.Logger) func(ctx context.Context, t *asynq.Task, err error) {
	return func(ctx context.Context, t *asynq.Task, err error) {
		id, _ := asynq.GetTaskID(ctx)
		queue, _ := asynq.GetQueueName(ctx)
		retried, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		attrs := []any{
			"task_id", id, "type", t.Type(), "queue", queue, "chat_id", chatOf(t.Payload()),
			"attempt", retried + 1, "max_retry", maxRetry, "error", err.Error(),
		}
		var rs handlers.Rescheduled
		switch {
		case errors.As(err, &rs):
			log.DebugContext(ctx, "send postponed by rate limit", attrs...)
		case errors.Is(err, asynq.SkipRetry):
			log.WarnContext(ctx, "send failed for good; task archived", attrs...)
		case retried >= maxRetry:
			log.ErrorContext(ctx, "send failed; retries exhausted; task archived", attrs...)
		case errors.Is(err, ErrUnknownTaskType), errors.Is(err, handlers.ErrNewerPayload):
			log.WarnContext(ctx, "task from a newer version than this worker; will retry so that an upgraded worker takes it", attrs...)
		default:
			log.WarnContext(ctx, "send failed; will retry", attrs...)
		}
	}
}

// chatOf reads the chat of a payload for a log line: a message's chat_id,
// or a call's (params.chat_id).
func chatOf(payload []byte) string {
	var p struct {
		ChatID json.RawMessage `json:"chat_id"`
		Params struct {
			ChatID json.RawMessage `json:"chat_id"`
		} `json:"params"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return ""
	}
	chat := p.ChatID
	if len(chat) == 0 {
		chat = p.Params.ChatID
	}
	if len(chat) > 40 {
		return ""
	}
	var s string
	if json.Unmarshal(chat, &s) == nil {
		return s
	}
	return string(chat)
}
