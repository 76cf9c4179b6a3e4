package server_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/telequeue/telequeue/internal/redistest"
)

// redisAddr is the address of the redis-server TestMain starts for the
// Examples.
var redisAddr string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	rs, err := redistest.Run(context.Background(), redistest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "redis-server:", err)
		return 1
	}
	defer os.RemoveAll(rs.Dir())
	defer rs.Stop()
	redisAddr = rs.Addr()
	return m.Run()
}
