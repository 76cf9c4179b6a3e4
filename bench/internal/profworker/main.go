// Command profworker is cmd/worker with a CPU profile: the benchmark spawns
// it instead of cmd/worker when asked to profile (go run ./bench -profile DIR).
// It reads the same environment as cmd/worker, plus BENCH_CPUPROFILE, the
// file the CPU profile is written to on exit, and BENCH_MEMPROFILE, the file
// of the allocation profile (go tool pprof -sample_index=alloc_objects).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/logging"
	"github.com/telequeue/telequeue/internal/worker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "profworker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	if path := os.Getenv("BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	if path := os.Getenv("BENCH_MEMPROFILE"); path != "" {
		defer func() {
			if f, err := os.Create(path); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				_ = f.Close()
			}
		}()
	}
	cfg, err := config.Load(os.LookupEnv, true)
	if err != nil {
		return err
	}
	level, _ := config.ParseLevel(cfg.LogLevel)
	w, err := worker.New(cfg, logging.New(os.Stderr, cfg.LogFormat, level), worker.Deps{})
	if err != nil {
		return err
	}
	return w.Run(ctx)
}
