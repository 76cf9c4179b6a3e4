package client_test

import (
	"context"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/redistest"
)

// redisAddr is the address of the redis-server that TestMain starts for the
// examples, which cannot start their own. Tests start a server each.
var redisAddr string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// quietRedis drops go-redis's own log lines (dial failures while tests
// stop Redis on purpose).
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func run(m *testing.M) int {
	redis.SetLogger(quietRedis{})
	return redistest.Main(m, &redisAddr)
}
