package faulttest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/proctest"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/tasks"
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial of the tests' own clients to stderr;
	// the outage test makes thousands.
	redis.SetLogger(quietRedisLog{})
	os.Exit(proctest.Run(m))
}

type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

// botToken is a well-formed fake token (telego checks the form); only the
// sandbox ever sees it.
const botToken = "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

const (
	workerPkg = "./cmd/worker"
	webPkg    = "./cmd/web"
)

// rig is one scenario's world: its own redis-server, sandbox, binaries, a
// queue client and an inspector.
type rig struct {
	t       *testing.T
	redis   *redistest.Server
	sandbox *sandbox.Sandbox
	apiURL  string
	bins    map[string]string
	client  *client.Client
	insp    *asynq.Inspector
}

type rigOptions struct {
	// latency of every Bot API call, plus a random share of jitter.
	latency, jitter time.Duration
	// redisArgs are extra redis-server arguments.
	redisArgs []string
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	if testing.Short() {
		t.Skip("fault tests start real processes; skipped with -short")
	}
	bins := proctest.Build(t, workerPkg, webPkg)
	r := &rig{t: t, bins: bins}
	r.redis = redistest.Start(t, o.redisArgs...)
	sb, err := sandbox.New(sandbox.Config{Latency: o.latency, LatencyJitter: o.jitter})
	if err != nil {
		t.Fatal(err)
	}
	if r.apiURL, err = sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	r.sandbox = sb
	r.client, err = client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: r.redis.Addr()}, Bots: []string{tasks.DefaultBot}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.client.Close() })
	r.insp = asynq.NewInspector(asynq.RedisClientOpt{Addr: r.redis.Addr()})
	t.Cleanup(func() { _ = r.insp.Close() })
	return r
}

// baseEnv is what every process of the rig gets.
func (r *rig) baseEnv() []string {
	return []string{
		"REDIS_URL=" + r.redis.URL(),
		"TELEGRAM_BOT_TOKEN=" + botToken,
		"TELEGRAM_API_URL=" + r.apiURL,
		"LOG_FORMAT=text",
		"LOG_LEVEL=info",
	}
}

// workerEnv is the environment of a worker: limits off (the sandbox
// enforces none either), fast polling so that measured times are asynq's
// recovery and not idle sleeps; extra overrides.
func (r *rig) workerEnv(extra ...string) []string {
	env := append(r.baseEnv(),
		"WORKER_CONCURRENCY=10",
		"TELEGRAM_RATE_GLOBAL=0",
		"TELEGRAM_RATE_CHAT=0",
		"TELEGRAM_RATE_GROUP=0",
		"TELEGRAM_RATE_PAID=0",
		"TELEGRAM_TIMEOUT=10s",
		"TASK_CHECK_INTERVAL=200ms",
		"DELAYED_TASK_CHECK_INTERVAL=1s",
		"SHUTDOWN_TIMEOUT=10s",
	)
	return append(env, extra...)
}

