// Package worker wires a handler server from configuration: bots, the
// cluster-wide limiter, sent markers, metrics and the asynq server. cmd/worker
// and dev mode call it.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/internal/botreg"
	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/metrics"
	"github.com/telequeue/telequeue/ratelimit"
	"github.com/telequeue/telequeue/server"
	"github.com/telequeue/telequeue/tasks"
)

// Deps are optional overrides; zero values build the defaults from config.
type Deps struct {
	// Redis overrides cfg.Redis() (dev mode passes its embedded Redis).
	Redis *config.RedisConn
	// Registry receives the sender metrics; default a new one. With
	// METRICS_PORT set, the worker serves it at /metrics.
	Registry *prometheus.Registry
}

// Worker is a configured handler server. [Worker.Run] it, or [Worker.Close]
// it if it will not run.
type Worker struct {
	Server      *server.Server
	rdb         redis.UniversalClient
	registry    *prometheus.Registry
	metricsPort int
	log         *slog.Logger
	closeOnce   sync.Once
	closeErr    error
	bots        []string  // names announced in the bot registry
	hooks       *webhooks // nil without WEBHOOK_URL
}

// New builds a worker from cfg.
func New(cfg *config.Config, log *slog.Logger, deps Deps) (*Worker, error) {
	conn := deps.Redis
	if conn == nil {
		var err error
		if conn, err = cfg.Redis(); err != nil {
			return nil, err
		}
	}
	if len(cfg.Bots) == 0 {
		return nil, errors.New("worker: no bot configured: set TELEGRAM_BOT_TOKEN or TELEGRAM_BOTS")
	}
	tokens := make(map[string]string, len(cfg.Bots))
	for name, tok := range cfg.Bots {
		tokens[name] = tok.Reveal()
	}
	bots, err := handlers.NewBots(handlers.BotsConfig{Tokens: tokens, APIURL: cfg.TelegramAPIURL, Timeout: cfg.TelegramTimeout})
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	reg := deps.Registry
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	sender := metrics.NewSenderMetrics(reg)
	sender.Init(cfg.BotNames())
	rdb := conn.NewClient()
	limiter, err := newLimiter(rdb, cfg)
	if err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("worker: %w", err)
	}
	var markers redis.UniversalClient // nil: no sent markers
	if cfg.SentMarkers {
		markers = rdb
	}
	var outcomes handlers.Outcomes // nil: no outcome stream
	if cfg.EventsMaxLen > 0 {
		outcomes = handlers.NewOutcomeStream(rdb, cfg.EventsMaxLen)
	}
	uploads, err := handlers.NewUploadStore(rdb, cfg.UploadMaxBytes)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	// The server's asynq client carries the delivery records (see
	// handlers.Completions).
	var completions *handlers.Completions // nil: records in a round trip of their own
	if cfg.CompletionRides {
		completions = handlers.NewCompletions(log)
	}
	// The server's asynq client reads for each task it dequeues (see
	// handlers.Prefetch).
	var prefetch *handlers.Prefetch // nil: handlers read in the limiter's round trip
	if cfg.DequeueRides {
		prefetch = handlers.NewPrefetch(cfg.SentMarkers, limiter, cfg.BotNames(), log)
	}
	h, err := handlers.NewSendMessageHandler(handlers.Config{
		Completions:   completions,
		Bots:          bots,
		Limiter:       limiter,
		GlobalQueues:  cfg.RateGlobalQueues,
		Redis:         markers,
		SentMarkerTTL: cfg.SentMarkerTTL,
		ChatWaiters:   max(cfg.Concurrency/2, 1),
		Observer:      sender,
		Outcomes:      outcomes,
		Logger:        log,
	})
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	// Multi-part replies and ordered messages; orders live in rdb.
	taskHandlers, err := handlers.TaskHandlers(h, handlers.OrderedConfig{Redis: rdb, Logger: log})
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	bh, err := newBroadcastHandler(cfg, bots, rdb, limiter, sender, outcomes, uploads, log)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	taskHandlers[tasks.TypeBroadcastChunk] = bh
	calls, err := handlers.NewCallHandler(h, uploads)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	callHandlers, err := calls.Handlers(handlers.OrderedConfig{Redis: rdb, Logger: log})
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	maps.Copy(taskHandlers, callHandlers)
	queues := cfg.Queues
	var hooks *webhooks
	if cfg.WebhookURL != "" {
		if hooks, err = newWebhooks(cfg, rdb, log); err != nil {
			_ = rdb.Close()
			return nil, err
		}
		taskHandlers[tasks.TypeWebhook] = hooks.handler
		queues = maps.Clone(queues)
		if _, ok := queues[tasks.QueueWebhooks]; !ok {
			queues[tasks.QueueWebhooks] = WebhookQueueWeight
		}
	}
	level, _ := config.ParseLevel(cfg.LogLevel)
	deadAfter := cfg.RecoveryDeadAfter
	if deadAfter == 0 {
		deadAfter = -1 // RECOVERY_DEAD_AFTER=0: asynq's recovery only
	}
	srv, err := server.New(server.Config{
		Redis:                    asynq.RedisConnOpt(conn),
		Concurrency:              cfg.Concurrency,
		Queues:                   queues,
		StrictPriority:           cfg.StrictPriority,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		TaskCheckInterval:        cfg.TaskCheckInterval,
		DelayedTaskCheckInterval: cfg.DelayedTaskCheckInterval,
		DeadAfter:                deadAfter,
		Heartbeat:                cfg.RecoveryBeat,
		SendMessage:              h,
		Handlers:                 taskHandlers,
		Outcomes:                 outcomes,
		Completions:              completions,
		Prefetch:                 prefetch,
		Logger:                   log,
		LogLevel:                 level,
	})
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	log.Info("worker configured", "bots", cfg.BotNames(), "concurrency", cfg.Concurrency,
		"rate_global", cfg.RateGlobal, "rate_chat", cfg.RateChat, "rate_group_per_min", cfg.RateGroup, "rate_paid", cfg.RatePaid,
		"queues", cfg.Queues, "strict_priority", cfg.StrictPriority, "telegram_api", cfg.TelegramAPIURL)
	if longest := cfg.TelegramTimeout + cfg.RateMaxWait; cfg.ShutdownTimeout < longest {
		log.Warn("SHUTDOWN_TIMEOUT is shorter than a send may take (TELEGRAM_TIMEOUT + RATE_MAX_WAIT): "+
			"a send still running at shutdown has its task pushed back to the queue, and a worker that takes it "+
			"before Telegram answers sends the message again",
			"shutdown_timeout", cfg.ShutdownTimeout, "telegram_timeout", cfg.TelegramTimeout, "rate_max_wait", cfg.RateMaxWait)
	}
	return &Worker{Server: srv, rdb: rdb, registry: reg, metricsPort: cfg.MetricsPort, log: log, bots: cfg.BotNames(), hooks: hooks}, nil
}

