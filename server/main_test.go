package server_test

import (
	"os"
	"testing"

	"github.com/telequeue/telequeue/internal/redistest"
)

// redisAddr is the address of the redis-server TestMain starts for the
// Examples.
var redisAddr string

func TestMain(m *testing.M) { os.Exit(redistest.Main(m, &redisAddr)) }
