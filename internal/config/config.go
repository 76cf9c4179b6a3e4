// Package config reads telequeue's configuration from the environment. Every
// process type (web, worker, the CLI, dev mode) uses the same variables, listed
// with their defaults in .env.example and the README.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/internal/webhook"
	"github.com/telequeue/telequeue/tasks"
)

// Secret is a string that never prints: its String, GoString, LogValue and
// MarshalText hide it, so a Config can be logged safely.
type Secret string

func (Secret) String() string               { return "[redacted]" }
func (Secret) GoString() string             { return `"[redacted]"` }
func (Secret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Reveal returns the secret's value, for the one place that must use it.
func (s Secret) Reveal() string { return string(s) }

// Config holds every setting. Field comments give the variable and default.
type Config struct {
	// REDIS_URL: redis:// or rediss:// URL (user name and password allowed).
	// Required outside dev mode unless Sentinel or Cluster is configured.
	RedisURL Secret `env:"REDIS_URL"`
	// REDIS_TLS_SKIP_VERIFY: accept a self-signed certificate on rediss://.
	RedisTLSSkipVerify bool `env:"REDIS_TLS_SKIP_VERIFY" envDefault:"false"`
	// REDIS_SENTINEL_ADDRS: comma-separated host:port of Sentinels; selects
	// the failover client together with REDIS_SENTINEL_MASTER.
	RedisSentinelAddrs []string `env:"REDIS_SENTINEL_ADDRS"`
	// REDIS_SENTINEL_MASTER: the master name Sentinels monitor.
	RedisSentinelMaster string `env:"REDIS_SENTINEL_MASTER"`
	// REDIS_SENTINEL_PASSWORD: password of the Sentinels (optional).
	RedisSentinelPassword Secret `env:"REDIS_SENTINEL_PASSWORD"`
	// REDIS_PASSWORD: password of the data nodes for Sentinel or Cluster.
	RedisPassword Secret `env:"REDIS_PASSWORD"`
	// REDIS_CLUSTER_ADDRS: comma-separated host:port of Redis Cluster nodes.
	RedisClusterAddrs []string `env:"REDIS_CLUSTER_ADDRS"`

	// TELEGRAM_BOT_TOKEN: token of the bot named "default".
	BotToken Secret `env:"TELEGRAM_BOT_TOKEN"`
	// TELEGRAM_BOTS: name=token pairs, comma-separated, for several bots.
	BotsSpec Secret `env:"TELEGRAM_BOTS"`
	// TELEGRAM_BOT_NAMES: bot names, comma-separated, that a producer (web,
	// the telequeue command) accepts without holding their tokens; without
	// them (and without tokens) it asks the registry the workers keep.
	BotNamesSpec []string `env:"TELEGRAM_BOT_NAMES"`
	// TELEGRAM_API_URL: Bot API server (a local Bot API server, or the
	// sandbox). Default: Telegram's, [handlers.DefaultAPIURL].
	TelegramAPIURL string `env:"TELEGRAM_API_URL"`
	// TELEGRAM_TIMEOUT: deadline of one Bot API request.
	TelegramTimeout time.Duration `env:"TELEGRAM_TIMEOUT" envDefault:"15s"`

	// WORKER_CONCURRENCY: senders per worker process.
	Concurrency int `env:"WORKER_CONCURRENCY" envDefault:"10"`
	// QUEUES: queue=weight pairs.
	QueuesSpec string `env:"QUEUES" envDefault:"critical=6,default=3,bulk=1"`
	// STRICT_PRIORITY: always drain higher-weight queues first.
	StrictPriority bool `env:"STRICT_PRIORITY" envDefault:"false"`
	// SHUTDOWN_TIMEOUT: time in-flight sends get on SIGTERM before their
	// tasks go back to the queue.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"25s"`
	// RECOVERY_DEAD_AFTER: how long a worker process may be silent before
	// another takes its running tasks back (README, "Recovery times"); at
	// least 10s; 0 turns this off, leaving asynq's recovery (about 2
	// minutes).
	RecoveryDeadAfter time.Duration `env:"RECOVERY_DEAD_AFTER" envDefault:"13s"`
	// RECOVERY_BEAT: how often a worker records its running tasks and looks
	// for dead workers; RECOVERY_DEAD_AFTER must be at least 10 of them.
	RecoveryBeat time.Duration `env:"RECOVERY_BEAT" envDefault:"250ms"`
	// MAX_RETRY: retries of a transient failure (5xx, network) before a
	// message is archived; at least 1, because a message that Telegram or
	// the limiter postpones (429) is rescheduled through asynq's retry,
	// which needs a budget of one (postponements do not use it up).
	MaxRetry int `env:"MAX_RETRY" envDefault:"10"`
	// RESULT_RETENTION: how long a sent message's task (with its Telegram
	// message_id) and its idempotency key are kept.
	ResultRetention time.Duration `env:"RESULT_RETENTION" envDefault:"24h"`
	// TASK_CHECK_INTERVAL: how often an idle worker polls the queues.
	TaskCheckInterval time.Duration `env:"TASK_CHECK_INTERVAL" envDefault:"25ms"`
	// DELAYED_TASK_CHECK_INTERVAL: how often scheduled and retried tasks are
	// moved to their queue.
	DelayedTaskCheckInterval time.Duration `env:"DELAYED_TASK_CHECK_INTERVAL" envDefault:"250ms"`

	// PORT: HTTP port of web (and of dev mode); 0 picks a free port.
	Port int `env:"PORT" envDefault:"8080"`
	// METRICS_PORT: worker's /metrics port; 0 turns it off.
	MetricsPort int `env:"METRICS_PORT" envDefault:"0"`
	// LOG_LEVEL: debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
	// LOG_FORMAT: json or text.
	LogFormat string `env:"LOG_FORMAT" envDefault:"json"`

	// TELEGRAM_RATE_GLOBAL: messages per second per bot, cluster-wide; 0 = off.
	RateGlobal float64 `env:"TELEGRAM_RATE_GLOBAL" envDefault:"30"`
	// TELEGRAM_RATE_GLOBAL_QUEUES: the queues whose messages count against
	// the bot's global budget (comma-separated); empty: every queue. Telegram's
	// ~30/s is a limit on bulk notifications: replies to users are bounded per
	// chat and per group, so TELEGRAM_RATE_GLOBAL_QUEUES=default,bulk leaves
	// critical replies outside the 30/s cap (README, "Replies outside the
	// broadcast budget").
	RateGlobalQueues []string `env:"TELEGRAM_RATE_GLOBAL_QUEUES" envSeparator:","`
	// TELEGRAM_RATE_CHAT: messages per second to one chat; 0 = off.
	RateChat float64 `env:"TELEGRAM_RATE_CHAT" envDefault:"1"`
	// TELEGRAM_RATE_GROUP: messages per minute to one group chat; 0 = off.
	RateGroup float64 `env:"TELEGRAM_RATE_GROUP" envDefault:"20"`
	// TELEGRAM_RATE_PAID: allow_paid_broadcast messages per second per bot; 0 = off.
	RatePaid float64 `env:"TELEGRAM_RATE_PAID" envDefault:"1000"`
	// TELEGRAM_RATE_MARGIN: fraction of each limit kept unused, so that
	// sends that reach Telegram a little late, next to ones on time, still
	// fit every window (see README, "Limits").
	RateMargin float64 `env:"TELEGRAM_RATE_MARGIN" envDefault:"0.03"`
	// RATE_MAX_WAIT: longest rate-limit wait spent inside a handler; longer
	// waits reschedule the task without counting a failure.
	RateMaxWait time.Duration `env:"RATE_MAX_WAIT" envDefault:"2s"`

	// DASHBOARD_USER / DASHBOARD_PASSWORD: HTTP Basic credentials of the
	// dashboard at /monitoring/; without both, web does not serve it.
	DashboardUser     string `env:"DASHBOARD_USER"`
	DashboardPassword Secret `env:"DASHBOARD_PASSWORD"`
	// DASHBOARD_READONLY: Asynqmon's read-only mode.
	DashboardReadOnly bool `env:"DASHBOARD_READONLY" envDefault:"false"`
	// DASHBOARD_TEXT_CHARS: characters of message text shown; 0 hides text.
	DashboardTextChars int `env:"DASHBOARD_TEXT_CHARS" envDefault:"64"`
	// API_TOKEN: bearer token of the HTTP API; without it the API is off.
	APIToken Secret `env:"API_TOKEN"`
	// PROMETHEUS_URL: a Prometheus server that scrapes telequeue; the
	// dashboard then shows its metrics view from it.
	PrometheusURL string `env:"PROMETHEUS_URL"`

	// UPLOAD_MAX_BYTES: the largest file an API call or the client may
	// upload (Telegram's own limits still apply: 10 MB for photos, 50 MB
	// for other files). An upload is stored in Redis once per content until
	// every task using it is final, at about 1.1–1.25 × its size
	// (BENCHMARKS.md); 20 MiB bounds one upload to about 25 MB of Redis
	// memory while taking every photo and most documents. Larger files go
	// by URL or file_id.
	UploadMaxBytes int64 `env:"UPLOAD_MAX_BYTES" envDefault:"20971520"`

	// EVENTS_MAXLEN: about how many outcome events the stream keeps (each
	// about 120 bytes of Redis memory); -1 turns the stream off.
	EventsMaxLen int64 `env:"EVENTS_MAXLEN" envDefault:"100000"`
	// WEBHOOK_URL: receives each outcome event as a signed POST; empty: no
	// webhooks. It may hold credentials: it is never printed.
	WebhookURL Secret `env:"WEBHOOK_URL"`
	// WEBHOOK_SECRET: signs the webhooks (HMAC-SHA256); required with
	// WEBHOOK_URL, at least 16 characters.
	WebhookSecret Secret `env:"WEBHOOK_SECRET"`
	// WEBHOOK_EVENTS: the outcomes delivered, comma-separated (sent,
	// archived, blocked, superseded, dropped, cancelled); empty: all.
	WebhookEvents []string `env:"WEBHOOK_EVENTS"`
	// WEBHOOK_TIMEOUT: deadline of one delivery attempt.
	WebhookTimeout time.Duration `env:"WEBHOOK_TIMEOUT" envDefault:"10s"`

	// SENT_MARKER_TTL: how long a "sent" marker prevents a re-send of a task
	// that Telegram already confirmed.
	SentMarkerTTL time.Duration `env:"SENT_MARKER_TTL" envDefault:"72h"`
	// SENT_MARKERS: write and check the "sent" markers. Turning them off
	// re-sends every message whose task is retried after Telegram confirmed
	// it; it exists so that the fault tests can measure what markers prevent.
	SentMarkers bool `env:"SENT_MARKERS" envDefault:"true"`
	// COMPLETION_RIDES: send a delivery's records (marker, result, event)
	// in the round trip in which asynq completes the task, saving one
	// round trip per message (handlers.Completions). Off: in a round trip
	// of their own, before the task completes. It relies on the keys of
	// asynq's scripts (a contract test guards them); the switch is there
	// in case an asynq upgrade breaks that.
	CompletionRides bool `env:"COMPLETION_RIDES" envDefault:"true"`
	// DEQUEUE_RIDES: read what a handler needs before its send (the sent
	// marker; with limits off, the running 429 pauses) in the round trip
	// in which asynq dequeues the task, saving one round trip per message
	// with limits off (handlers.Prefetch). Off, and on Redis Cluster: in
	// the limiter's round trip. It replaces asynq's dequeue script by one
	// that also reads (a contract test guards the copy); the switch is
	// there in case an asynq upgrade breaks that.
	DequeueRides bool `env:"DEQUEUE_RIDES" envDefault:"true"`

	// Bots maps bot names to tokens, from TELEGRAM_BOT_TOKEN and TELEGRAM_BOTS.
	Bots map[string]Secret `env:"-"`
	// Queues maps queue names to weights, from QUEUES.
	Queues map[string]int `env:"-"`
}

// Load parses the environment given by lookup (os.LookupEnv in mains).
// requireRedis makes a missing Redis configuration an error.
func Load(lookup func(string) (string, bool), requireRedis bool) (*Config, error) {
	vars := map[string]string{}
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var cfg Config
	params, err := env.GetFieldParams(&cfg)
	if err != nil {
		return nil, err
	}
	for _, p := range params {
		if v, ok := lookup(p.Key); ok {
			vars[p.Key] = v
		}
	}
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: vars}); err != nil {
		return nil, fmt.Errorf("config: %w", nameVariables(err))
	}
	if err := cfg.finish(requireRedis); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return &cfg, nil
}

