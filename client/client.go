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
	// Redis is the connection that [New] requires: any asynq.RedisConnOpt,
	// such as asynq.RedisClientOpt{Addr: "localhost:6379"},
	// asynq.RedisFailoverClientOpt (Sentinel), asynq.RedisClusterClientOpt,
	// or the result of asynq.ParseRedisURI. The client calls
	// MakeRedisClient once and closes the result in Close. Leave it nil
	// with [NewFromRedisClient], which takes a go-redis client instead.
	Redis asynq.RedisConnOpt
	// Bots lists the bot names workers know. A message naming another bot
	// is refused with a [*tasks.ValidationError] (field "bot") wrapping
	// [tasks.ErrUnknownBot]. Empty (the default): names are checked against
	// the registry that running telequeue workers keep in Redis (each
	// announces the names of its bots, never the tokens, every 20s; a name
	// stays known for a minute after its last announcement). The client
	// caches the registry for up to 5s, and reads it again at most once a
	// second when a name is missing. While no worker has registered, every
	// name is refused, with an error saying that no worker serves it: start
	// the workers first, or set Bots.
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
	// UploadMaxBytes is the largest file [Client.Call] uploads, whatever
	// the field (UPLOAD_MAX_BYTES); Telegram's own limits per field apply
	// too (10 MB for a photo, [tasks.MaxPhotoBytes]). Default
	// [tasks.MaxFileBytes] (50 MB), the most Telegram takes; at most that.
	UploadMaxBytes int64
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
	if cfg.UploadMaxBytes == 0 {
		cfg.UploadMaxBytes = tasks.MaxFileBytes
	}
}

func (cfg *Config) validate() error {
	var errs []error
	if cfg.Retention < time.Second {
		// asynq stores retention in whole seconds.
		errs = append(errs, fmt.Errorf("invalid Config.Retention %v: must be at least 1s", cfg.Retention))
	}
	if cfg.MaxRetry < 1 {
		errs = append(errs, fmt.Errorf("invalid Config.MaxRetry %d: must be at least 1", cfg.MaxRetry))
	}
	if cfg.UploadMaxBytes < 1 || cfg.UploadMaxBytes > tasks.MaxFileBytes {
		errs = append(errs, fmt.Errorf("invalid Config.UploadMaxBytes %d: must be 1 to %d", cfg.UploadMaxBytes, tasks.MaxFileBytes))
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
	ownsRedis bool // Close closes rdb
	bots      botCache
}

// New returns a client over a Redis connection of its own, made from
// cfg.Redis. It does not connect: the first call does (see [Client.Ping]).
func New(cfg Config) (*Client, error) {
	if cfg.Redis == nil {
		return nil, errors.New("client: config: missing Config.Redis: the Redis connection is required")
	}
	rdb, ok := cfg.Redis.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("client: config: unsupported Redis option type %T", cfg.Redis)
	}
	c, err := newClient(rdb, cfg)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	c.ownsRedis = true
	return c, nil
}

// NewFromRedisClient returns a client over rdb, an existing go-redis
// client (a *redis.Client, *redis.ClusterClient or failover client), so
// that an application shares one connection pool, as
// asynq.NewClientFromRedisClient does. The caller keeps ownership: Close
// leaves rdb open, and the caller closes it after the client. cfg.Redis must
// be nil.
func NewFromRedisClient(rdb redis.UniversalClient, cfg Config) (*Client, error) {
	switch {
	case rdb == nil:
		return nil, errors.New("client: NewFromRedisClient: nil Redis client")
	case cfg.Redis != nil:
		return nil, errors.New("client: config: Config.Redis is set: NewFromRedisClient takes the connection as its argument")
	}
	return newClient(rdb, cfg)
}

func newClient(rdb redis.UniversalClient, cfg Config) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("client: config: %w", err)
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

// Close closes the Redis connections of a client made by [New]; calls in
// flight fail with [ErrUnavailable]. A client made by [NewFromRedisClient]
// leaves its Redis client to the caller: Close does nothing.
func (c *Client) Close() error {
	// asynq's client and inspector share rdb and leave closing it to us.
	if !c.ownsRedis {
		return nil
	}
	if err := c.rdb.Close(); err != nil {
		return fmt.Errorf("client: close: %w", err)
	}
	return nil
}
