package config

import (
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"
)

// TestRedisModes checks which go-redis client each configuration builds and
// that every component that takes an asynq.RedisConnOpt accepts *RedisConn:
// asynq's client, server, inspector and scheduler and Asynqmon assert
// MakeRedisClient's result to redis.UniversalClient (no type switch on the
// option). Asynqmon's /api/redis_info switches on the client's type
// (*redis.Client or *redis.ClusterClient), which is why the type matters;
// faulttest/redisha calls it on a real cluster. Nothing here connects.
func TestRedisModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		// want is the client's type: *redis.Client for one server and
		// for Sentinel (go-redis's failover client is a *redis.Client),
		// *redis.ClusterClient for a cluster.
		cluster bool
		check   func(t *testing.T, o *redis.UniversalOptions)
	}{
		{
			name: "url",
			env:  []string{"REDIS_URL", "rediss://alice:pw@127.0.0.1:1/2", "REDIS_TLS_SKIP_VERIFY", "true"},
			check: func(t *testing.T, o *redis.UniversalOptions) {
				if o.Username != "alice" || o.Password != "pw" || o.DB != 2 || o.TLSConfig == nil || !o.TLSConfig.InsecureSkipVerify {
					t.Errorf("options %+v", o)
				}
			},
		},
		{
			name: "sentinel",
			env: []string{"REDIS_SENTINEL_ADDRS", "127.0.0.1:1, 127.0.0.1:2 ,127.0.0.1:3", "REDIS_SENTINEL_MASTER", "mymaster",
				"REDIS_SENTINEL_PASSWORD", "spw", "REDIS_PASSWORD", "dpw"},
			check: func(t *testing.T, o *redis.UniversalOptions) {
				want := []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}
				if strings.Join(o.Addrs, ",") != strings.Join(want, ",") || o.MasterName != "mymaster" ||
					o.SentinelPassword != "spw" || o.Password != "dpw" || o.IsClusterMode {
					t.Errorf("options %+v", o)
				}
			},
		},
		{
			name:    "cluster",
			env:     []string{"REDIS_CLUSTER_ADDRS", "127.0.0.1:1,127.0.0.1:2", "REDIS_PASSWORD", "dpw"},
			cluster: true,
			check: func(t *testing.T, o *redis.UniversalOptions) {
				if len(o.Addrs) != 2 || !o.IsClusterMode || o.Password != "dpw" || o.MasterName != "" {
					t.Errorf("options %+v", o)
				}
			},
		},
		{
			// One seed address is still a cluster.
			name:    "cluster-one-seed",
			env:     []string{"REDIS_CLUSTER_ADDRS", "127.0.0.1:1"},
			cluster: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(envOf(tc.env...), true)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := cfg.Redis()
			if err != nil {
				t.Fatal(err)
			}
			o, err := rc.Universal()
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, o)
			}
			c := rc.MakeRedisClient()
			defer c.(redis.UniversalClient).Close()
			switch c.(type) {
			case *redis.ClusterClient:
				if !tc.cluster {
					t.Fatalf("client %T, want *redis.Client", c)
				}
			case *redis.Client:
				if tc.cluster {
					t.Fatalf("client %T, want *redis.ClusterClient", c)
				}
			default:
				t.Fatalf("client %T", c)
			}

			// Each component takes the option without panicking.
			ac := asynq.NewClient(rc)
			defer ac.Close()
			insp := asynq.NewInspector(rc)
			defer insp.Close()
			srv := asynq.NewServer(rc, asynq.Config{})
			_ = srv
			sch := asynq.NewScheduler(rc, nil)
			_ = sch
			mon := asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: rc})
			defer mon.Close()
		})
	}
}

// TestRedisURLQueryOptions: every option go-redis reads from the URL's
// query reaches the client.
func TestRedisURLQueryOptions(t *testing.T) {
	rc, err := NewRedisConn("redis://127.0.0.1:1/0?pool_size=7&pool_timeout=3s&min_idle_conns=1&max_idle_conns=5" +
		"&max_active_conns=9&conn_max_idle_time=1m&conn_max_lifetime=1h&dial_timeout=2s&read_timeout=4s&write_timeout=5s" +
		"&max_retries=6&min_retry_backoff=10ms&max_retry_backoff=1s&pool_fifo=true&client_name=tq")
	if err != nil {
		t.Fatal(err)
	}
	c := rc.NewClient().(*redis.Client)
	defer c.Close()
	o := c.Options()
	got := []any{o.PoolSize, o.PoolTimeout, o.MinIdleConns, o.MaxIdleConns, o.MaxActiveConns, o.ConnMaxIdleTime,
		o.ConnMaxLifetime, o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxRetries, o.MinRetryBackoff,
		o.MaxRetryBackoff, o.PoolFIFO, o.ClientName}
	want := []any{7, 3 * time.Second, 1, 5, 9, time.Minute, time.Hour, 2 * time.Second, 4 * time.Second, 5 * time.Second,
		6, 10 * time.Millisecond, time.Second, true, "tq"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("option %d = %v, want %v", i, got[i], want[i])
		}
	}
}

// TestRedisSettingsConflict: Sentinel and Cluster at once is a mistake
// worth an error, not a silent choice.
func TestRedisSettingsConflict(t *testing.T) {
	cfg, err := Load(envOf("REDIS_SENTINEL_ADDRS", "127.0.0.1:1", "REDIS_SENTINEL_MASTER", "m",
		"REDIS_CLUSTER_ADDRS", "127.0.0.1:2"), true)
	if err == nil {
		_, err = cfg.Redis()
	}
	if err == nil || !strings.Contains(err.Error(), "REDIS_CLUSTER_ADDRS") {
		t.Fatalf("err = %v, want one naming REDIS_CLUSTER_ADDRS", err)
	}
}

// TestRedisURLErrorHidesPassword: a URL go-redis cannot parse is reported
// without its password.
func TestRedisURLErrorHidesPassword(t *testing.T) {
	_, err := NewRedisConn("redis://alice:hunter2@127.0.0.1:1/notadb")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
}
