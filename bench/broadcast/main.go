// Command broadcast measures telequeue's broadcasts (issue 6, part 4) against
// one local redis-server and the Bot API sandbox, and prints a table:
//
//	go run ./bench/broadcast            # full run, about five minutes
//	go run ./bench/broadcast -quick     # smaller sizes, about two minutes
//	go run ./bench/broadcast -only accept,throughput,latency
//
// Sections:
//
//   - accept: time until client.Broadcast and POST /v1/broadcasts return for
//     100,000 and 1,000,000 recipients (no worker runs), and the Redis memory
//     per pending recipient (used_memory before and after, divided by the
//     recipients);
//   - throughput: a 100,000-recipient broadcast with limits off, sent by
//     cmd/worker processes (WORKER_CONCURRENCY=10) to the sandbox; time from
//     acceptance to the last recipient settled, and a check that each chat got
//     the message exactly once;
//   - latency: enqueue→delivery latency of critical messages (2 per second to
//     distinct chats) while a broadcast with more recipients than the window
//     can send runs against the bot's 30 messages per second, with the
//     sandbox enforcing 30/s; compared with no broadcast, with broadcasts
//     that use the whole budget (share 1), and with broadcasts that reserve
//     like ordinary sends (lookahead = the 2 s MaxWait). Two in-process
//     servers × 10 senders with the configuration's polling intervals.
//
// It sits beside the main suite (go run ./bench) as its own command so that
// the two evolve independently.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/ratelimit"
	"github.com/telequeue/telequeue/server"
	"github.com/telequeue/telequeue/tasks"
	"github.com/telequeue/telequeue/web"
)

// botToken is a fake token of the form telego accepts.
const botToken = "123456789:BCASTbcastBCASTbcastBCASTbcastBCAST"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench/broadcast:", err)
		}
		os.Exit(1)
	}
}

type options struct {
	quick   bool
	only    string
	workers int
	margin  float64
	timeout time.Duration
}

type bench struct {
	opts  options
	log   io.Writer
	tmp   string
	redis *redistest.Server
	rdb   *redis.Client
	sb    *sandbox.Sandbox
	sbURL string
	c     *client.Client
	rows  [][4]string

	// The configuration's polling intervals, which the latency runs use.
	taskCheck, delayedCheck time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("broadcast", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.BoolVar(&o.quick, "quick", false, "smaller sizes (1M acceptance becomes 300k, latency runs shorter)")
	fs.StringVar(&o.only, "only", "", "run only these sections, comma-separated: accept,throughput,latency")
	fs.IntVar(&o.workers, "workers", 2, "worker processes of the throughput run")
	fs.Float64Var(&o.margin, "margin", 0, "limiter margin of the latency runs (default ratelimit.DefaultMargin, 0.03)")
	fs.DurationVar(&o.timeout, "timeout", 20*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	redis.SetLogger(quiet{})

	b := &bench{opts: o, log: stderr}
	defer b.close()
	if err := b.setup(ctx); err != nil {
		return err
	}
	cmd := "go run ./bench/broadcast"
	if len(args) > 0 {
		cmd += " " + strings.Join(args, " ")
	}
	header := []string{
		"machine:  " + machine(ctx, b.rdb),
		"command:  " + cmd,
		"load:     load average " + loadavg() + " at the start",
	}
	var err error
	for _, s := range []struct {
		name string
		f    func(context.Context) error
	}{{"accept", b.accept}, {"throughput", b.throughput}, {"latency", b.latency}} {
		if !b.want(s.name) {
			continue
		}
		if err = s.f(ctx); err != nil {
			err = fmt.Errorf("%s: %w", s.name, err)
			break
		}
	}
	b.print(stdout, header)
	return err
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func (b *bench) want(section string) bool {
	if b.opts.only == "" {
		return true
	}
	return slices.Contains(strings.Split(b.opts.only, ","), section)
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.log, "%s  "+format+"\n", append([]any{time.Now().Format(time.TimeOnly)}, args...)...)
}

func (b *bench) add(section, measure, result, note string) {
	b.rows = append(b.rows, [4]string{section, measure, result, note})
}

func (b *bench) print(w io.Writer, header []string) {
	fmt.Fprintln(w)
	for _, h := range header {
		fmt.Fprintln(w, h)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "section\tmeasure\tresult\tnote\t")
	fmt.Fprintln(tw, "-------\t-------\t------\t----\t")
	last := ""
	for _, r := range b.rows {
		sec := r[0]
		if sec == last {
			sec = ""
		}
		last = r[0]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", sec, r[1], r[2], r[3])
	}
	_ = tw.Flush()
}

func (b *bench) setup(ctx context.Context) error {
	var err error
	if b.tmp, err = os.MkdirTemp("", "telequeue-bcbench-"); err != nil {
		return err
	}
	if b.redis, err = redistest.Run(ctx, redistest.Options{Dir: b.tmp}); err != nil {
		return err
	}
	b.rdb = redis.NewClient(&redis.Options{Addr: b.redis.Addr()})
	if b.sb, err = sandbox.New(sandbox.Config{NoRecordParams: true}); err != nil {
		return err
	}
	if b.sbURL, err = b.sb.Start("127.0.0.1:0"); err != nil {
		return err
	}
	defaults, err := config.Load(func(string) (string, bool) { return "", false }, false)
	if err != nil {
		return err
	}
	b.taskCheck, b.delayedCheck = defaults.TaskCheckInterval, defaults.DelayedTaskCheckInterval
	b.c, err = client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: b.redis.Addr()}, Bots: []string{tasks.DefaultBot}})
	return err
}

