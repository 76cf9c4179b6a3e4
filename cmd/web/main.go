// Command web serves telequeue's dashboard (/monitoring/), HTTP API (/v1/),
// health checks and metrics on PORT. It is the PaaS "web" process.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/logging"
	"github.com/telequeue/telequeue/internal/webapp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.LookupEnv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "web:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, lookup func(string) (string, bool), stderr io.Writer) error {
	cfg, err := config.Load(lookup, true)
	if err != nil {
		return err
	}
	level, err := config.ParseLevel(cfg.LogLevel)
	if err != nil {
		return err
	}
	logger := logging.New(stderr, cfg.LogFormat, level).With("process", "web")
	redis.SetLogger(logging.GoRedis{L: logger})
	return webapp.Run(ctx, cfg, logger)
}
