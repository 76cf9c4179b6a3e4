// Command worker runs telequeue's handler server: it pulls send tasks from the
// shared Redis queues and delivers them to Telegram. Configure it with the
// environment (see .env.example); stop it with SIGTERM. It runs with
// GOMAXPROCS=1 unless the environment sets GOMAXPROCS (see
// worker.DefaultProcs).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/logging"
	"github.com/telequeue/telequeue/internal/worker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.LookupEnv); err != nil {
		fmt.Fprintln(os.Stderr, "telequeue worker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, lookup func(string) (string, bool)) error {
	cfg, err := config.Load(lookup, true)
	if err != nil {
		return err
	}
	level, _ := config.ParseLevel(cfg.LogLevel)
	log := logging.New(os.Stderr, cfg.LogFormat, level)
	redis.SetLogger(logging.GoRedis{L: log})
	procs, fromEnv := worker.SetProcs(lookup)
	log.Info("worker runtime", "gomaxprocs", procs, "from_env", fromEnv)
	w, err := worker.New(cfg, log, worker.Deps{})
	if err != nil {
		return err
	}
	return w.Run(ctx)
}