func (b *bench) close() {
	if b.c != nil {
		_ = b.c.Close()
	}
	if b.rdb != nil {
		_ = b.rdb.Close()
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

// chats returns n distinct chat ids that look like Telegram user ids.
func chats(first int64, n int) []int64 {
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = first + int64(i)*37
	}
	return ids
}

func (b *bench) usedMemory(ctx context.Context) (int64, error) {
	if err := b.rdb.Do(ctx, "MEMORY", "PURGE").Err(); err != nil {
		return 0, err
	}
	info, err := b.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("no used_memory in INFO")
}

// ---- accept ----------------------------------------------------------------

func (b *bench) accept(ctx context.Context) error {
	const sec = "accept"
	sizes := []int{100_000, 1_000_000}
	if b.opts.quick {
		sizes = []int{100_000, 300_000}
	}
	msg := &tasks.SendMessage{Text: "Our new release is out: https://example.com/v2 — have a look!"}
	for _, n := range sizes {
		if err := b.rdb.FlushAll(ctx).Err(); err != nil {
			return err
		}
		ids := chats(100_000_000, n)
		before, err := b.usedMemory(ctx)
		if err != nil {
			return err
		}
		b.progress("accept: client.Broadcast, %d recipients", n)
		start := time.Now()
		r, err := b.c.Broadcast(ctx, msg, ids)
		took := time.Since(start)
		if err != nil {
			return err
		}
		after, err := b.usedMemory(ctx)
		if err != nil {
			return err
		}
		tasksN, err := b.rdb.LLen(ctx, "asynq:{bulk}:pending").Result()
		if err != nil {
			return err
		}
		b.add(sec, fmt.Sprintf("client.Broadcast, %s recipients", human(n)), took.Round(time.Millisecond).String(),
			fmt.Sprintf("%d chunks, %d asynq tasks queued", r.Chunks, tasksN))
		b.add(sec, fmt.Sprintf("  Redis memory while pending (%s)", human(n)), fmt.Sprintf("%.1f bytes/recipient", float64(after-before)/float64(n)),
			fmt.Sprintf("%.1f MB in all", float64(after-before)/1e6))
	}

	// The HTTP API, with the JSON a caller would send.
	rc, err := config.NewRedisConn(b.redis.URL())
	if err != nil {
		return err
	}
	ws, err := web.New(web.Config{Redis: rc, Client: b.c, APIToken: "bench"})
	if err != nil {
		return err
	}
	defer ws.Close()
	ts := httptest.NewServer(ws.Handler())
	defer ts.Close()
	for _, n := range sizes {
		if err := b.rdb.FlushAll(ctx).Err(); err != nil {
			return err
		}
		var body bytes.Buffer
		body.WriteString(`{"text": "Our new release is out", "chat_ids": [`)
		for i, id := range chats(100_000_000, n) {
			if i > 0 {
				body.WriteByte(',')
			}
			body.WriteString(strconv.FormatInt(id, 10))
		}
		body.WriteString("]}")
		size := body.Len()
		b.progress("accept: POST /v1/broadcasts, %d recipients (%d bytes)", n, size)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/broadcasts", &body)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer bench")
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := ts.Client().Do(req)
		if err != nil {
			return err
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("POST /v1/broadcasts: %d %s", resp.StatusCode, out)
		}
		b.add(sec, fmt.Sprintf("POST /v1/broadcasts, %s recipients", human(n)), took.Round(time.Millisecond).String(),
			fmt.Sprintf("%.1f MB of JSON over loopback", float64(size)/1e6))
	}
	return b.rdb.FlushAll(ctx).Err()
}

