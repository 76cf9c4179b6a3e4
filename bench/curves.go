package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mymmrac/telego"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/ratelimit"
	"github.com/telequeue/telequeue/tasks"
)

// curvesOptions are the flags of "bench curves" (issue 13 §3: how cost
// grows with the work).
type curvesOptions struct {
	only       string
	workers    []int
	tasks      int
	repeat     int
	pending    []int
	samples    int
	chats      int
	groupEvery int
	expiryWait time.Duration
	idle       []int
	idleFor    time.Duration
	svg        string
	md         string
	timeout    time.Duration
}

// intList is a flag of comma-separated positive integers.
type intList struct{ v *[]int }

func (l intList) String() string {
	if l.v == nil {
		return ""
	}
	s := make([]string, len(*l.v))
	for i, n := range *l.v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func (l intList) Set(s string) error {
	v, err := parseInts(s)
	if err != nil {
		return err
	}
	*l.v = v
	return nil
}

// parseInts parses comma-separated positive integers, "1,2, 4"; "k" and "M"
// suffixes multiply by 1,000 and 1,000,000 ("100k", "1M").
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		mul := 1
		switch {
		case strings.HasSuffix(f, "k"):
			f, mul = strings.TrimSuffix(f, "k"), 1000
		case strings.HasSuffix(f, "M"):
			f, mul = strings.TrimSuffix(f, "M"), 1_000_000
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q: want comma-separated positive integers (100k, 1M allowed)", s)
		}
		out = append(out, n*mul)
	}
	return out, nil
}

// Results of the four curves.
type (
	workersPoint struct {
		procs int
		rate  float64 // msgs/s between 10% and 90% of the tasks
		cpu   cpuSnap // per message
		runs  []float64
		load  string // 1-minute load average after the run
		// machine is the cores every process of the machine kept busy
		// during the whole run (start-up, enqueue, drain, stop), from
		// /proc/stat: ours and other sessions' alike.
		machine float64
	}
	pendingPoint struct {
		n        int
		used     int64         // used_memory above the empty server's
		p50, p99 time.Duration // client.SendMessage with n pending
		max      time.Duration
		fill     time.Duration // time to bring the queue to n from the previous size
		viaFill  int           // messages of n added by the pipelined fill
		del      time.Duration // median Inspector.DeleteTask of a pending task
	}
	limiterSample struct {
		at   time.Duration // since the first Reserve
		keys int64
	}
	limiterResult struct {
		chats, groups int
		drive         time.Duration // all Reserve calls
		peakKeys      int64
		keysAfter     int64 // right after the last Reserve
		usedAfter     int64 // used_memory above the empty server's, then
		zeroAfter     time.Duration
		chatTTL       time.Duration // PTTL of a chat's key right after its Reserve
		groupTTL      time.Duration // PTTL of a group's key right after its Reserve
		usedZero      int64         // used_memory above the empty server's once no key is left
		expired       int64         // expired_keys during the run
		timeline      []limiterSample
	}
	idlePoint struct {
		procs int
		r     commandRates
		// Cores busy while idle: the workers' and redis-server's CPU
		// time over idleFor/2 before the commands are counted.
		workers, redis float64
	}
	curveResults struct {
		header  []string
		workers []workersPoint
		pending []pendingPoint
		limiter *limiterResult
		idle    []idlePoint
	}
)

// cores is the CPU of every process per message times the rate: how many
// of the machine's cores the run kept busy.
func (p workersPoint) cores() float64 {
	total := p.cpu.workers + p.cpu.redis + p.cpu.bench
	return total.Seconds() * p.rate
}

