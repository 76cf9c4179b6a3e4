package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/broadcast"
	"github.com/telequeue/telequeue/internal/metrics"
	"github.com/telequeue/telequeue/tasks"
)

// Messages is what the API needs from the queue client; *client.Client
// implements it. POST /v1/methods/{method} queues calls with CallJSON,
// storing a multipart body's files as they arrive with PutFile (and
// ReleaseFiles when the request fails before CallJSON), within the
// client's limits (UploadMaxBytes): the client's configuration (its Bots,
// Retention, MaxRetry, UploadMaxBytes) applies to calls as to messages.
type Messages interface {
	SendMessage(ctx context.Context, m *tasks.SendMessage, opts ...client.Option) (*client.Receipt, error)
	Status(ctx context.Context, id string) (*client.Status, error)
	CallJSON(ctx context.Context, method string, params json.RawMessage, files map[string]client.File, opts ...client.Option) (*client.Receipt, error)
	PutFile(ctx context.Context, id string, a client.Attachment, f client.File) (tasks.Upload, error)
	ReleaseFiles(ctx context.Context, id string, ups map[string]tasks.Upload)
	UploadMaxBytes() int64
}

var _ Messages = (*client.Client)(nil)

// Inspector is what the stats and metrics read from asynq; *asynq.Inspector
// implements it.
type Inspector interface {
	Queues() ([]string, error)
	GetQueueInfo(queue string) (*asynq.QueueInfo, error)
	Servers() ([]*asynq.ServerInfo, error)
}

var _ Inspector = (*asynq.Inspector)(nil)

// Defaults of [Config].
const (
	DefaultReadyTimeout = 2 * time.Second
	// MaxBodyBytes is the largest request body POST /v1/messages accepts.
	MaxBodyBytes = 64 << 10
	// DashboardPath is where the dashboard is mounted.
	DashboardPath = "/monitoring"
)

// Config configures a [Server]. Zero values mean the documented defaults.
type Config struct {
	// Redis is the connection to the queues' Redis, required: the
	// dashboard, the readiness check and (unless Inspector is set) the stats
	// use it. Any of asynq's options works (asynq.RedisClientOpt,
	// RedisFailoverClientOpt, RedisClusterClientOpt), or any
	// asynq.RedisConnOpt whose MakeRedisClient returns a new
	// redis.UniversalClient on each call (the server closes what it makes).
	Redis asynq.RedisConnOpt
	// Client queues messages and reports their status; required when
	// APIToken is set. The caller closes it.
	Client Messages
	// Inspector reads queue figures for /v1/stats and /metrics. Default: an
	// *asynq.Inspector on Redis, closed by [Server.Close]. A given one is
	// the caller's to close.
	Inspector Inspector

	// DashboardUser and DashboardPassword are the dashboard's HTTP Basic
	// credentials. Without both the dashboard is not served (unless
	// DashboardNoAuth).
	DashboardUser     string
	DashboardPassword string
	// DashboardReadOnly puts Asynqmon in read-only mode: no pausing,
	// deleting or re-running from the UI.
	DashboardReadOnly bool
	// DashboardPrometheusURL, if set, is a Prometheus server that scrapes
	// telequeue (e.g. "http://prometheus:9090"): the dashboard's Metrics
	// view then charts the queues from it. The browser does not reach it:
	// Asynqmon queries it from this process.
	DashboardPrometheusURL string
	// DashboardTextChars is how many characters of a message's text the
	// dashboard shows. 0 (the zero value) hides the text; telequeue's
	// DASHBOARD_TEXT_CHARS defaults to 64. The other fields shown (type,
	// bot, chat) are cut at [DashboardFieldChars]; the error texts shown are
	// those the worker stored, which server caps.
	DashboardTextChars int
	// DashboardNoAuth serves the dashboard without credentials, to loopback
	// clients only. For `telequeue dev` alone, which listens on loopback.
	// Ignored when credentials are set.
	DashboardNoAuth bool

	// APIToken is the bearer token of the HTTP API; empty turns the API off
	// (its routes answer 404).
	APIToken string

	// Registry receives the queue collector and is served at /metrics.
	// Default: a new registry with the Go and process collectors.
	Registry *prometheus.Registry
	// ReadyTimeout bounds the Redis PING of /readyz. Default 2s.
	ReadyTimeout time.Duration
	// Logger receives the server's logs. Default: none.
	Logger *slog.Logger
}

