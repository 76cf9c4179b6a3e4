package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// RedisConn builds go-redis clients from the configuration. It satisfies
// asynq.RedisConnOpt: asynq's client, server, inspector and scheduler and
// Asynqmon all assert MakeRedisClient's result to redis.UniversalClient
// rather than switch on the option's type, so they all use the same
// settings, including what asynq's own URL parser drops (the user name, TLS
// options, the URL's query options).
//
// The mode follows the variables: REDIS_CLUSTER_ADDRS builds a
// *redis.ClusterClient; REDIS_SENTINEL_ADDRS with REDIS_SENTINEL_MASTER a
// failover client (a *redis.Client that asks the Sentinels for the master
// and follows failovers); otherwise REDIS_URL builds a *redis.Client.
// Sentinel and Cluster take no URL: their data nodes' password is
// REDIS_PASSWORD, and they connect without TLS.
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
		sentinelAddrs: addrList(c.RedisSentinelAddrs),
		master:        strings.TrimSpace(c.RedisSentinelMaster),
		sentinelPass:  c.RedisSentinelPassword.Reveal(),
		password:      c.RedisPassword.Reveal(),
		clusterAddrs:  addrList(c.RedisClusterAddrs),
	}
	if _, err := rc.Universal(); err != nil {
		return nil, err
	}
	return rc, nil
}

// addrList trims the entries of a comma-separated list ("a:1, b:2") and
// drops empty ones.
func addrList(in []string) []string {
	var out []string
	for _, a := range in {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
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
	case len(r.clusterAddrs) > 0 && len(r.sentinelAddrs) > 0:
		return nil, errors.New("REDIS_CLUSTER_ADDRS and REDIS_SENTINEL_ADDRS are both set: set one")
	case len(r.clusterAddrs) > 0:
		return &redis.UniversalOptions{Addrs: r.clusterAddrs, Password: r.password, IsClusterMode: true}, nil
	case len(r.sentinelAddrs) > 0:
		if r.master == "" {
			return nil, errors.New("REDIS_SENTINEL_MASTER is required with REDIS_SENTINEL_ADDRS")
		}
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
	// Every field redis.ParseURL sets, so that the URL's query options
	// (pool_size, pool_timeout, conn_max_idle_time, …) reach the client.
	return &redis.UniversalOptions{
		Addrs: []string{o.Addr}, Username: o.Username, Password: o.Password, DB: o.DB,
		TLSConfig: o.TLSConfig, Protocol: o.Protocol, ClientName: o.ClientName,
		MaxRetries: o.MaxRetries, MinRetryBackoff: o.MinRetryBackoff, MaxRetryBackoff: o.MaxRetryBackoff,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		PoolFIFO: o.PoolFIFO, PoolSize: o.PoolSize, PoolTimeout: o.PoolTimeout,
		MinIdleConns: o.MinIdleConns, MaxIdleConns: o.MaxIdleConns, MaxActiveConns: o.MaxActiveConns,
		MaxConcurrentDials: o.MaxConcurrentDials,
		ConnMaxIdleTime:    o.ConnMaxIdleTime, ConnMaxLifetime: o.ConnMaxLifetime, ConnMaxLifetimeJitter: o.ConnMaxLifetimeJitter,
		PipelinePoolSize: o.PipelinePoolSize, PipelineReadBufferSize: o.PipelineReadBufferSize,
		PipelineWriteBufferSize: o.PipelineWriteBufferSize,
	}, nil
}

// MakeRedisClient returns a new client; asynq calls it and owns the result
// (an asynq.Server closes it on Shutdown, so each call makes a new one).
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

func redactURLError(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "not a valid URL"
	}
	return fmt.Sprintf("cannot parse %s://%s%s", u.Scheme, u.Host, u.Path)
}