// runCurves is "go run ./bench curves": it measures how cost grows with the
// work and writes a markdown table (stdout, and -md) and an SVG (-svg).
func runCurves(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench curves", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := curvesOptions{
		workers: []int{1, 2, 4, 6, 12}, pending: []int{1000, 100_000, 1_000_000}, idle: []int{1, 6, 24},
	}
	fs.StringVar(&o.only, "only", "", "run only these curves, comma-separated: workers,pending,limiter,idle")
	fs.Var(intList{&o.workers}, "workers", "worker processes (× 10) of the throughput curve")
	fs.IntVar(&o.tasks, "tasks", 10000, "tasks of each throughput run")
	fs.IntVar(&o.repeat, "repeat", 1, "throughput runs of each size; the median run is reported")
	fs.Var(intList{&o.pending}, "pending", "pending messages at which enqueue latency and memory are measured, ascending")
	fs.IntVar(&o.samples, "samples", 1000, "client.SendMessage calls timed at each pending size")
	fs.IntVar(&o.chats, "chats", 1_000_000, "distinct chats given to the limiter")
	fs.IntVar(&o.groupEvery, "group-every", 10, "every Nth chat of the limiter run is a group (per-minute limit too); 0: none")
	fs.DurationVar(&o.expiryWait, "expiry-wait", 90*time.Second, "longest wait for the limiter's keys to expire")
	fs.Var(intList{&o.idle}, "idle", "idle worker processes of the idle-load curve")
	fs.DurationVar(&o.idleFor, "idle-for", 10*time.Second, "measuring time of each idle-load point")
	fs.StringVar(&o.svg, "svg", "docs/curves.svg", "write the plot here (relative to the module root); empty: no plot")
	fs.StringVar(&o.md, "md", "", "also write the markdown table to this file")
	fs.DurationVar(&o.timeout, "timeout", 20*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for i := 1; i < len(o.pending); i++ {
		if o.pending[i] <= o.pending[i-1] {
			return fmt.Errorf("-pending %v: want ascending sizes", o.pending)
		}
	}
	if o.tasks < 10 || o.repeat < 1 || o.samples < 1 || o.chats < 1 || o.groupEvery < 0 {
		return errors.New("-tasks ≥ 10, -repeat ≥ 1, -samples ≥ 1, -chats ≥ 1 and -group-every ≥ 0, please")
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	b, err := setup(ctx, options{rates: defaultComplianceRates, args: args}, stderr)
	if err != nil {
		return err
	}
	defer b.close()
	redisInfo, err := b.info(ctx, "server")
	if err != nil {
		return err
	}
	res := &curveResults{header: []string{
		"machine: " + machine(redisInfo["redis_version"]),
		"command: " + strings.Join(append([]string{"go run ./bench curves"}, args...), " "),
		"load:    load average " + loadavg() + " at the start",
		fmt.Sprintf("workers: cmd/worker, WORKER_CONCURRENCY=10, limits off, TASK_CHECK_INTERVAL=%v, DELAYED_TASK_CHECK_INTERVAL=%v; sandbox without latency, in the bench process",
			b.taskCheck, b.delayedCheck),
	}}
	want := func(s string) bool {
		if o.only == "" {
			return true
		}
		for _, x := range strings.Split(o.only, ",") {
			if strings.TrimSpace(x) == s {
				return true
			}
		}
		return false
	}
	steps := []struct {
		name string
		run  func(context.Context, curvesOptions, *curveResults) error
	}{
		{"workers", b.curveWorkers},
		{"pending", b.curvePending},
		{"limiter", b.curveLimiter},
		{"idle", b.curveIdle},
	}
	var runErr error
	for _, s := range steps {
		if !want(s.name) {
			continue
		}
		if err := s.run(ctx, o, res); err != nil {
			runErr = fmt.Errorf("%s: %w", s.name, err)
			break
		}
	}
	res.markdown(stdout)
	if o.md != "" {
		var buf bytes.Buffer
		res.markdown(&buf)
		if err := os.WriteFile(o.md, buf.Bytes(), 0o644); err != nil {
			return errors.Join(runErr, err)
		}
	}
	if o.svg != "" && runErr == nil {
		path := o.svg
		if !filepath.IsAbs(path) {
			root, err := moduleRoot(ctx)
			if err != nil {
				return err
			}
			path = filepath.Join(root, path)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := writeSVG(&buf, "telequeue: how cost grows with the work (go run ./bench curves)", res.charts(), 3); err != nil {
			return err
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return err
		}
		b.progress("wrote " + path)
	}
	return runErr
}

// curveWorkers measures msgs/s and CPU per message for each number of
// worker processes, limits off; with -repeat, the sizes are interleaved and
// the median run of each is kept.
func (b *bench) curveWorkers(ctx context.Context, o curvesOptions, res *curveResults) error {
	runs := make([][]workersPoint, len(o.workers))
	for r := range o.repeat {
		for i, n := range o.workers {
			b.progress(fmt.Sprintf("workers %d/%d: %d processes × 10, %d tasks", r+1, o.repeat, n, o.tasks))
			m0, err := readMachineCPU()
			if err != nil {
				return err
			}
			res, err := b.throughputRun(ctx, "telequeue", n, o.tasks, 0, nil)
			if err != nil {
				return err
			}
			rate, cpu := res.rate, res.cpu
			m1, err := readMachineCPU()
			if err != nil {
				return err
			}
			la := loadavg()
			p := workersPoint{procs: n, rate: rate, cpu: cpu, load: strings.Fields(la)[0], machine: m0.coresBusy(m1)}
			b.progress(fmt.Sprintf("  %.0f msgs/s; CPU per message: %s; %.2f cores busy by the run, %.2f by the machine; load average %s",
				rate, cpu, p.cores(), p.machine, la))
			runs[i] = append(runs[i], p)
		}
	}
	for _, rs := range runs {
		slices.SortFunc(rs, func(a, b workersPoint) int { return cmp.Compare(a.rate, b.rate) })
		p := rs[len(rs)/2]
		for _, x := range rs {
			p.runs = append(p.runs, x.rate)
		}
		res.workers = append(res.workers, p)
	}
	return b.flush(ctx)
}

// curvePending measures Redis memory and the latency of client.SendMessage
// with o.pending messages waiting in the queue and no worker. The first
// messages (up to 10,000) are queued by the client; the rest are copies of
// one of them with other task ids, written with pipelines (HSET of the task
// hash and LPUSH to the pending list, as asynq's enqueue script does), so
// that a million takes seconds instead of minutes.
func (b *bench) curvePending(ctx context.Context, o curvesOptions, res *curveResults) error {
	if err := b.flush(ctx); err != nil {
		return err
	}
	c, err := b.newClient()
	if err != nil {
		return err
	}
	defer c.Close()
	time.Sleep(200 * time.Millisecond)
	base, err := b.usedMemory(ctx)
	if err != nil {
		return err
	}
	have := 0
	var tmpl *taskTemplate
	for _, n := range o.pending {
		start := time.Now()
		viaClient := min(n-have, max(0, 10_000-have))
		if viaClient > 0 {
			b.progress(fmt.Sprintf("pending: client.SendBatch of %d messages", viaClient))
			if err := enqueueMany(ctx, c, messages(viaClient, 10_000_000+int64(have), "p")); err != nil {
				return err
			}
			have += viaClient
		}
		if tmpl == nil {
			if tmpl, err = b.readTemplate(ctx); err != nil {
				return err
			}
		}
		viaFill := n - have
		if viaFill > 0 {
			b.progress(fmt.Sprintf("pending: pipelined copies of a client's task, %d", viaFill))
			if err := b.fillPending(ctx, tmpl, have, viaFill); err != nil {
				return err
			}
			have = n
		}
		fill := time.Since(start)
		if got, err := b.pending(ctx, queue); err != nil || int(got) != n {
			return fmt.Errorf("pending %d of %d (%v)", got, n, err)
		}
		time.Sleep(200 * time.Millisecond)
		used, err := b.usedMemory(ctx)
		if err != nil {
			return err
		}
		b.progress(fmt.Sprintf("pending: %d queued in %v; timing %d client.SendMessage calls", n, fill.Round(time.Millisecond), o.samples))
		d, dd, err := b.timeEnqueues(ctx, c, o.samples)
		if err != nil {
			return err
		}
		p := pendingPoint{n: n, used: used - base, p50: d.q(0.5), p99: d.q(0.99), max: d.q(1), fill: fill, viaFill: viaFill, del: dd.q(0.5)}
		b.progress(fmt.Sprintf("  used_memory +%.1f MB (%.0f B/message); enqueue p50 %s, p99 %s, max %s; DeleteTask p50 %s",
			float64(p.used)/1e6, float64(p.used)/float64(n), ms2(p.p50), ms2(p.p99), ms2(p.max), ms2(p.del)))
		res.pending = append(res.pending, p)
	}
	return b.flush(ctx)
}

// taskTemplate is one task the client queued, as asynq stores it.
type taskTemplate struct {
	id   string
	msg  []byte // the encoded task message, which contains id
	kind string // task type
}

// readTemplate reads the newest pending task.
func (b *bench) readTemplate(ctx context.Context) (*taskTemplate, error) {
	id, err := b.rdb.LIndex(ctx, "asynq:{"+queue+"}:pending", 0).Result()
	if err != nil {
		return nil, fmt.Errorf("read a pending task id: %w", err)
	}
	msg, err := b.rdb.HGet(ctx, "asynq:{"+queue+"}:t:"+id, "msg").Bytes()
	if err != nil {
		return nil, fmt.Errorf("read task %s: %w", id, err)
	}
	if bytes.Count(msg, []byte(id)) != 1 {
		return nil, fmt.Errorf("task %s: the id is not once in the encoded message", id)
	}
	info, err := b.insp.GetTaskInfo(queue, id)
	if err != nil {
		return nil, err
	}
	return &taskTemplate{id: id, msg: msg, kind: info.Type}, nil
}

// cloneID is the task id of the i-th copy: as long as the template's id, so
// that the copy's encoding has the same length.
func cloneID(tmplID string, i int) (string, error) {
	s := "c" + strconv.Itoa(i)
	if len(s) > len(tmplID) {
		return "", fmt.Errorf("copy %d: id longer than %q", i, tmplID)
	}
	return s + strings.Repeat("x", len(tmplID)-len(s)), nil
}

// fillPending adds n copies of t, numbered from first, to the pending list
// with pipelines of 1,000 tasks from 4 connections, then checks with the
// inspector that asynq reads a copy as the task it copies.
func (b *bench) fillPending(ctx context.Context, t *taskTemplate, first, n int) error {
	const batch, conns = 1000, 4
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, conns)
	taskKey, pendingKey := "asynq:{"+queue+"}:t:", "asynq:{"+queue+"}:pending"
	for w := range conns {
		wg.Go(func() {
			for {
				lo := int(next.Add(batch)) - batch
				if lo >= n || ctx.Err() != nil {
					errs[w] = ctx.Err()
					return
				}
				hi := min(lo+batch, n)
				_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
					now := time.Now().UnixNano()
					for i := lo; i < hi; i++ {
						id, err := cloneID(t.id, first+i)
						if err != nil {
							return err
						}
						msg := bytes.Replace(t.msg, []byte(t.id), []byte(id), 1)
						p.HSet(ctx, taskKey+id, "msg", msg, "state", "pending", "pending_since", now)
						p.LPush(ctx, pendingKey, id)
					}
					return nil
				})
				if err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	id, err := cloneID(t.id, first+n-1)
	if err != nil {
		return err
	}
	info, err := b.insp.GetTaskInfo(queue, id)
	if err != nil {
		return fmt.Errorf("fill: asynq cannot read a copy: %w", err)
	}
	if info.ID != id || info.Type != t.kind || info.State.String() != "pending" {
		return fmt.Errorf("fill: asynq reads copy %s as %s %s %v", id, info.ID, info.Type, info.State)
	}
	return nil
}

// timedDeletes is how many of the timed tasks timeEnqueues deletes with
// asynq's Inspector.DeleteTask (as Asynqmon's delete button does), timing
// each; the rest it removes with one LPOP.
const timedDeletes = 20

// timeEnqueues times n client.SendMessage calls, one at a time, then
// removes the tasks again so that the queue keeps its size. It returns the
// enqueue times and the times of timedDeletes Inspector.DeleteTask calls.
//
// asynq's DeleteTask of a pending task runs LREM over the whole pending
// list, so its cost grows with the list; the other tasks are the newest of
// the list (LPUSH, no worker) and go with one LPOP and a DEL of their
// hashes, the same layout fillPending writes.
func (b *bench) timeEnqueues(ctx context.Context, c *client.Client, n int) (enq, del dist, err error) {
	d := make([]time.Duration, 0, n)
	ids := make([]string, 0, n)
	for i := range n {
		m := &tasks.SendMessage{ChatID: telego.ChatID{ID: 20_000_000 + int64(i)}, Text: text150("s" + strconv.Itoa(i))}
		start := time.Now()
		r, err := c.SendMessage(ctx, m)
		if err != nil {
			return nil, nil, err
		}
		d = append(d, time.Since(start))
		ids = append(ids, r.ID)
	}
	// The newest timedDeletes go with DeleteTask (LREM finds them first,
	// but LREM with count 0 scans the whole list anyway).
	k := min(timedDeletes, n)
	var dd []time.Duration
	for _, id := range ids[n-k:] {
		start := time.Now()
		if err := b.insp.DeleteTask(queue, id); err != nil {
			return nil, nil, fmt.Errorf("delete timed task %s: %w", id, err)
		}
		dd = append(dd, time.Since(start))
	}
	rest := ids[:n-k]
	if len(rest) > 0 {
		pendingKey := "asynq:{" + queue + "}:pending"
		popped, err := b.rdb.LPopCount(ctx, pendingKey, len(rest)).Result()
		if err != nil {
			return nil, nil, fmt.Errorf("remove timed tasks: %w", err)
		}
		slices.Sort(popped)
		want := slices.Sorted(slices.Values(rest))
		if !slices.Equal(popped, want) {
			return nil, nil, fmt.Errorf("remove timed tasks: the list's head is not the %d timed tasks", len(rest))
		}
		hashes := make([]string, len(rest))
		for i, id := range rest {
			hashes[i] = "asynq:{" + queue + "}:t:" + id
		}
		if err := b.rdb.Del(ctx, hashes...).Err(); err != nil {
			return nil, nil, fmt.Errorf("remove timed tasks: %w", err)
		}
	}
	return newDist(d), newDist(dd), nil
}

// curveLimiter drives a ratelimit.Limiter with o.chats distinct chats (no
// Telegram call: Reserve only) and follows the limiter's Redis keys until
// they have expired.
func (b *bench) curveLimiter(ctx context.Context, o curvesOptions, res *curveResults) error {
	if err := b.flush(ctx); err != nil {
		return err
	}
	// Global off: with it on, Reserve would refuse all but 30 sends a
	// second, and a day would take a day. Chat and Group as Telegram's.
	l, err := ratelimit.New(b.rdb, ratelimit.Config{Chat: 1, Group: 20})
	if err != nil {
		return err
	}
	time.Sleep(200 * time.Millisecond)
	base, err := b.usedMemory(ctx)
	if err != nil {
		return err
	}
	expired0, err := b.expiredKeys(ctx)
	if err != nil {
		return err
	}
	r := &limiterResult{chats: o.chats}
	if o.groupEvery > 0 {
		r.groups = (o.chats + o.groupEvery - 1) / o.groupEvery
	}
	b.progress(fmt.Sprintf("limiter: Reserve for %d distinct chats (%d groups), Chat 1/s, Group 20/min, Global off", r.chats, r.groups))

	var start time.Time
	sample := func() error {
		n, err := b.rdb.DBSize(ctx).Result()
		if err != nil {
			return err
		}
		r.timeline = append(r.timeline, limiterSample{at: time.Since(start), keys: n})
		r.peakKeys = max(r.peakKeys, n)
		return nil
	}
	start = time.Now()
	if err := sample(); err != nil {
		return err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	const drivers = 16
	errs := make([]error, drivers)
	for w := range drivers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= o.chats || ctx.Err() != nil {
					errs[w] = ctx.Err()
					return
				}
				k := ratelimit.Key{Bot: tasks.DefaultBot, Chat: strconv.Itoa(3_000_000_000 + i)}
				if o.groupEvery > 0 && i%o.groupEvery == 0 {
					k.Group, k.Chat = true, "-100"+strconv.Itoa(3_000_000_000+i)
				}
				_, ok, err := l.Reserve(ctx, k)
				if err == nil && !ok {
					err = fmt.Errorf("chat %s: not granted at once", k.Chat)
				}
				if err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for driving := true; driving; {
		select {
		case <-done:
			driving = false
		case <-tick.C:
			if err := sample(); err != nil {
				<-done
				return err
			}
		}
	}
	r.drive = time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if r.chatTTL, r.groupTTL, err = b.limiterTTLs(ctx, l); err != nil {
		return err
	}
	if err := sample(); err != nil {
		return err
	}
	r.keysAfter = r.timeline[len(r.timeline)-1].keys
	used, err := b.usedMemory(ctx)
	if err != nil {
		return err
	}
	r.usedAfter = used - base
	b.progress(fmt.Sprintf("  %v (%.0f Reserve/s); %d keys right after, peak %d; used_memory +%.1f MB",
		r.drive.Round(time.Millisecond), float64(r.chats)/r.drive.Seconds(), r.keysAfter, r.peakKeys, float64(r.usedAfter)/1e6))

	deadline := time.Now().Add(o.expiryWait)
	for r.timeline[len(r.timeline)-1].keys > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if err := sample(); err != nil {
			return err
		}
	}
	if last := r.timeline[len(r.timeline)-1]; last.keys == 0 {
		r.zeroAfter = last.at - r.drive
	} else {
		r.zeroAfter = -1
	}
	time.Sleep(200 * time.Millisecond)
	if used, err = b.usedMemory(ctx); err != nil {
		return err
	}
	r.usedZero = used - base
	expired, err := b.expiredKeys(ctx)
	if err != nil {
		return err
	}
	r.expired = expired - expired0
	b.progress(fmt.Sprintf("  keys left %d after %v more; %d keys expired; used_memory +%.1f MB",
		r.timeline[len(r.timeline)-1].keys, (time.Since(start) - r.drive).Round(time.Millisecond), r.expired, float64(r.usedZero)/1e6))
	res.limiter = r
	return b.flush(ctx)
}

// machineCPU is the first line of /proc/stat: jiffies of all CPUs.
type machineCPU struct{ busy, total int64 }

func readMachineCPU() (machineCPU, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, err
	}
	return parseProcStat(string(data))
}

// parseProcStat reads the "cpu" line of /proc/stat: user nice system idle
// iowait irq softirq steal ...; idle and iowait are not busy.
func parseProcStat(s string) (machineCPU, error) {
	line, _, _ := strings.Cut(s, "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return machineCPU{}, fmt.Errorf("/proc/stat: first line %q", line)
	}
	var m machineCPU
	for i, v := range f[1:min(len(f), 9)] { // guest times are inside user
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return machineCPU{}, fmt.Errorf("/proc/stat: %q: %w", line, err)
		}
		m.total += n
		if i != 3 && i != 4 {
			m.busy += n
		}
	}
	return m, nil
}

// coresBusy is how many cores were busy on average from m to z.
func (m machineCPU) coresBusy(z machineCPU) float64 {
	if z.total <= m.total {
		return 0
	}
	return float64(z.busy-m.busy) / float64(z.total-m.total) * float64(runtime.NumCPU())
}

// ms2 formats d in milliseconds with two decimals.
func ms2(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// limiterTTLs reserves for one more private chat and one more group and
// reads the PTTL of the chat's and the group's key right after.
func (b *bench) limiterTTLs(ctx context.Context, l *ratelimit.Limiter) (chat, group time.Duration, err error) {
	kk := keys.RateLimitOf(ratelimit.DefaultPrefix, tasks.DefaultBot)
	for _, k := range []ratelimit.Key{
		{Bot: tasks.DefaultBot, Chat: "999999999"},
		{Bot: tasks.DefaultBot, Chat: "-100999999999", Group: true},
	} {
		if _, _, err := l.Reserve(ctx, k); err != nil {
			return 0, 0, err
		}
	}
	chat, err = b.rdb.PTTL(ctx, kk.Chat("999999999")).Result()
	if err == nil {
		group, err = b.rdb.PTTL(ctx, kk.Group("-100999999999")).Result()
	}
	if err == nil && (chat <= 0 || group <= 0) {
		err = fmt.Errorf("PTTL %v and %v: want keys with an expiry", chat, group)
	}
	return chat, group, err
}

// expiredKeys reads INFO stats expired_keys.
func (b *bench) expiredKeys(ctx context.Context) (int64, error) {
	st, err := b.info(ctx, "stats")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(st["expired_keys"], 10, 64)
}

// curveIdle measures the Redis commands idle worker processes send.
func (b *bench) curveIdle(ctx context.Context, o curvesOptions, res *curveResults) error {
	for _, n := range o.idle {
		if err := b.flush(ctx); err != nil {
			return err
		}
		b.progress(fmt.Sprintf("idle: %d idle workers, %v", n, o.idleFor))
		g, err := b.startWorkers(ctx, n, limitsOff, b.taskCheck, "", nil)
		if err != nil {
			return err
		}
		time.Sleep(2 * time.Second) // start-up queries done
		// CPU first, for half the time, without MONITOR (which costs Redis
		// CPU of its own); then the commands.
		c0, err := b.cpu(ctx, g)
		start := time.Now()
		var c1 cpuSnap
		if err == nil {
			time.Sleep(o.idleFor / 2)
			c1, err = b.cpu(ctx, g)
		}
		took := time.Since(start)
		var r commandRates
		if err == nil {
			r, err = b.idleCommands(ctx, o.idleFor)
		}
		if err == nil {
			err = g.alive()
		}
		g.stop()
		if err != nil {
			return err
		}
		p := idlePoint{procs: n, r: r,
			workers: (c1.workers - c0.workers).Seconds() / took.Seconds(), redis: (c1.redis - c0.redis).Seconds() / took.Seconds()}
		b.progress(fmt.Sprintf("  %.0f commands/s from clients (%.1f per process), %.0f incl. scripts; cores busy: workers %.3f, redis %.3f",
			r.client, r.client/float64(n), r.all, p.workers, p.redis))
		res.idle = append(res.idle, p)
	}
	return nil
}

// markdown writes the results as markdown tables.
func (r *curveResults) markdown(w io.Writer) {
	fmt.Fprintln(w, "```")
	for _, h := range r.header {
		fmt.Fprintln(w, h)
	}
	fmt.Fprintln(w, "```")
	us := func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond)) }
	if len(r.workers) > 0 {
		fmt.Fprintf(w, "\n| worker processes × 10 | msgs/s | CPU µs/msg: workers | Redis | sandbox + bench | cores busy by the run | by the whole machine (of %d) | load average after |\n", runtime.NumCPU())
		fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, p := range r.workers {
			rate := fmt.Sprintf("%.0f", p.rate)
			if len(p.runs) > 1 {
				var rs []string
				for _, x := range p.runs {
					rs = append(rs, fmt.Sprintf("%.0f", x))
				}
				rate += " (runs " + strings.Join(rs, ", ") + ")"
			}
			fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %.2f | %.2f | %s |\n", p.procs, rate, us(p.cpu.workers), us(p.cpu.redis), us(p.cpu.bench), p.cores(), p.machine, p.load)
		}
	}
	if len(r.pending) > 0 {
		fmt.Fprintln(w, "\n| pending messages | used_memory | per message | per message added since the size before | enqueue p50 | p99 | max | Inspector.DeleteTask p50 | queued in (of them pipelined copies) |")
		fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		var prev pendingPoint
		for _, p := range r.pending {
			fmt.Fprintf(w, "| %d | %.1f MB | %.0f B | %.0f B | %s | %s | %s | %s | %v (%d) |\n", p.n, float64(p.used)/1e6,
				float64(p.used)/float64(p.n), float64(p.used-prev.used)/float64(p.n-prev.n),
				ms2(p.p50), ms2(p.p99), ms2(p.max), ms2(p.del), p.fill.Round(time.Millisecond), p.viaFill)
			prev = p
		}
	}
	if l := r.limiter; l != nil {
		zero := "not within the wait"
		if l.zeroAfter >= 0 {
			zero = l.zeroAfter.Round(100*time.Millisecond).String() + " after the last Reserve"
		}
		fmt.Fprintln(w, "\n| limiter, distinct chats | value |")
		fmt.Fprintln(w, "|---|---:|")
		fmt.Fprintf(w, "| chats (of them groups) | %d (%d) |\n", l.chats, l.groups)
		fmt.Fprintf(w, "| Reserve calls took | %v (%.0f/s) |\n", l.drive.Round(time.Millisecond), float64(l.chats)/l.drive.Seconds())
		fmt.Fprintf(w, "| keys right after the last call | %d |\n", l.keysAfter)
		fmt.Fprintf(w, "| most keys at once (sampled every 0.5 s) | %d |\n", l.peakKeys)
		fmt.Fprintf(w, "| used_memory right after | %.1f MB |\n", float64(l.usedAfter)/1e6)
		fmt.Fprintf(w, "| expiry of a chat's key / a group's key, right after its Reserve (PTTL) | %v / %v |\n", l.chatTTL, l.groupTTL)
		fmt.Fprintf(w, "| no key left | %s |\n", zero)
		fmt.Fprintf(w, "| used_memory then | %.2f MB |\n", float64(l.usedZero)/1e6)
		fmt.Fprintf(w, "| keys expired (INFO expired_keys) | %d |\n", l.expired)
	}
	if len(r.idle) > 0 {
		fmt.Fprintln(w, "\n| idle worker processes | commands/s from clients (MONITOR) | per process | incl. commands inside scripts | CPU, cores: workers | redis-server | busiest, incl. scripts |")
		fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---|")
		for _, p := range r.idle {
			fmt.Fprintf(w, "| %d | %.0f | %.1f | %.0f | %.3f | %.3f | %s |\n", p.procs, p.r.client, p.r.client/float64(p.procs), p.r.all, p.workers, p.redis, p.r.top(4))
		}
	}
}