func (cfg *Config) setDefaults() {
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = metrics.NewRegistry()
	}
}

func (cfg *Config) validate() error {
	var errs []error
	if cfg.Redis == nil {
		errs = append(errs, errors.New("field Redis is required"))
	}
	if cfg.APIToken != "" && cfg.Client == nil {
		errs = append(errs, errors.New("field Client is required when APIToken is set"))
	}
	if cfg.DashboardTextChars < 0 {
		errs = append(errs, fmt.Errorf("DashboardTextChars %d: must not be negative", cfg.DashboardTextChars))
	}
	return errors.Join(errs...)
}

// Server holds the handlers and their Redis connections. Build it with
// [New], serve [Server.Handler], and Close it when done.
type Server struct {
	cfg       Config
	log       *slog.Logger
	rdb       redis.UniversalClient
	inspector Inspector
	tasks     *asynq.Inspector      // reads a task's payload and result
	dashboard *asynqmon.HTTPHandler // nil when not served
	handler   http.Handler
	closers   []func() error
}

// New validates cfg and builds the server. It does not connect to Redis:
// that happens on the first request.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("web: config: %w", err)
	}
	rdb, ok := cfg.Redis.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("web: config: unsupported Redis option type %T", cfg.Redis)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, rdb: rdb, inspector: cfg.Inspector, tasks: asynq.NewInspectorFromRedisClient(rdb)}
	s.closers = append(s.closers, rdb.Close)
	if s.inspector == nil {
		insp := asynq.NewInspector(cfg.Redis)
		s.inspector = insp
		s.closers = append(s.closers, insp.Close)
	}
	// A registry shared with another component may hold the queue
	// collector already; its series are then exported once.
	var already prometheus.AlreadyRegisteredError
	for _, c := range []prometheus.Collector{
		metrics.NewQueueCollector(s.inspector).WithLogger(s.log),
		metrics.NewBroadcastCollector(broadcast.NewStore(rdb), s.log),
	} {
		if err := cfg.Registry.Register(c); err != nil && !errors.As(err, &already) {
			_ = s.Close()
			return nil, fmt.Errorf("web: register metrics: %w", err)
		}
	}

	dash, err := s.newDashboard()
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	s.handler = s.routes(dash)
	return s, nil
}

// Handler returns the HTTP handler of every route.
func (s *Server) Handler() http.Handler { return s.handler }

// Close closes the Redis connections the server opened.
func (s *Server) Close() error {
	var errs []error
	if s.dashboard != nil {
		errs = append(errs, s.dashboard.Close())
	}
	for _, c := range s.closers {
		errs = append(errs, c())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("web: close: %w", err)
	}
	return nil
}

// routes builds the mux. Go 1.22 patterns: the most specific pattern wins.
func (s *Server) routes(dashboard http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", metrics.Handler(s.cfg.Registry))
	mux.Handle(DashboardPath+"/", dashboard)

	mux.HandleFunc("GET /v1/openapi.json", serveOpenAPI)
	mux.Handle("/v1/", s.apiAuth(s.apiRoutes()))
	return s.recoverPanics(mux)
}

func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, "telequeue\n\n"+
		DashboardPath+"/        dashboard\n"+
		"/v1/openapi.json   HTTP API reference\n"+
		"/healthz /readyz   health checks\n"+
		"/metrics           Prometheus metrics\n")
}

// recoverPanics turns a handler panic into a logged 500 instead of a
// dropped connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // net/http compares it the same way
				panic(v) // net/http's own way to abort a response
			}
			s.log.ErrorContext(r.Context(), "web: handler panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}()
		next.ServeHTTP(w, r)
	})
}
