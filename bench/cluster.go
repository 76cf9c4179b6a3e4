package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
)

// botToken is a fake token of the form telego accepts: digits, ':' and 35
// characters. The sandbox accepts any such token.
const botToken = "123456789:BENCHbenchBENCHbenchBENCHbenchBENCH"

// bench is one run's environment: binaries, Redis, the sandbox, results.
type bench struct {
	opts   options
	size   sizes
	log    io.Writer
	tmp    string
	bin    string
	redis  *redistest.Server
	rdb    *redis.Client
	own    ownTraffic // rdb's commands and round trips
	insp   *asynq.Inspector
	sb     *sandbox.Sandbox
	sbURL  string
	report *report

	// Polling intervals the workers run with.
	taskCheck, delayedCheck time.Duration
	// maxRate is the median 6×10 end-to-end throughput (msgs/s).
	maxRate float64
	// limits are the limits of the compliance run.
	limits sandbox.Limits
	// tracer records the compliance run's requests for -trace.
	tracer     *tracer
	stopTraced func()
}

func setup(ctx context.Context, o options, log io.Writer) (_ *bench, err error) {
	b := &bench{opts: o, size: o.sizes(), log: log, report: &report{}}
	if b.limits, err = parseRates(o.rates); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	if b.tmp, err = os.MkdirTemp("", "telequeue-bench-"); err != nil {
		return nil, err
	}
	b.bin = filepath.Join(b.tmp, "bin")
	b.progress("building cmd/worker, cmd/telequeue and the baselines")
	if err := build(ctx, b.bin); err != nil {
		return nil, err
	}

	defaults, err := config.Load(func(string) (string, bool) { return "", false }, false)
	if err != nil {
		return nil, err
	}
	b.taskCheck, b.delayedCheck = defaults.TaskCheckInterval, defaults.DelayedTaskCheckInterval
	if o.taskCheck > 0 {
		b.taskCheck = o.taskCheck
	}
	if o.delayedCheck > 0 {
		b.delayedCheck = o.delayedCheck
	}

	redisDir := filepath.Join(b.tmp, "redis")
	if err := os.MkdirAll(redisDir, 0o755); err != nil {
		return nil, err
	}
	if b.redis, err = redistest.Run(ctx, redistest.Options{Dir: redisDir}); err != nil {
		return nil, err
	}
	b.rdb = redis.NewClient(&redis.Options{Addr: b.redis.Addr()})
	b.rdb.AddHook(&b.own)
	b.insp = asynq.NewInspector(asynq.RedisClientOpt{Addr: b.redis.Addr()})

	if b.sb, err = sandbox.New(sandbox.Config{NoRecordParams: true}); err != nil {
		return nil, err
	}
	if o.trace == "" {
		if b.sbURL, err = b.sb.Start("127.0.0.1:0"); err != nil {
			return nil, err
		}
	} else {
		b.tracer = &tracer{next: b.sb}
		if b.sbURL, b.stopTraced, err = serveTraced(b.tracer); err != nil {
			return nil, err
		}
	}
	b.progress(fmt.Sprintf("redis-server on %s, sandbox on %s, TASK_CHECK_INTERVAL=%v DELAYED_TASK_CHECK_INTERVAL=%v",
		b.redis.Addr(), b.sbURL, b.taskCheck, b.delayedCheck))
	return b, nil
}

func (b *bench) close() {
	if b.insp != nil {
		_ = b.insp.Close()
	}
	if b.rdb != nil {
		_ = b.rdb.Close()
	}
	if b.stopTraced != nil {
		b.stopTraced()
	}
	if b.sb != nil {
		_ = b.sb.Close()
	}
	if b.redis != nil {
		b.redis.Stop()
	}
	if b.tmp != "" {
		_ = os.RemoveAll(b.tmp)
	}
}

func (b *bench) progress(msg string) {
	fmt.Fprintf(b.log, "%s  %s\n", time.Now().Format("15:04:05.000"), msg)
}

