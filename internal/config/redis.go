package config

import (
	"crypto/tls"
	"fmt"
	"net/url"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// RedisConn builds go-redis clients from the configuration. It satisfies
// asynq.RedisConnOpt (asynq accepts any type with MakeRedisClient), so asynq's
// client, server and inspector and asynqmon all use the same settings,
// including what asynq's own URL parser drops (the user name, TLS options).
type RedisConn struct {
	url           string
	skipVerify    bool
	sentinelAddrs []string
	master        string
	sentinelPass  string
	password      string
	clusterAddrs  []string
}

var _ asynq.RedisConnOpt = (*RedisConn)(nil)

// Redis returns the connection settings. Call it after Load.
func (c *Config) Redis() (*RedisConn, error) {
	rc := &RedisConn{
		url:           c.RedisURL.Reveal(),
		skipVerify:    c.RedisTLSSkipVerify,
		sentinelAddrs: c.RedisSentinelAddrs,
		master:        c.RedisSentinelMaster,
		sentinelPass:  c.RedisSentinelPassword.Reveal(),
		password:      c.RedisPassword.Reveal(),
		clusterAddrs:  c.RedisClusterAddrs,
	}
	if _, err := rc.Universal(); err != nil {
		return nil, err
	}
	return rc, nil
}

// NewRedisConn returns settings for a plain redis:// or rediss:// URL.
func NewRedisConn(redisURL string) (*RedisConn, error) {
	rc := &RedisConn{url: redisURL}
	if _, err := rc.Universal(); err != nil {
		return nil, err
	}
	return rc, nil
}

// Universal returns the go-redis options that the settings describe.
func (r *RedisConn) Universal() (*redis.UniversalOptions, error) {
	switch {
	case len(r.clusterAddrs) > 0:
		return &redis.UniversalOptions{Addrs: r.clusterAddrs, Password: r.password, IsClusterMode: true}, nil
	case len(r.sentinelAddrs) > 0:
		return &redis.UniversalOptions{
			Addrs: r.sentinelAddrs, MasterName: r.master,
			SentinelPassword: r.sentinelPass, Password: r.password,
		}, nil
	}
	o, err := redis.ParseURL(r.url)
	if err != nil {
		// go-redis errors may quote the URL, which holds the password.
		return nil, fmt.Errorf("REDIS_URL: %s", redactURLError(r.url))
	}
	if o.TLSConfig != nil && r.skipVerify {
		o.TLSConfig.InsecureSkipVerify = true //nolint:gosec // opt-in REDIS_TLS_SKIP_VERIFY for self-signed PaaS certificates
	}
	return &redis.UniversalOptions{
		Addrs: []string{o.Addr}, Username: o.Username, Password: o.Password, DB: o.DB,
		TLSConfig: o.TLSConfig, Protocol: o.Protocol, ClientName: o.ClientName,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		PoolSize: o.PoolSize, MinIdleConns: o.MinIdleConns, MaxRetries: o.MaxRetries,
	}, nil
}

// MakeRedisClient returns a new client; asynq calls it and owns the result.
func (r *RedisConn) MakeRedisClient() any {
	return r.NewClient()
}

// NewClient returns a new go-redis client; the caller closes it.
func (r *RedisConn) NewClient() redis.UniversalClient {
	o, err := r.Universal()
	if err != nil {
		// Validated in Config.Redis / NewRedisConn.
		panic(err)
	}
	return redis.NewUniversalClient(o)
}

// TLS reports whether the connection uses TLS.
func (r *RedisConn) TLS() *tls.Config {
	o, err := r.Universal()
	if err != nil {
		return nil
	}
	return o.TLSConfig
}

func redactURLError(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "not a valid URL"
	}
	return fmt.Sprintf("cannot parse %s://%s%s", u.Scheme, u.Host, u.Path)
}