// charts are the panels of the plot.
func (r *curveResults) charts() []chart {
	var out []chart
	if len(r.workers) > 0 {
		rate := series{name: "msgs/s"}
		var wk, rd, sb series
		wk.name, rd.name, sb.name = "workers", "redis-server", "sandbox + bench"
		for _, p := range r.workers {
			x := float64(p.procs)
			rate.points = append(rate.points, point{x, p.rate})
			wk.points = append(wk.points, point{x, float64(p.cpu.workers) / 1e3})
			rd.points = append(rd.points, point{x, float64(p.cpu.redis) / 1e3})
			sb.points = append(sb.points, point{x, float64(p.cpu.bench) / 1e3})
		}
		out = append(out,
			chart{title: "Throughput, limits off", xLabel: "worker processes × 10", yLabel: "msgs/s", xAtData: true, series: []series{rate}},
			chart{title: "CPU per message", xLabel: "worker processes × 10", yLabel: "µs", xAtData: true, series: []series{wk, rd, sb}})
	}
	if len(r.pending) > 0 {
		p50, p99 := series{name: "p50"}, series{name: "p99"}
		mem := series{name: "used_memory ÷ pending messages"}
		for _, p := range r.pending {
			x := float64(p.n)
			p50.points = append(p50.points, point{x, float64(p.p50) / 1e6})
			p99.points = append(p99.points, point{x, float64(p.p99) / 1e6})
			mem.points = append(mem.points, point{x, float64(p.used) / x})
		}
		out = append(out,
			chart{title: "Enqueue latency (client.SendMessage)", xLabel: "pending messages", yLabel: "ms", logX: true, series: []series{p50, p99}},
			chart{title: "Redis memory per pending message", xLabel: "pending messages", yLabel: "bytes", logX: true, series: []series{mem}})
	}
	if l := r.limiter; l != nil {
		keys := series{name: fmt.Sprintf("limiter keys; %d chats, last Reserve at %.0f s", l.chats, l.drive.Seconds())}
		for _, s := range l.timeline {
			keys.points = append(keys.points, point{s.at.Seconds(), float64(s.keys)})
		}
		out = append(out, chart{title: "Limiter keys, 1 call per distinct chat", xLabel: "seconds since the first Reserve", yLabel: "keys", series: []series{keys}})
	}
	if len(r.idle) > 0 {
		cl, all := series{name: "from clients"}, series{name: "incl. inside scripts"}
		for _, p := range r.idle {
			x := float64(p.procs)
			cl.points = append(cl.points, point{x, p.r.client})
			all.points = append(all.points, point{x, p.r.all})
		}
		out = append(out, chart{title: "Redis commands/s, idle workers", xLabel: "idle worker processes", yLabel: "commands/s", xAtData: true, series: []series{cl, all}})
	}
	return out
}
