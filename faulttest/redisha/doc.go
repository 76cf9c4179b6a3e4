// Package redisha holds telequeue's fault tests for Redis deployments other
// than a single server: Sentinel failover, Redis Cluster, and TLS with the
// user names and self-signed certificates of PaaS Redis add-ons. Each test
// starts real redis-server processes on free loopback ports
// (internal/redistest), the Bot API sandbox, workers, the client and web,
// configured through the same environment variables as production, and
// asserts what reaches the sandbox. Figures (failover time, messages lost,
// queue placement) are logged with t.Log; run with -v to see them.
//
//   - TestSentinelFailover (scenario 4): master, replica, three Sentinels;
//     the master is killed under load, with a healthy replica and with a
//     replication link stalled for 6 s (with and without
//     min-replicas-to-write); resume times are measured, a healthy
//     replica must lose and duplicate nothing, and what a stalled one
//     loses in the replication window is counted.
//   - TestCluster and TestAsynqScriptsOnCluster (scenario 5): three
//     masters; the full flow, Status, idempotency keys and the rate limiter
//     through REDIS_CLUSTER_ADDRS; where the queues land; and every asynq
//     operation telequeue, Asynqmon and asynq's background components use,
//     checked for CROSSSLOT.
//   - TestTLSAndUserName (scenario 6): a TLS-only server with a self-signed
//     certificate and an ACL user; rediss://user:password@ URLs with and
//     without REDIS_TLS_SKIP_VERIFY; asynq.ParseRedisURI's dropped user name.
package redisha