func human(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// ---- throughput ------------------------------------------------------------

func (b *bench) throughput(ctx context.Context) error {
	const sec = "throughput"
	bin, err := buildWorker(ctx, b.tmp)
	if err != nil {
		return err
	}
	n := 100_000
	for _, par := range []int{8, 16} {
		if err := b.rdb.FlushAll(ctx).Err(); err != nil {
			return err
		}
		b.sb.Reset()
		procs, err := b.spawnWorkers(ctx, bin, b.opts.workers)
		if err != nil {
			return err
		}
		ids := chats(200_000_000, n)
		b.progress("throughput: %d recipients, parallelism %d, %d workers × 10, limits off", n, par, b.opts.workers)
		cpu0, err := b.cpu(ctx, procs)
		if err != nil {
			stopAll(procs)
			return err
		}
		start := time.Now()
		r, err := b.c.Broadcast(ctx, &tasks.SendMessage{Text: "throughput"}, ids, client.BroadcastParallelism(par))
		if err != nil {
			stopAll(procs)
			return err
		}
		accepted := time.Since(start)
		p, err := b.waitDone(ctx, r.ID, 10*time.Minute)
		if err != nil {
			stopAll(procs)
			return err
		}
		cpu1, err := b.cpu(ctx, procs)
		stopAll(procs)
		if err != nil {
			return err
		}
		took := p.FinishedAt.Sub(start)
		msgs := b.sb.Messages()
		per := make(map[string]int, n)
		for _, m := range msgs {
			per[m.ChatID]++
		}
		dups, missing := 0, 0
		for _, id := range ids {
			switch c := per[strconv.FormatInt(id, 10)]; {
			case c == 0:
				missing++
			case c > 1:
				dups += c - 1
			}
		}
		b.add(sec, fmt.Sprintf("100k broadcast, limits off, parallelism %d, %d workers × 10", par, b.opts.workers),
			fmt.Sprintf("%.0f msgs/s", float64(n)/took.Seconds()),
			fmt.Sprintf("accepted in %v, all settled %v later; sent %d, missing %d, duplicates %d",
				accepted.Round(time.Millisecond), (took-accepted).Round(100*time.Millisecond), p.Sent, missing, dups))
		b.add(sec, "  CPU per recipient", fmt.Sprintf("workers %v, redis-server %v",
			((cpu1.workers-cpu0.workers)/time.Duration(n)).Round(time.Microsecond), ((cpu1.redis-cpu0.redis)/time.Duration(n)).Round(time.Microsecond)),
			"user+system time; the sandbox runs in the bench process")
	}
	return nil
}

// cpuTimes are CPU times used so far.
type cpuTimes struct{ workers, redis time.Duration }

// cpu reads the workers' CPU time from /proc and Redis's from INFO cpu.
func (b *bench) cpu(ctx context.Context, procs []*exec.Cmd) (cpuTimes, error) {
	var c cpuTimes
	for _, p := range procs {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Process.Pid))
		if err != nil {
			return c, err
		}
		// Fields after "(comm)": utime and stime are the 12th and 13th.
		f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
		if len(f) < 13 {
			return c, fmt.Errorf("/proc/%d/stat: unexpected format", p.Process.Pid)
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		c.workers += time.Duration(u+st) * time.Second / 100 // USER_HZ
	}
	info, err := b.rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return c, err
	}
	for _, line := range strings.Split(info, "\r\n") {
		for _, k := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(line, k); ok {
				sec, _ := strconv.ParseFloat(v, 64)
				c.redis += time.Duration(sec * float64(time.Second))
			}
		}
	}
	return c, nil
}

func buildWorker(ctx context.Context, dir string) (string, error) {
	root, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			return "", errors.New("no go.mod above the working directory")
		}
		root = parent
	}
	out := filepath.Join(dir, "worker")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/worker")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/worker: %w\n%s", err, b)
	}
	return out, nil
}

