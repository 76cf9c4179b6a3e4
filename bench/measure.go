package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/telequeue/telequeue/internal/worker"
	"github.com/telequeue/telequeue/tasks"
)

// Targets of issue 3, and of issue 13 for telequeue beside plain asynq +
// the same HTTP send, 6 × 10 (msgs/s and worker CPU per message).
const (
	targetThroughput     = 4000.0
	targetPlainRatio     = 0.8
	targetWorkerCPURatio = 1.25
	targetIdleP50        = 30 * time.Millisecond
	targetIdleP99        = 150 * time.Millisecond
	targetIdleCommands   = 200.0 // per process
	targetMemory         = 1024.0
	targetUtilisation    = 0.95
)

const queue = tasks.QueueDefault

// want reports whether a section runs: all but the sweep by default, the
// sweep with -sweep, or those -only names.
func (b *bench) want(section string) bool {
	if b.opts.only == "" {
		return section != "sweep" || b.opts.sweep
	}
	for _, s := range strings.Split(b.opts.only, ",") {
		if strings.TrimSpace(s) == section {
			return true
		}
	}
	return section == "sweep" && b.opts.sweep
}

// runAll runs the sections in order into b.report.
func (b *bench) runAll(ctx context.Context) error {
	redisInfo, err := b.info(ctx, "server")
	if err != nil {
		return err
	}
	cmd := strings.Join(append([]string{"go run ./bench"}, b.opts.args...), " ")
	gmp := fmt.Sprintf("%d, cmd/worker's default (worker.DefaultProcs)", worker.DefaultProcs)
	baseGMP := fmt.Sprintf("GOMAXPROCS Go's default (%d, the number of CPUs)", runtime.NumCPU())
	if b.opts.gomaxprocs > 0 {
		gmp = strconv.Itoa(b.opts.gomaxprocs)
		baseGMP = "GOMAXPROCS " + gmp
	}
	b.report.header = []string{
		"machine:  " + machine(redisInfo["redis_version"]),
		"command:  " + cmd,
		"load:     load average " + loadavg() + " at the start (other processes share the machine)",
		fmt.Sprintf("workers:  cmd/worker, WORKER_CONCURRENCY=10, TASK_CHECK_INTERVAL=%v, DELAYED_TASK_CHECK_INTERVAL=%v, LOG_LEVEL=warn, GOMAXPROCS %s;",
			b.taskCheck, b.delayedCheck, gmp),
		"          baselines (bench/internal/plainworker) with the same concurrency, queues and intervals, " + baseGMP + "; one redis-server; the sandbox runs in the bench process",
	}
	steps := []struct {
		section string
		run     func(context.Context) error
	}{
		{"enqueue", b.measureEnqueue},
		{"memory", b.measureMemory},
		{"throughput", b.measureThroughput},
		{"latency", b.measureLatencyAndIdle},
		{"compliance", b.measureCompliance},
		{"methods", b.measureMethods},
		{"streaming", b.measureStreaming},
		{"sweep", b.measureSweep},
	}
	for _, s := range steps {
		if !b.want(s.section) && !(s.section == "latency" && b.want("idle")) {
			continue
		}
		if err := s.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.section, err)
		}
	}
	return nil
}

// median is the median of v (the upper one of an even count).
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// runList is " (runs a, b, c)" for more than one run, else "".
func runList(v []float64) string {
	if len(v) <= 1 {
		return ""
	}
	p := make([]string, len(v))
	for i, x := range v {
		p[i] = fmt.Sprintf("%.0f", x)
	}
	return " (runs " + strings.Join(p, ", ") + ")"
}

// meanCPU is the mean of CPU snapshots.
func meanCPU(cs []cpuSnap) cpuSnap {
	var s cpuSnap
	for _, c := range cs {
		s.workers += c.workers
		s.redis += c.redis
		s.bench += c.bench
	}
	k := time.Duration(len(cs))
	return cpuSnap{s.workers / k, s.redis / k, s.bench / k}
}