func (c *Config) finish(requireRedis bool) error {
	var errs []error
	bots, err := parseBots(c.BotToken, c.BotsSpec)
	if err != nil {
		errs = append(errs, err)
	}
	c.Bots = bots
	queues, err := ParseQueues(c.QueuesSpec)
	if err != nil {
		errs = append(errs, err)
	}
	c.Queues = queues
	for i, q := range c.RateGlobalQueues {
		q = strings.TrimSpace(q)
		c.RateGlobalQueues[i] = q
		if _, ok := queues[q]; !ok && q != tasks.QueueCallbacks && err == nil {
			errs = append(errs, fmt.Errorf("TELEGRAM_RATE_GLOBAL_QUEUES: %q is not one of the queues (QUEUES)", q))
		}
	}
	if c.RedisURL != "" {
		u, err := url.Parse(c.RedisURL.Reveal())
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			errs = append(errs, errors.New("REDIS_URL: want redis://[user:password@]host:port[/db], or rediss:// for TLS"))
		}
	}
	if (len(c.RedisSentinelAddrs) > 0) != (c.RedisSentinelMaster != "") {
		errs = append(errs, errors.New("REDIS_SENTINEL_ADDRS and REDIS_SENTINEL_MASTER must be set together"))
	}
	if requireRedis && c.RedisURL == "" && len(c.RedisSentinelAddrs) == 0 && len(c.RedisClusterAddrs) == 0 {
		errs = append(errs, errors.New("REDIS_URL is required (or REDIS_SENTINEL_ADDRS/REDIS_CLUSTER_ADDRS)"))
	}
	if c.TelegramAPIURL == "" {
		c.TelegramAPIURL = handlers.DefaultAPIURL
	}
	if u, err := url.Parse(c.TelegramAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("TELEGRAM_API_URL: %q is not an http(s) URL", c.TelegramAPIURL))
	}
	positive := []struct {
		name string
		ok   bool
	}{
		{"WORKER_CONCURRENCY", c.Concurrency > 0},
		{"SHUTDOWN_TIMEOUT", c.ShutdownTimeout > 0},
		{"RECOVERY_DEAD_AFTER", c.RecoveryDeadAfter >= 0},
		{"RECOVERY_BEAT", c.RecoveryBeat > 0},
		{"TELEGRAM_TIMEOUT", c.TelegramTimeout > 0},
		{"TASK_CHECK_INTERVAL", c.TaskCheckInterval > 0},
		{"DELAYED_TASK_CHECK_INTERVAL", c.DelayedTaskCheckInterval > 0},
		{"TELEGRAM_RATE_GLOBAL", c.RateGlobal >= 0},
		{"TELEGRAM_RATE_CHAT", c.RateChat >= 0},
		{"TELEGRAM_RATE_GROUP", c.RateGroup >= 0},
		{"TELEGRAM_RATE_PAID", c.RatePaid >= 0},
		{"RATE_MAX_WAIT", c.RateMaxWait >= 0},
		{"DASHBOARD_TEXT_CHARS", c.DashboardTextChars >= 0},
		{"SENT_MARKER_TTL", c.SentMarkerTTL > 0},
		{"PORT", c.Port >= 0 && c.Port < 65536},
		{"METRICS_PORT", c.MetricsPort >= 0 && c.MetricsPort < 65536},
	}
	for _, p := range positive {
		if !p.ok {
			errs = append(errs, fmt.Errorf("%s: must be positive", p.name))
		}
	}
	// Below 10 s a dead worker's tasks wait for their asynq lease to age
	// anyway (internal/recovery), and a stalled but live one would be taken
	// from sooner.
	if c.RecoveryDeadAfter > 0 && (c.RecoveryDeadAfter < 10*time.Second || c.RecoveryDeadAfter < 10*c.RecoveryBeat) {
		errs = append(errs, fmt.Errorf("RECOVERY_DEAD_AFTER (%v): 0 (off), or at least 10s and 10 × RECOVERY_BEAT (%v)", c.RecoveryDeadAfter, c.RecoveryBeat))
	}
	if c.ResultRetention < time.Second {
		// asynq stores retention in whole seconds; the client refuses less.
		errs = append(errs, fmt.Errorf("RESULT_RETENTION = %v: must be at least 1s", c.ResultRetention))
	}
	if c.MaxRetry < 1 {
		errs = append(errs, fmt.Errorf("MAX_RETRY = %d: must be at least 1: a postponed (429) message is rescheduled "+
			"through a retry, which needs a budget of one; postponements do not use it up", c.MaxRetry))
	}
	if !(c.RateMargin > 0 && c.RateMargin < 0.5) {
		errs = append(errs, fmt.Errorf("TELEGRAM_RATE_MARGIN = %v: must be above 0 and below 0.5", c.RateMargin))
	}
	for i, n := range c.BotNamesSpec {
		if !tasks.ValidBotName(n) {
			// Never echo it: a token pasted here must not reach a log.
			errs = append(errs, fmt.Errorf("TELEGRAM_BOT_NAMES: entry %d: a name is 1-64 letters, digits, '_' or '-'", i+1))
		}
	}
	if c.UploadMaxBytes < 1 || c.UploadMaxBytes > tasks.MaxFileBytes {
		errs = append(errs, fmt.Errorf("UPLOAD_MAX_BYTES = %d: must be 1 to %d (Telegram's limit for uploads)", c.UploadMaxBytes, tasks.MaxFileBytes))
	}
	if c.EventsMaxLen == 0 || c.EventsMaxLen < -1 {
		errs = append(errs, fmt.Errorf("EVENTS_MAXLEN = %d: must be positive, or -1 to turn the stream off", c.EventsMaxLen))
	}
	if c.WebhookURL != "" {
		if c.EventsMaxLen == -1 {
			errs = append(errs, errors.New("WEBHOOK_URL needs the outcome stream: EVENTS_MAXLEN must not be -1"))
		}
		w := c.Webhook()
		if err := w.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, o := range c.WebhookEvents {
		if !slices.Contains(outcomes, tasks.Outcome(o)) {
			errs = append(errs, fmt.Errorf("WEBHOOK_EVENTS: %q is not an outcome (sent, archived, blocked, superseded, dropped, cancelled)", o))
		}
	}
	if c.PrometheusURL != "" {
		if u, err := url.Parse(c.PrometheusURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("PROMETHEUS_URL: must be an http(s) URL"))
		}
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errs = append(errs, fmt.Errorf("LOG_FORMAT: %q: use json or text", c.LogFormat))
	}
	return errors.Join(errs...)
}

