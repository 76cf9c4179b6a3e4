// Command plainworker is the benchmark's baseline: a plain asynq server with
// the same concurrency, queues and polling as a telequeue worker, whose
// handler either does nothing ("noop") or POSTs the task payload, a
// sendMessage JSON body, to a Bot API server and decodes the reply ("http"),
// without limiter, sent markers or results. With -metrics-addr it serves the
// Go runtime's metrics at /metrics, from the same collector as a telequeue
// worker's METRICS_PORT, so that the benchmark reads allocations the same way
// for both.
//
//	plainworker -mode http -redis 127.0.0.1:PORT -api http://127.0.0.1:PORT -token 123:abc
//
// It runs until SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/bench/internal/plainsend"
	"github.com/telequeue/telequeue/internal/metrics"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "plainworker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("plainworker", flag.ContinueOnError)
	var (
		mode        = fs.String("mode", "noop", "noop or http")
		addr        = fs.String("redis", "", "redis host:port (required)")
		api         = fs.String("api", "", "Bot API base URL (mode http)")
		token       = fs.String("token", "", "bot token (mode http)")
		concurrency = fs.Int("concurrency", 10, "handlers per process")
		taskCheck   = fs.Duration("task-check", time.Second, "asynq TaskCheckInterval")
		delayed     = fs.Duration("delayed-check", 5*time.Second, "asynq DelayedTaskCheckInterval")
		cpuprofile  = fs.String("cpuprofile", "", "write a CPU profile here until exit")
		metricsAddr = fs.String("metrics-addr", "", "serve the Go runtime's metrics at http://ADDR/metrics (default: off)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" {
		return errors.New("-redis is required")
	}
	var h asynq.Handler
	switch *mode {
	case "noop":
		h = asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })
	case "http":
		if *api == "" || *token == "" {
			return errors.New("mode http needs -api and -token")
		}
		h = plainsend.New(*api + "/bot" + *token + "/sendMessage")
	default:
		return fmt.Errorf("-mode %q: use noop or http", *mode)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	if *metricsAddr != "" {
		stop, err := serveMetrics(*metricsAddr)
		if err != nil {
			return err
		}
		defer stop()
	}
	srv := plainsend.NewServer(asynq.RedisClientOpt{Addr: *addr}, *concurrency, *taskCheck, *delayed,
		slogAdapter{slog.New(slog.NewTextHandler(os.Stderr, nil))})
	mux := asynq.NewServeMux()
	mux.Handle(plainsend.TaskType, h)
	if err := srv.Start(mux); err != nil {
		return err
	}
	<-ctx.Done()
	srv.Shutdown()
	return nil
}

// serveMetrics serves the Go and process collectors of a telequeue worker's
// registry at addr until stop is called.
func serveMetrics(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(metrics.NewRegistry()))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return func() { _ = hs.Close() }, nil
}

// slogAdapter is asynq's Logger over slog.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a slogAdapter) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a slogAdapter) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a slogAdapter) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a slogAdapter) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)); os.Exit(1) }