// moduleRoot is the directory of go.mod, found with "go env GOMOD".
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the benchmark inside the telequeue module")
	}
	return filepath.Dir(mod), nil
}

// build compiles the binaries the benchmark spawns into dir.
func build(ctx context.Context, dir string) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator),
		"./cmd/worker", "./cmd/telequeue", "./bench/internal/plainworker", "./bench/internal/profworker")
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out.String())
	}
	return nil
}

// proc is a spawned process.
type proc struct {
	name string
	cmd  *exec.Cmd
	logf *os.File
	done chan struct{}
	err  error
	// metrics is the URL of the process's Prometheus metrics, if it
	// serves them.
	metrics string
}

// group is a set of spawned processes that serve the same queues.
type group []*proc

// spawn starts a binary of the run with a clean environment: PATH and HOME
// plus env, nothing inherited that could point it at another Redis.
func (b *bench) spawn(name, binary string, args, env []string) (*proc, error) {
	logf, err := os.Create(filepath.Join(b.tmp, name+".log"))
	if err != nil {
		return nil, err
	}
	path := binary
	if !filepath.IsAbs(path) {
		path = filepath.Join(b.bin, binary)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	if b.opts.gomaxprocs > 0 {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(b.opts.gomaxprocs))
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logf: logf, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// workerEnv is the environment of a telequeue worker; limits are the four
// TELEGRAM_RATE_* values (global/s, chat/s, group/min, paid/s).
func (b *bench) workerEnv(limits [4]float64, taskCheck time.Duration) []string {
	env := []string{
		"REDIS_URL=" + b.redis.URL(),
		"TELEGRAM_BOT_TOKEN=" + botToken,
		"TELEGRAM_API_URL=" + b.sbURL,
		"WORKER_CONCURRENCY=10",
		"LOG_LEVEL=warn",
		"TELEGRAM_RATE_GLOBAL=" + ftoa(limits[0]),
		"TELEGRAM_RATE_CHAT=" + ftoa(limits[1]),
		"TELEGRAM_RATE_GROUP=" + ftoa(limits[2]),
		"TELEGRAM_RATE_PAID=" + ftoa(limits[3]),
	}
	if b.opts.taskCheck > 0 || taskCheck != b.taskCheck {
		env = append(env, "TASK_CHECK_INTERVAL="+taskCheck.String())
	}
	if b.opts.delayedCheck > 0 {
		env = append(env, "DELAYED_TASK_CHECK_INTERVAL="+b.delayedCheck.String())
	}
	if b.opts.margin > 0 {
		env = append(env, "TELEGRAM_RATE_MARGIN="+ftoa(b.opts.margin))
	}
	return env
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// limitsOff turns every limit off.
var limitsOff = [4]float64{}

// startWorkers spawns n telequeue workers (cmd/worker; an -alt worker if
// alt is set; profworker writing CPU profiles into profileDir if set), each
// serving its metrics on a free port, and waits until each has registered
// with asynq.
func (b *bench) startWorkers(ctx context.Context, n int, limits [4]float64, taskCheck time.Duration, profileDir string, alt *alt) (group, error) {
	return retryPortClash(func() (group, error) { return b.startWorkersOnce(ctx, n, limits, taskCheck, profileDir, alt) })
}

// retryPortClash runs start again, up to twice, when a process it started
// could not listen on the free port it was given: between the probe that
// found the port free and the process's listen, another process's outgoing
// connection may take it (the probe's port comes from the same ephemeral
// range).
func retryPortClash(start func() (group, error)) (group, error) {
	for i := 0; ; i++ {
		g, err := start()
		if err == nil || i == 2 || !strings.Contains(err.Error(), "address already in use") {
			return g, err
		}
	}
}

func (b *bench) startWorkersOnce(ctx context.Context, n int, limits [4]float64, taskCheck time.Duration, profileDir string, alt *alt) (group, error) {
	var g group
	for i := range n {
		port, err := redistest.FreePort()
		if err != nil {
			g.stop()
			return nil, err
		}
		env := append(b.workerEnv(limits, taskCheck), "METRICS_PORT="+strconv.Itoa(port))
		binary := "worker"
		if alt != nil {
			binary = alt.binary
			env = append(env, alt.env...)
		}
		if profileDir != "" {
			binary = "profworker"
			env = append(env, "BENCH_CPUPROFILE="+filepath.Join(profileDir, fmt.Sprintf("worker-%d.pprof", i)),
				"BENCH_MEMPROFILE="+filepath.Join(profileDir, fmt.Sprintf("worker-%d.allocs.pprof", i)))
		}
		p, err := b.spawn(fmt.Sprintf("worker-%d-%d", time.Now().UnixNano(), i), binary, nil, env)
		if err != nil {
			g.stop()
			return nil, err
		}
		p.metrics = fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
		g = append(g, p)
	}
	if err := b.waitRegistered(ctx, g); err != nil {
		g.stop()
		return nil, err
	}
	return g, nil
}

// startPlain spawns n plain asynq workers in mode "noop" or "http", each
// serving its metrics on a free port.
func (b *bench) startPlain(ctx context.Context, n int, mode, profileDir string) (group, error) {
	return retryPortClash(func() (group, error) { return b.startPlainOnce(ctx, n, mode, profileDir) })
}

func (b *bench) startPlainOnce(ctx context.Context, n int, mode, profileDir string) (group, error) {
	var g group
	for i := range n {
		port, err := redistest.FreePort()
		if err != nil {
			g.stop()
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		args := []string{"-mode", mode, "-redis", b.redis.Addr(), "-api", b.sbURL, "-token", botToken,
			"-concurrency", "10", "-task-check", b.taskCheck.String(), "-delayed-check", b.delayedCheck.String(),
			"-metrics-addr", addr}
		if profileDir != "" {
			args = append(args, "-cpuprofile", filepath.Join(profileDir, fmt.Sprintf("plain-%s-%d.pprof", mode, i)))
		}
		p, err := b.spawn(fmt.Sprintf("plain-%s-%d-%d", mode, time.Now().UnixNano(), i), "plainworker", args, nil)
		if err != nil {
			g.stop()
			return nil, err
		}
		p.metrics = "http://" + addr + "/metrics"
		g = append(g, p)
	}
	if err := b.waitRegistered(ctx, g); err != nil {
		g.stop()
		return nil, err
	}
	return g, nil
}

// waitRegistered waits until asynq lists a server for every process of g.
func (b *bench) waitRegistered(ctx context.Context, g group) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		for _, p := range g {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, tail(p.logf.Name(), 10))
			default:
			}
		}
		servers, err := b.insp.Servers()
		if err == nil {
			pids := map[int]bool{}
			for _, s := range servers {
				pids[s.PID] = true
			}
			all := true
			for _, p := range g {
				all = all && pids[p.cmd.Process.Pid]
			}
			if all {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("workers did not register with asynq: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM to every process, waits for them (bounded), and kills
// what is left.
func (g group) stop() {
	for _, p := range g {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.After(20 * time.Second)
	for _, p := range g {
		select {
		case <-p.done:
		case <-deadline:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		_ = p.logf.Close()
	}
}

// alive reports an error if a process of g has exited.
func (g group) alive() error {
	for _, p := range g {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, tail(p.logf.Name(), 10))
		default:
		}
	}
	return nil
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// machine describes the host for the report.
func machine(redisVersion string) string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "MemTotal:") {
				if kb, err := strconv.Atoi(strings.Fields(line)[1]); err == nil {
					mem = fmt.Sprintf(", %.1f GiB RAM", float64(kb)/(1<<20))
				}
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s)%s, %s %s/%s, redis %s", runtime.NumCPU(), cpu, mem,
		runtime.Version(), runtime.GOOS, runtime.GOARCH, redisVersion)
}
