package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/tasks"
)

// DefaultRetention is the default of [Config.Retention].
const DefaultRetention = 24 * time.Hour

// Config configures a [Client]. Zero values mean the documented defaults.
type Config struct {
	// Redis is the connection, required: e.g. asynq.RedisClientOpt{Addr:
	// "localhost:6379"} or the *config.RedisConn of telequeue's own
	// processes. The client calls MakeRedisClient once and closes the
	// result in Close.
	Redis asynq.RedisConnOpt
	// Bots lists the bot names workers know. A message naming another bot
	// is refused with a [*tasks.ValidationError] wrapping
	// [tasks.ErrUnknownBot]. Empty (the default): any name is accepted, and
	// workers archive messages for bots they do not know.
	Bots []string
	// Retention is how long a sent message's task (with its Telegram
	// message_id, see [Client.Status]) and an idempotency key are kept.
	// Default 24h ([DefaultRetention]).
	Retention time.Duration
	// MaxRetry is how many times a transient failure is retried before a
	// message is archived. Default [tasks.DefaultMaxRetry] (10); negative
	// values are an error. Rate-limit waits (429) need a retry budget, so
	// the value is never 0.
	MaxRetry int
	// Logger receives debug logs of each enqueue and warnings; default: none.
	Logger *slog.Logger
}

func (cfg *Config) setDefaults() {
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
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
	if cfg.Redis == nil {
		errs = append(errs, errors.New("Redis is required"))
	}
	if cfg.Retention < time.Second {
		// asynq stores retention in whole seconds.
		errs = append(errs, fmt.Errorf("Retention %v: must be at least 1s", cfg.Retention))
	}
	if cfg.MaxRetry < 1 {
		errs = append(errs, fmt.Errorf("MaxRetry %d: must be at least 1", cfg.MaxRetry))
	}
	return errors.Join(errs...)
}

// Client queues messages and reports on them. It is safe for concurrent use;
// make one per process and Close it when done.
type Client struct {
	cfg       Config
	rdb       redis.UniversalClient
	asynq     *asynq.Client
	inspector *asynq.Inspector
	log       *slog.Logger
}

// New returns a client. It does not connect: the first call does (see
// [Client.Ping]).
func New(cfg Config) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("client: config: %w", err)
	}
	rdb, ok := cfg.Redis.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("client: config: unsupported Redis option type %T", cfg.Redis)
	}
	cfg.Bots = append([]string(nil), cfg.Bots...)
	return &Client{
		cfg:       cfg,
		rdb:       rdb,
		asynq:     asynq.NewClientFromRedisClient(rdb),
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		log:       cfg.Logger,
	}, nil
}

// Ping checks that Redis answers; the error wraps [ErrUnavailable] if not.
func (c *Client) Ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("client: ping: %w", unavailable(err))
	}
	return nil
}

// Close closes the Redis connections. Calls in flight fail with
// [ErrUnavailable].
func (c *Client) Close() error {
	// asynq's client and inspector share rdb and leave closing it to us.
	if err := c.rdb.Close(); err != nil {
		return fmt.Errorf("client: close: %w", err)
	}
	return nil
}