func (b *bench) spawnWorkers(ctx context.Context, bin string, n int) ([]*exec.Cmd, error) {
	var procs []*exec.Cmd
	for i := range n {
		logf, err := os.Create(filepath.Join(b.tmp, fmt.Sprintf("worker-%d-%d.log", time.Now().UnixNano(), i)))
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin)
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
			"REDIS_URL=" + b.redis.URL(), "TELEGRAM_BOT_TOKEN=" + botToken, "TELEGRAM_API_URL=" + b.sbURL,
			"WORKER_CONCURRENCY=10", "LOG_LEVEL=warn",
			"TELEGRAM_RATE_GLOBAL=0", "TELEGRAM_RATE_CHAT=0", "TELEGRAM_RATE_GROUP=0", "TELEGRAM_RATE_PAID=0",
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			stopAll(procs)
			return nil, err
		}
		procs = append(procs, cmd)
	}
	// Wait until every worker has registered with asynq.
	insp := asynq.NewInspectorFromRedisClient(b.rdb)
	deadline := time.Now().Add(30 * time.Second)
	for {
		servers, err := insp.Servers()
		if err == nil && len(servers) >= n {
			return procs, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stopAll(procs)
			return nil, fmt.Errorf("workers did not register (%d of %d)", len(servers), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func stopAll(procs []*exec.Cmd) {
	for _, p := range procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
}

func (b *bench) waitDone(ctx context.Context, id string, within time.Duration) (*client.BroadcastProgress, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		p, err := b.c.BroadcastStatus(ctx, id)
		if err != nil {
			return nil, err
		}
		if p.Done() {
			return p, nil
		}
		select {
		case <-ctx.Done():
			return p, fmt.Errorf("broadcast not done within %v: %+v", within, p)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ---- latency ---------------------------------------------------------------

// latencyRun is one variant of the latency section.
type latencyRun struct {
	name      string
	broadcast bool
	lookahead time.Duration // 0: the handler's default
	share     float64       // 0: the handler's default
}

func (b *bench) latency(ctx context.Context) error {
	const sec = "latency"
	window := 40 * time.Second
	if b.opts.quick {
		window = 20 * time.Second
	}
	runs := []latencyRun{
		{name: "no broadcast"},
		{name: "during a broadcast (defaults: lookahead 50ms, share 0.85)", broadcast: true},
		{name: "during a broadcast with lookahead 50ms, share 1", broadcast: true, share: 1},
		{name: "during a broadcast reserving like a send (lookahead 2s, share 1)", broadcast: true, lookahead: 2 * time.Second, share: 1},
	}
	for _, lr := range runs {
		b.progress("latency: critical messages %s, %v", lr.name, window)
		d, bcRate, st, err := b.latencyRun(ctx, lr, window)
		if err != nil {
			return err
		}
		note := fmt.Sprintf("%d messages; sandbox 429s: %d over a limit %v, %d early retries", len(d), st.Violations, st.Rejected429, st.EarlyRetry)
		if lr.broadcast {
			note = fmt.Sprintf("broadcast at %.1f/s; ", bcRate) + note
		}
		b.add(sec, "critical, "+lr.name, fmt.Sprintf("p50 %v  p90 %v  p99 %v", pct(d, 50), pct(d, 90), pct(d, 99)), note)
	}
	return nil
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := min((len(d)*p+99)/100, len(d)) - 1
	return d[max(i, 0)].Round(time.Millisecond)
}

// latencyRun starts two in-process servers with the 30/s limiter against a
// sandbox enforcing 30/s, optionally a broadcast, and sends critical
// messages every 500 ms for window. It returns their sorted latencies, the
// broadcast's delivery rate during the window and the sandbox's figures.
func (b *bench) latencyRun(ctx context.Context, lr latencyRun, window time.Duration) ([]time.Duration, float64, sandbox.Stats, error) {
	const rate = 30
	if err := b.rdb.FlushAll(ctx).Err(); err != nil {
		return nil, 0, sandbox.Stats{}, err
	}
	sb, err := sandbox.New(sandbox.Config{NoRecordParams: true, Limits: sandbox.Limits{Global: rate, Chat: 1, Group: 20}})
	if err != nil {
		return nil, 0, sandbox.Stats{}, err
	}
	url, err := sb.Start("127.0.0.1:0")
	if err != nil {
		return nil, 0, sandbox.Stats{}, err
	}
	defer sb.Close()
	log := slog.New(slog.DiscardHandler)
	opt := asynq.RedisClientOpt{Addr: b.redis.Addr()}
	var servers []*server.Server
	defer func() {
		for _, s := range servers {
			s.Shutdown()
		}
	}()
	for range 2 {
		bots, err := handlers.NewBots(handlers.BotsConfig{Tokens: map[string]string{"default": botToken}, APIURL: url})
		if err != nil {
			return nil, 0, sandbox.Stats{}, err
		}
		rdb := redis.NewClient(&redis.Options{Addr: b.redis.Addr()})
		defer rdb.Close()
		lim, err := ratelimit.New(rdb, ratelimit.Config{Global: rate, Chat: 1, Group: 20, Paid: 1000, Margin: b.opts.margin})
		if err != nil {
			return nil, 0, sandbox.Stats{}, err
		}
		h, err := handlers.NewSendMessageHandler(handlers.Config{Bots: bots, Limiter: lim, Redis: rdb, Logger: log})
		if err != nil {
			return nil, 0, sandbox.Stats{}, err
		}
		bh, err := handlers.NewBroadcastHandler(handlers.BroadcastConfig{Bots: bots, Redis: rdb, Limiter: lim,
			Lookahead: lr.lookahead, Share: lr.share, MaxActive: 8, Logger: log})
		if err != nil {
			return nil, 0, sandbox.Stats{}, err
		}
		srv, err := server.New(server.Config{Redis: opt, Concurrency: 10, SendMessage: h,
			Handlers: map[string]asynq.Handler{tasks.TypeBroadcastChunk: bh}, Logger: log,
			TaskCheckInterval: b.taskCheck, DelayedTaskCheckInterval: b.delayedCheck, ShutdownTimeout: 3 * time.Second})
		if err != nil {
			return nil, 0, sandbox.Stats{}, err
		}
		if err := srv.Start(); err != nil {
			return nil, 0, sandbox.Stats{}, err
		}
		servers = append(servers, srv)
	}
	var bcID string
	if lr.broadcast {
		// More recipients than the window can send: the broadcast runs
		// throughout, with 16 chunks competing for the budget.
		n := int(window.Seconds()*rate) + 1000
		r, err := b.c.Broadcast(ctx, &tasks.SendMessage{Text: "promo"}, chats(300_000_000, n), client.BroadcastParallelism(16))
		if err != nil {
			return nil, 0, sandbox.Stats{}, err
		}
		bcID = r.ID
		// Let it reach its full rate.
		time.Sleep(3 * time.Second)
	}
	sentAt := make(map[string]time.Time)
	from := time.Now()
	bcBefore := sb.Count()
	tick := time.NewTicker(500 * time.Millisecond)
	for i := 0; time.Since(from) < window; i++ {
		chat := int64(10_000 + i)
		sentAt[strconv.FormatInt(chat, 10)] = time.Now()
		_, err := b.c.SendMessage(ctx, &tasks.SendMessage{ChatID: tgChat(chat), Text: "your code is 4242"}, client.Critical())
		if err != nil {
			tick.Stop()
			return nil, 0, sandbox.Stats{}, err
		}
		select {
		case <-ctx.Done():
			tick.Stop()
			return nil, 0, sandbox.Stats{}, ctx.Err()
		case <-tick.C:
		}
	}
	tick.Stop()
	elapsed := time.Since(from)
	bcDelivered := sb.Count() - bcBefore
	// Wait for the last critical messages.
	deadline := time.Now().Add(30 * time.Second)
	var lat []time.Duration
	for {
		lat = lat[:0]
		for _, m := range sb.Messages() {
			if at, ok := sentAt[m.ChatID]; ok {
				lat = append(lat, m.At.Sub(at))
			}
		}
		if len(lat) >= len(sentAt) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(lat) < len(sentAt) {
		return nil, 0, sandbox.Stats{}, fmt.Errorf("%d of %d critical messages delivered", len(lat), len(sentAt))
	}
	st := sb.Stats()
	if bcID != "" {
		if _, err := b.c.CancelBroadcast(ctx, bcID); err != nil {
			return nil, 0, st, err
		}
		if _, err := b.waitDone(ctx, bcID, time.Minute); err != nil {
			return nil, 0, st, err
		}
	}
	slices.Sort(lat)
	bcRate := float64(bcDelivered-len(sentAt)) / elapsed.Seconds()
	return lat, bcRate, st, nil
}

// ---- machine ---------------------------------------------------------------

func machine(ctx context.Context, rdb *redis.Client) string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	version := "?"
	if info, err := rdb.Info(ctx, "server").Result(); err == nil {
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "redis_version:"); ok {
				version = v
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs, %s, redis-server %s", model, runtime.NumCPU(), runtime.Version(), version)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func tgChat(id int64) telego.ChatID { return telego.ChatID{ID: id} }