func parseBots(defaultToken, spec Secret) (map[string]Secret, error) {
	bots := map[string]Secret{}
	if defaultToken != "" {
		bots["default"] = Secret(strings.TrimSpace(defaultToken.Reveal()))
	}
	if strings.TrimSpace(spec.Reveal()) == "" {
		return bots, nil
	}
	for i, pair := range strings.Split(spec.Reveal(), ",") {
		name, token, ok := strings.Cut(strings.TrimSpace(pair), "=")
		name, token = strings.TrimSpace(name), strings.TrimSpace(token)
		if !ok || name == "" || token == "" {
			// Never echo the pair: it holds a token.
			return nil, fmt.Errorf("TELEGRAM_BOTS: entry %d: want name=token", i+1)
		}
		if !tasks.ValidBotName(name) {
			// Never echo the name either: it may be a token.
			return nil, fmt.Errorf("TELEGRAM_BOTS: entry %d: the bot name must be 1-64 letters, digits, '_' or '-' "+
				"(is the pair written token=name? want name=token)", i+1)
		}
		if _, dup := bots[name]; dup {
			return nil, fmt.Errorf("TELEGRAM_BOTS: bot %q is configured twice", name)
		}
		bots[name] = Secret(token)
	}
	return bots, nil
}

// nameVariables rewrites env's parse errors, which name Go fields, so that
// they name the environment variable and the value's problem.
func nameVariables(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	t := reflect.TypeOf(Config{})
	var errs []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if f, ok := t.FieldByName(pe.Name); ok {
				key, _, _ := strings.Cut(f.Tag.Get("env"), ",")
				cause := pe.Err
				if inner := errors.Unwrap(cause); inner != nil {
					cause = inner
				}
				errs = append(errs, fmt.Errorf("%s: cannot parse as %s: %w", key, pe.Type, cause))
				continue
			}
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// ParseQueues parses "critical=6,default=3,bulk=1".
func ParseQueues(spec string) (map[string]int, error) {
	queues := map[string]int{}
	for _, pair := range strings.Split(spec, ",") {
		name, weight, ok := strings.Cut(strings.TrimSpace(pair), "=")
		w, err := strconv.Atoi(strings.TrimSpace(weight))
		if !ok || strings.TrimSpace(name) == "" || err != nil || w <= 0 {
			return nil, fmt.Errorf("QUEUES: %q: want name=weight pairs with positive weights, e.g. critical=6,default=3,bulk=1", pair)
		}
		queues[strings.TrimSpace(name)] = w
	}
	return queues, nil
}

// BotNames returns the configured bot names, sorted.
func (c *Config) BotNames() []string {
	names := make([]string, 0, len(c.Bots))
	for n := range c.Bots {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ProducerBotNames returns the bot names a producer accepts: those with a
// token and those of TELEGRAM_BOT_NAMES, sorted, each once. Empty means the
// producer asks the workers' registry.
func (c *Config) ProducerBotNames() []string {
	names := append(c.BotNames(), c.BotNamesSpec...)
	sort.Strings(names)
	return slices.Compact(names)
}

// ParseLevel parses LOG_LEVEL.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("LOG_LEVEL: %q: use debug, info, warn or error", s)
	}
	return l, nil
}

var outcomes = []tasks.Outcome{
	tasks.OutcomeSent, tasks.OutcomeArchived, tasks.OutcomeBlocked,
	tasks.OutcomeSuperseded, tasks.OutcomeDropped, tasks.OutcomeCancelled,
}

// Webhook returns the webhook configuration (its URL is empty when
// WEBHOOK_URL is not set).
func (c *Config) Webhook() webhook.Config {
	w := webhook.Config{
		URL: c.WebhookURL.Reveal(), Secret: c.WebhookSecret.Reveal(),
		Timeout: c.WebhookTimeout, MaxRetry: c.MaxRetry,
	}
	for _, o := range c.WebhookEvents {
		w.Events = append(w.Events, tasks.Outcome(o))
	}
	return w
}
