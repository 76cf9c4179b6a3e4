// Package redisha holds telequeue's fault tests for Redis deployments other
// than a single server: Sentinel failover, Redis Cluster, and TLS with the
// user names and self-signed certificates of PaaS Redis add-ons. Each test
// starts real redis-server processes on free loopback ports
// (internal/redistest), the Bot API sandbox, workers, the client and web,
// configured through the same environment variables as production, and
// asserts what reaches the sandbox. Figures (failover time, messages lost,
// queue placement) are logged with t.Log; run with -v to see them.
package redisha
