// Command bench is telequeue's benchmark suite. One command runs every
// measurement of issue 3 against one local redis-server (on a free loopback
// port) and the Bot API sandbox, and prints a table of the figures:
//
//	go run ./bench            # full run, a few minutes
//	go run ./bench -quick     # short run (CI), under two minutes
//	go run ./bench -sweep     # also measure idle cost and latency of candidate polling intervals
//	go run ./bench -profile /tmp/prof   # CPU profiles of the six workers of the 6×10 run
//	go run ./bench -alt 'label|/abs/worker|KEY=V'   # another worker next to cmd/worker
//	go run ./bench curves   # how cost grows with the work (issue 13 §3), writes docs/curves.svg
//
// Figures that miss a target of issue 3 are marked MISSED; the command fails
// only when a measurement cannot be made. BENCHMARKS.md describes each
// figure and holds a run.
//
// It builds cmd/worker, cmd/telequeue and the baselines under bench/internal
// into a temporary directory and spawns them as separate processes, as a
// deployment would run them:
//
//   - ceiling: plain asynq no-op handlers, 6 processes × 10;
//   - plain asynq doing the same HTTP send: a handler that POSTs the
//     sendMessage JSON to the sandbox (fasthttp, as telequeue's caller),
//     without limiter, sent markers or results, 1 × 10 and 6 × 10;
//   - telequeue end to end with limits off, 1 × 10 and 6 × 10: each
//     message goes through client.SendBatch, a cmd/worker process and
//     telego to the sandbox;
//   - for each of these, per message: CPU of the workers, Redis and the
//     bench; Redis commands and round trips (INFO stats); allocations in
//     the workers (go_memstats_mallocs_total from their /metrics); and
//     telequeue beside plain asynq + the same HTTP send in one table
//     (issue 13 §2);
//   - enqueue throughput of the client (1 and 100 producers, SendBatch)
//     and of "telequeue send --jsonl" with a 20,000-line file;
//   - enqueue→Telegram latency, idle and at half of the 6 × 10 throughput:
//     the enqueue instant is written into the text and compared with the
//     sandbox's delivery time;
//   - Redis commands per second with six idle workers;
//   - Redis memory per pending 150-character message;
//   - limit compliance: six workers with the limits on against the
//     sandbox enforcing the same limits (global 300/s, chat 1/s, group
//     20/min, paid 1000/s);
//   - every Bot API method (issue 11, section "methods"): Redis memory per
//     pending sendPhoto by file_id and per pending sendPhoto sharing one
//     uploaded 1 MB file, and the end-to-end rate of a mixed workload
//     (sends of several kinds, edits, deletes, callback answers) beside
//     sendMessage alone, 6 × 10, limits off;
//   - the streaming reply (issue 12, section "streaming"): 300 edits of one
//     message over 10 s in a private chat and in a group, 6 × 10 with
//     Telegram's limits: edits offered, sent and superseded, the last
//     edit's delay, 429s, and the latency of other chats' messages.
//
// Throughput runs pause the queue, enqueue every task, then unpause it, and
// count asynq's processed counter between 10% and 90% of the tasks, so that
// process start-up and the tail do not count; Redis commands, round trips
// and allocations are counted over the same window, CPU over the whole
// drain.
//
// Workers get the environment a deployment would set (REDIS_URL,
// TELEGRAM_BOT_TOKEN, TELEGRAM_API_URL, WORKER_CONCURRENCY=10,
// TELEGRAM_RATE_*, LOG_LEVEL=warn) and otherwise the configuration defaults,
// so the polling intervals measured are the defaults of internal/config unless
// -task-check or -delayed-check override them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if _, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

// options are the command-line settings.
type options struct {
	quick        bool
	sweep        bool
	only         string
	profile      string
	repeat       int
	taskCheck    time.Duration
	delayedCheck time.Duration
	timeout      time.Duration
	margin       float64
	rates        string
	alts         alts
	gomaxprocs   int
	args         []string // as given, for the report
	trace        string
}

// alt is another worker to measure next to cmd/worker: a binary (an
// absolute path, or "worker" for this tree's cmd/worker) and extra
// environment, e.g. "nomarkers|worker|SENT_MARKERS=false".
type alt struct {
	label, binary string
	env           []string
}

type alts []alt

func (a *alts) String() string { return fmt.Sprint(*a) }