// startWorker starts a worker process and waits until asynq processes.
func (r *rig) startWorker(name string, extra ...string) *proctest.Process {
	r.t.Helper()
	p := proctest.Start(r.t, r.bins[workerPkg], proctest.Options{Name: name, Env: r.workerEnv(extra...)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitLog(ctx, "Starting processing"); err != nil {
		r.t.Fatal(err)
	}
	return p
}

// startWeb starts cmd/web with the API on, and waits for /healthz.
//
// cmd/web listens on all interfaces (":PORT", as a PaaS wants); the port is
// a free loopback port picked a moment before.
func (r *rig) startWeb(name, apiToken string) (*proctest.Process, string) {
	r.t.Helper()
	port, err := redistest.FreePort()
	if err != nil {
		r.t.Fatal(err)
	}
	env := append(r.baseEnv(), "PORT="+strconv.Itoa(port), "API_TOKEN="+apiToken)
	p := proctest.Start(r.t, r.bins[webPkg], proctest.Options{Name: name, Env: env})
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, base
			}
		}
		if !p.Running() || time.Now().After(deadline) {
			r.t.Fatalf("web did not come up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// messages returns n messages with unique texts prefix-00000…, spread over
// 50 private chats.
func messages(prefix string, n int) []*tasks.SendMessage {
	out := make([]*tasks.SendMessage, n)
	for i := range out {
		out[i] = &tasks.SendMessage{ChatID: chatID(int64(1000 + i%50)), Text: textOf(prefix, i)}
	}
	return out
}

func chatID(id int64) telego.ChatID { return telego.ChatID{ID: id} }

func textOf(prefix string, i int) string { return fmt.Sprintf("%s-%05d", prefix, i) }

// enqueue queues msgs through the client and returns their texts and ids;
// any failure fails the test.
func (r *rig) enqueue(msgs []*tasks.SendMessage, opts ...client.Option) (texts, ids []string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	receipts, errs := r.client.SendBatch(ctx, msgs, opts...)
	for i, err := range errs {
		if err != nil {
			r.t.Fatalf("enqueue %q: %v", msgs[i].Text, err)
		}
		texts = append(texts, msgs[i].Text)
		ids = append(ids, receipts[i].ID)
	}
	return texts, ids
}

// tally counts the sandbox's deliveries of the texts in want.
type tally struct {
	times     map[string]int // text → deliveries
	missing   []string       // wanted, never delivered
	dupTexts  []string       // delivered more than once
	dups      int            // extra deliveries in all
	last      time.Time      // last delivery of a wanted text
	delivered int            // wanted texts delivered at least once
}

func (r *rig) tally(want []string) tally {
	t := tally{times: make(map[string]int, len(want))}
	wanted := make(map[string]bool, len(want))
	for _, w := range want {
		wanted[w] = true
	}
	for _, m := range r.sandbox.Messages() {
		if !wanted[m.Text] {
			continue
		}
		t.times[m.Text]++
		if m.At.After(t.last) {
			t.last = m.At
		}
	}
	for _, w := range want {
		switch n := t.times[w]; {
		case n == 0:
			t.missing = append(t.missing, w)
		case n > 1:
			t.dupTexts = append(t.dupTexts, w)
			t.dups += n - 1
		}
		if t.times[w] > 0 {
			t.delivered++
		}
	}
	return t
}

// waitDelivered polls until every text in want was delivered or timeout.
func (r *rig) waitDelivered(want []string, timeout time.Duration) tally {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		tl := r.tally(want)
		if len(tl.missing) == 0 || time.Now().After(deadline) {
			return tl
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// queueCounts sums asynq's task states over telequeue's queues.
type queueCounts struct {
	pending, active, scheduled, retry, archived, completed int
}

func (q queueCounts) unfinished() int { return q.pending + q.active + q.scheduled + q.retry }

func (q queueCounts) String() string {
	return fmt.Sprintf("pending=%d active=%d scheduled=%d retry=%d archived=%d completed=%d",
		q.pending, q.active, q.scheduled, q.retry, q.archived, q.completed)
}

func (r *rig) queues() (queueCounts, error) {
	var c queueCounts
	names, err := r.insp.Queues()
	if err != nil {
		return c, err
	}
	for _, q := range names {
		info, err := r.insp.GetQueueInfo(q)
		if err != nil {
			return c, err
		}
		c.pending += info.Pending
		c.active += info.Active
		c.scheduled += info.Scheduled
		c.retry += info.Retry
		c.archived += info.Archived
		c.completed += info.Completed
	}
	return c, nil
}

// waitDrained polls until no task is pending, active, scheduled or waiting
// for a retry, and returns when that was first seen.
func (r *rig) waitDrained(timeout time.Duration) (queueCounts, time.Time) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := r.queues()
		if err == nil && c.unfinished() == 0 {
			return c, time.Now()
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("queues not drained after %v: %v (err %v)", timeout, c, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// completedTasks lists the completed tasks of a queue.
func (r *rig) completedTasks(queue string) []*asynq.TaskInfo {
	r.t.Helper()
	var all []*asynq.TaskInfo
	for page := 1; ; page++ {
		infos, err := r.insp.ListCompletedTasks(queue, asynq.PageSize(1000), asynq.Page(page))
		if err != nil {
			r.t.Fatalf("list completed: %v", err)
		}
		all = append(all, infos...)
		if len(infos) < 1000 {
			return all
		}
	}
}

// lastErrors counts the completed tasks of every queue by the error of their
// last failed attempt: what they went through before they succeeded.
func (r *rig) lastErrors() map[string]int {
	r.t.Helper()
	out := map[string]int{}
	queues, err := r.insp.Queues()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, q := range queues {
		for _, info := range r.completedTasks(q) {
			if info.LastErr != "" {
				out[info.LastErr]++
			}
		}
	}
	return out
}

// assertAlive fails the test for each process that has exited.
func assertAlive(t *testing.T, procs ...*proctest.Process) {
	t.Helper()
	for _, p := range procs {
		if e, exited := p.ExitStatus(); exited {
			t.Errorf("%s exited: %v", p.Name, e)
		}
	}
}

// panics returns the log lines of procs that mention a panic.
func panics(procs ...*proctest.Process) []string {
	var out []string
	for _, p := range procs {
		for _, line := range strings.Split(p.Log(), "\n") {
			if strings.Contains(strings.ToLower(line), "panic") {
				out = append(out, p.Name+": "+line)
			}
		}
	}
	return out
}

func firstN(s []string, n int) []string {
	s = slices.Clone(s)
	if len(s) > n {
		return append(s[:n], "…")
	}
	return s
}