// Close releases the worker's Redis clients and goroutines. Run calls it
// when it returns; call it on a worker that will not run. Later calls return
// the first one's result.
func (w *Worker) Close() error {
	w.closeOnce.Do(func() {
		w.Server.Shutdown()
		if err := w.rdb.Close(); err != nil {
			w.closeErr = fmt.Errorf("worker: close: %w", err)
		}
	})
	return w.closeErr
}

// Run processes tasks until ctx is done, then shuts down gracefully and
// closes the worker. With METRICS_PORT set it also serves /metrics and
// /healthz on that port.
func (w *Worker) Run(ctx context.Context) error {
	defer w.Close()
	// Producers without TELEGRAM_BOTS check bot names against this registry.
	defer botreg.Start(ctx, w.rdb, w.bots, w.log)()
	defer w.hooks.start(ctx)()
	if w.metricsPort > 0 {
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(w.metricsPort))
		if err != nil {
			return fmt.Errorf("worker: metrics port: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics.Handler(w.registry))
		mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) { _, _ = rw.Write([]byte("ok\n")) })
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				w.log.Error("metrics server stopped", "error", err)
			}
		}()
		w.log.Info("worker metrics listening", "addr", ln.Addr().String())
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = hs.Shutdown(sctx)
		}()
	}
	return w.Server.Run(ctx)
}

// newLimiter builds the cluster-wide limiter. With every limit at 0 it still
// honours the cluster-wide pauses that Telegram's 429 answers set.
func newLimiter(rdb redis.UniversalClient, cfg *config.Config) (*ratelimit.Limiter, error) {
	return ratelimit.New(rdb, ratelimit.Config{
		Global:  cfg.RateGlobal,
		Chat:    cfg.RateChat,
		Group:   cfg.RateGroup,
		Paid:    cfg.RatePaid,
		MaxWait: cfg.RateMaxWait,
		Margin:  cfg.RateMargin,
	})
}