func (a *alts) Set(v string) error {
	f := strings.Split(v, "|")
	if len(f) < 2 || f[0] == "" || (f[1] != "worker" && !filepath.IsAbs(f[1])) {
		return fmt.Errorf("want label|/abs/path/or/worker[|KEY=V KEY=V]")
	}
	x := alt{label: f[0], binary: f[1]}
	if len(f) > 2 {
		x.env = strings.Fields(f[2])
	}
	*a = append(*a, x)
	return nil
}

// sizes are the amounts of work of one run.
type sizes struct {
	ceiling     int // tasks of each 6×10 throughput run
	oneProcess  int // tasks of the 1×10 run
	idleSamples int
	loadFor     time.Duration
	idleFor     time.Duration
	memory      int
	enqueueOne  int
	enqueueMany int
	jsonl       int
	mixed       int // tasks of each run of the methods section
	compliance  complianceShape
}

func (o options) sizes() sizes {
	if o.quick {
		return sizes{
			ceiling: 8000, oneProcess: 3000, idleSamples: 60, loadFor: 3 * time.Second, idleFor: 4 * time.Second,
			memory: 20000, enqueueOne: 1000, enqueueMany: 5000, jsonl: 20000, mixed: 6000,
			compliance: complianceShape{broadcastFor: 3 * time.Second, burstChats: 10, burstEach: 3, groupMsgs: 2, paidFor: 600 * time.Millisecond},
		}
	}
	return sizes{
		ceiling: 40000, oneProcess: 10000, idleSamples: 200, loadFor: 10 * time.Second, idleFor: 10 * time.Second,
		memory: 100000, enqueueOne: 5000, enqueueMany: 20000, jsonl: 20000, mixed: 20000,
		compliance: complianceShape{broadcastFor: 15 * time.Second, burstChats: 30, burstEach: 5, groupMsgs: 6, paidFor: 3 * time.Second},
	}
}

// run parses args, runs the benchmark and prints the table to stdout and
// progress to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (*report, error) {
	if len(args) > 0 && args[0] == "curves" {
		return nil, runCurves(ctx, args[1:], stdout, stderr) // curves.go
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{args: args}
	fs.BoolVar(&o.quick, "quick", false, "short run with fewer tasks (CI)")
	fs.BoolVar(&o.sweep, "sweep", false, "also measure idle Redis load and idle latency for candidate TASK_CHECK_INTERVAL values")
	fs.StringVar(&o.only, "only", "", "run only these sections, comma-separated: enqueue,memory,throughput,latency,idle,compliance,methods,streaming,sweep")
	fs.StringVar(&o.profile, "profile", "", "write CPU profiles of the 6×10 telequeue workers to this directory")
	fs.IntVar(&o.repeat, "repeat", 0, "throughput runs of each kind; the median is reported (default 3, 1 with -quick)")
	fs.DurationVar(&o.taskCheck, "task-check", 0, "TASK_CHECK_INTERVAL for every worker (default: the configuration default)")
	fs.DurationVar(&o.delayedCheck, "delayed-check", 0, "DELAYED_TASK_CHECK_INTERVAL for every worker (default: the configuration default)")
	fs.DurationVar(&o.timeout, "timeout", 45*time.Minute, "give up after this long")
	fs.StringVar(&o.rates, "rates", defaultComplianceRates, "limits of the compliance run: global/s,chat/s,group/min,paid/s")
	fs.StringVar(&o.trace, "trace", "", "write every Bot API request of the compliance run (time, status, chat) to this file")
	fs.IntVar(&o.gomaxprocs, "gomaxprocs", 0, "GOMAXPROCS of every spawned worker, telequeue and baseline alike (default: unset; cmd/worker then runs with 1, the baselines with Go's default, the number of CPUs)")
	fs.Var(&o.alts, "alt", "another worker to measure next to cmd/worker, label|binary|KEY=V ...; binary is an absolute path or \"worker\" (repeatable)")
	fs.Float64Var(&o.margin, "margin", 0, "TELEGRAM_RATE_MARGIN of the workers of the compliance run (default: the configuration default, 0.03)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if _, err := parseRates(o.rates); err != nil {
		return nil, err
	}
	if o.margin < 0 || o.margin >= 0.5 {
		return nil, fmt.Errorf("-margin %v: want a fraction in (0, 0.5)", o.margin)
	}
	if o.repeat <= 0 {
		o.repeat = 3
		if o.quick {
			o.repeat = 1
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	b, err := setup(ctx, o, stderr)
	if err != nil {
		return nil, err
	}
	defer b.close()
	if err := b.runAll(ctx); err != nil {
		b.report.print(stdout)
		return b.report, err
	}
	b.report.print(stdout)
	return b.report, nil
}
