package recovery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
)

// Defaults of [Config].
const (
	DefaultBeat      = 250 * time.Millisecond
	DefaultDeadAfter = 13 * time.Second
)

// inflightTTL bounds how long a dead process's task list outlives it if no
// recoverer takes it.
const inflightTTL = 2 * time.Minute

// fenceTTL is how long a fence lives: longer than any stall a process
// wakes from with its asynq lease still valid in its own eyes.
const fenceTTL = time.Hour

// lockTTL bounds how long a recoverer that died holds the lock.
const lockTTL = 5 * time.Second

// maxDeadPerScan bounds the processes one scan takes tasks from.
const maxDeadPerScan = 20

// Config configures a [Process]. Zero values mean the documented defaults.
type Config struct {
	// Redis is the Redis of the asynq servers (required).
	Redis redis.UniversalClient
	// Beat is the heartbeat and scan interval (default 250ms).
	Beat time.Duration
	// DeadAfter is how long a process may be silent before its tasks are
	// taken from it (default 13s). It must exceed the longest stall a live
	// process may have, and be at least 10 Beats. Below about 9 s a dead
	// process's task is taken only once its asynq lease has aged as it
	// would have 9 s after the death (see takeScript).
	DeadAfter time.Duration
	// Queues are the queues whose active tasks the recoverer looks through
	// for those a dead process started after its last beat (required: the
	// asynq server's queues).
	Queues []string
	// ID names the process (default host:pid:random).
	ID string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (cfg *Config) validate() error {
	if cfg.Redis == nil {
		return errors.New("recovery: Redis is required")
	}
	if len(cfg.Queues) == 0 {
		return errors.New("recovery: Queues is required")
	}
	if cfg.Beat <= 0 {
		cfg.Beat = DefaultBeat
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = DefaultDeadAfter
	}
	if cfg.DeadAfter < 10*cfg.Beat {
		return fmt.Errorf("recovery: DeadAfter %v is less than 10 beats of %v", cfg.DeadAfter, cfg.Beat)
	}
	if cfg.ID == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		cfg.ID = host + ":" + strconv.Itoa(os.Getpid()) + ":" + hex.EncodeToString(b[:])
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return nil
}

// Task names a task a process runs.
type Task struct {
	Queue string `json:"q"`
	ID    string `json:"id"`
}

// Process is one worker process's heartbeat and recoverer.
type Process struct {
	cfg Config
	rdb redis.UniversalClient
	log *slog.Logger

	mu    sync.Mutex
	tasks map[Task]int // running now → how many runs (normally 1)

	recovered atomic.Int64
	beats     *continuity // whether runs need to read their fences

	stop    chan struct{}
	done    sync.WaitGroup
	started atomic.Bool
	once    sync.Once
}

// New validates cfg and returns a process; it starts nothing.
func New(cfg Config) (*Process, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Process{cfg: cfg, rdb: cfg.Redis, log: cfg.Logger, tasks: map[Task]int{}, stop: make(chan struct{}),
		beats: newContinuity(cfg.DeadAfter / 2)}, nil
}

// ID is the process's id, as fences name it.
func (p *Process) ID() string { return p.cfg.ID }

// Recovered is how many tasks this process's recoverer took back from dead
// processes.
func (p *Process) Recovered() int64 { return p.recovered.Load() }

// Begin records that the process runs the task; the returned function
// records its end. Neither touches Redis: the next beat writes the list.
func (p *Process) Begin(queue, id string) (end func()) {
	t := Task{Queue: queue, ID: id}
	p.mu.Lock()
	p.tasks[t]++
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		if p.tasks[t]--; p.tasks[t] <= 0 {
			delete(p.tasks, t)
		}
		p.mu.Unlock()
	}
}

func (p *Process) running() []Task {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Task, 0, len(p.tasks))
	for t := range p.tasks {
		out = append(out, t)
	}
	return out
}

// Start beats once, so that the process is known before it runs a task, and
// starts the heartbeat and the recoverer.
func (p *Process) Start(ctx context.Context) {
	if !p.started.CompareAndSwap(false, true) {
		return
	}
	bctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := p.beat(bctx, false); err != nil {
		p.log.WarnContext(ctx, "recovery: first heartbeat failed", "error", err)
	}
	p.done.Add(1)
	go p.loop()
}

// Stop stops the heartbeat and the recoverer and removes the process's
// records. Call it once no handler of the process runs any more (a task
// still listed would otherwise be taken back DeadAfter later).
func (p *Process) Stop(ctx context.Context) {
	p.once.Do(func() {
		close(p.stop)
		p.done.Wait()
		if !p.started.Load() {
			return
		}
		pipe := p.rdb.Pipeline()
		pipe.ZRem(ctx, keys.RecoveryProcs, p.cfg.ID)
		pipe.Del(ctx, keys.RecoveryInflight(p.cfg.ID))
		if _, err := pipe.Exec(ctx); err != nil {
			p.log.WarnContext(ctx, "recovery: could not remove this process's heartbeat", "error", err)
		}
	})
}

func (p *Process) loop() {
	defer p.done.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	tick := time.NewTicker(p.cfg.Beat)
	defer tick.Stop()
	var failures int
	// After its own heartbeat failed (Redis unreachable, for it or for
	// everyone), a process waits DeadAfter of good beats before it
	// recovers: the others' beats may have failed too, and they get as
	// long to beat again.
	var failedAt time.Time
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		dead, err := p.beat(ctx, time.Since(failedAt) >= p.cfg.DeadAfter)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if failures++; failures == 1 || failures%100 == 0 {
				p.log.Warn("recovery: heartbeat failed", "error", err, "failures", failures)
			}
			failedAt = time.Now()
			continue
		}
		failures = 0
		if len(dead) == 0 {
			continue
		}
		if err := p.takeBack(ctx, dead); err != nil && ctx.Err() == nil {
			p.log.Warn("recovery: taking tasks back failed", "error", err)
		}
	}
}

// beatScript records a heartbeat at Redis's time and, if asked to scan,
// lists the processes silent for longer than DeadAfter with their last
// beats, taking the recoverer lock if there are any: one round trip per
// beat for both. It returns {id, last beat, ...}, empty if no process is
// dead or another recoverer holds the lock.
//
// KEYS[1] procs, KEYS[2] this process's inflight list, KEYS[3] lock
// ARGV[1] process id, ARGV[2] task list, ARGV[3] list TTL in ms,
// ARGV[4] "1" to scan, ARGV[5] DeadAfter in ms, ARGV[6] lock TTL in ms,
// ARGV[7] most processes to return
var beatScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZADD", KEYS[1], now, ARGV[1])
redis.call("SET", KEYS[2], ARGV[2], "PX", ARGV[3])
if ARGV[4] ~= "1" then
	return {}
end
local dead = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", now - tonumber(ARGV[5]), "WITHSCORES", "LIMIT", 0, tonumber(ARGV[7]))
if #dead == 0 then
	return {}
end
if not redis.call("SET", KEYS[3], ARGV[1], "NX", "PX", ARGV[6]) then
	return {}
end
return dead`)

// beat records a heartbeat and, if scan, returns the dead processes this
// process now holds the recoverer lock for (see beatScript).
func (p *Process) beat(ctx context.Context, scan bool) ([]string, error) {
	list, err := json.Marshal(p.running())
	if err != nil {
		return nil, err
	}
	flag := "0"
	if scan {
		flag = "1"
	}
	sent := time.Now()
	dead, err := beatScript.Run(ctx, p.rdb, []string{keys.RecoveryProcs, keys.RecoveryInflight(p.cfg.ID), keys.RecoveryLock},
		p.cfg.ID, list, inflightTTL.Milliseconds(), flag, p.cfg.DeadAfter.Milliseconds(), lockTTL.Milliseconds(), maxDeadPerScan).StringSlice()
	if err == nil {
		p.beats.beat(sent, time.Now())
	}
	return dead, err
}

// unlockScript releases the lock if this process holds it.
var unlockScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// dropScript removes a dead process's records unless it beat again.
//
// KEYS[1] procs, KEYS[2] its inflight list
// ARGV[1] process id, ARGV[2] the last beat the recoverer saw
var dropScript = redis.NewScript(`
local s = redis.call("ZSCORE", KEYS[1], ARGV[1])
if s and tonumber(s) <= tonumber(ARGV[2]) then
	redis.call("ZREM", KEYS[1], ARGV[1])
	redis.call("DEL", KEYS[2])
	return 1
end
return 0`)

// takeBack takes back the tasks of the dead processes in res ({id, last
// beat, ...}, from beat) and releases the lock.
func (p *Process) takeBack(ctx context.Context, res []string) error {
	defer func() {
		if err := unlockScript.Run(context.WithoutCancel(ctx), p.rdb, []string{keys.RecoveryLock}, p.cfg.ID).Err(); err != nil {
			p.log.Warn("recovery: could not release the recoverer lock", "error", err)
		}
	}()
	dead := map[string]int64{} // process → last beat
	var order []string
	for i := 0; i+1 < len(res); i += 2 {
		lastBeat, err := strconv.ParseInt(res[i+1], 10, 64)
		if err != nil {
			return fmt.Errorf("recovery: bad heartbeat %q of %s", res[i+1], res[i])
		}
		dead[res[i]] = lastBeat
		order = append(order, res[i])
	}
	lists, err := p.lists(ctx)
	if err != nil {
		return err
	}
	for _, proc := range order {
		// Tasks another process listed are its own, dead or alive.
		others := map[Task]bool{}
		for other, list := range lists {
			if other != proc {
				for _, t := range list {
					others[t] = true
				}
			}
		}
		if err := p.recoverProcess(ctx, proc, dead[proc], lists[proc], others); err != nil {
			return err
		}
	}
	return nil
}

// lists returns the task list of every process, as its last beat wrote it.
func (p *Process) lists(ctx context.Context) (map[string][]Task, error) {
	procs, err := p.rdb.ZRange(ctx, keys.RecoveryProcs, 0, -1).Result()
	if err != nil || len(procs) == 0 {
		return nil, err
	}
	pipe := p.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(procs))
	for i, proc := range procs {
		cmds[i] = pipe.Get(ctx, keys.RecoveryInflight(proc))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make(map[string][]Task, len(procs))
	for i, c := range cmds {
		b, err := c.Bytes()
		if err != nil {
			continue
		}
		var list []Task
		if err := json.Unmarshal(b, &list); err != nil {
			p.log.Warn("recovery: unreadable task list", "process", procs[i], "error", err)
			continue
		}
		out[procs[i]] = list
	}
	return out, nil
}

// Outcomes of takeScript.
const (
	takeNotActive = 0  // done, retried or requeued: nothing to take
	takeTaken     = 1  // back at the head of its queue, fenced
	takeLiveLease = -1 // a live worker extends its lease: not taken
)

// recoverProcess takes back the tasks of a process whose last beat was at
// lastBeat (Redis time, Unix ms), then drops its records. Besides the tasks
// its last beat listed, it takes those it started after that beat (up to
// one Beat's worth): active tasks of its queues that no other process
// listed and whose lease stopped being extended when it stopped beating.
// Their fence names proc, though another process that stalled at the same
// moment may have run one; the fence's time check covers that run.
func (p *Process) recoverProcess(ctx context.Context, proc string, lastBeat int64, list []Task, others map[Task]bool) error {
	listed := len(list)
	list = slices.Clone(list)
	// Started after the last beat: leased then, for 30 s (whole seconds).
	seen := map[Task]bool{}
	for _, t := range list {
		seen[t] = true
	}
	pipe := p.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(p.cfg.Queues))
	for i, q := range p.cfg.Queues {
		cmds[i] = pipe.ZRangeByScore(ctx, "asynq:{"+q+"}:lease", &redis.ZRangeBy{
			Min: "-inf", Max: strconv.FormatInt(lastBeat/1000+leaseDuration+1, 10)})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	for i, q := range p.cfg.Queues {
		for _, id := range cmds[i].Val() {
			if t := (Task{Queue: q, ID: id}); !seen[t] && !others[t] {
				seen[t] = true
				list = append(list, t)
			}
		}
	}

	silent := time.Since(time.UnixMilli(lastBeat)).Round(10 * time.Millisecond)
	var taken, leased int
	for _, t := range list {
		n, err := Take(ctx, p.rdb, t, proc, lastBeat)
		if err != nil {
			return fmt.Errorf("recovery: take task %s of %s: %w", t.ID, proc, err)
		}
		switch n {
		case takeTaken:
			taken++
			p.recovered.Add(1)
			p.log.Info("recovery: took a task back from a dead worker", "task_id", t.ID, "queue", t.Queue, "dead_process", proc)
		case takeLiveLease:
			leased++
		}
	}
	if err := dropScript.Run(ctx, p.rdb, []string{keys.RecoveryProcs, keys.RecoveryInflight(proc)}, proc, lastBeat).Err(); err != nil {
		return fmt.Errorf("recovery: drop records of %s: %w", proc, err)
	}
	p.log.Warn("recovery: worker process silent; its tasks are back in their queues",
		"dead_process", proc, "silent_for", silent, "listed", listed, "recovered", taken, "leased_by_a_live_worker", leased)
	return nil
}

// leaseDuration is asynq v0.26's lease (internal/rdb.LeaseDuration); its
// heartbeater extends a running task's lease to this far ahead every 5 s.
const leaseDuration = 30

// takeScript moves a task of a dead process from asynq's active list back to
// the head of its pending list, as asynq's requeueCmd does (rdb.go), and
// fences it. Every key is in the queue's slot.
//
// A task is taken only while asynq shows it active with a lease that
// stopped being extended around the dead process's last beat (ARGV[4], Unix
// s, at most ARGV[5] s from now): a live worker's heartbeater keeps its
// leases 25-30 s ahead.
//
// KEYS[1] asynq:{q}:active, KEYS[2] asynq:{q}:lease, KEYS[3] asynq:{q}:pending,
// KEYS[4] asynq:{q}:t:<id>, KEYS[5] the fence: "<dead process> <Redis time
// of the take, Unix ms>" (see Fence.Check)
// ARGV[1] task id, ARGV[2] dead process id, ARGV[3] fence TTL in ms,
// ARGV[4] latest lease score of the dead process, ARGV[5] latest lease
// score relative to now
var takeScript = redis.NewScript(`
local score = redis.call("ZSCORE", KEYS[2], ARGV[1])
if not score then
	return 0
end
local now = tonumber(redis.call("TIME")[1])
if tonumber(score) > math.min(tonumber(ARGV[4]), now + tonumber(ARGV[5])) then
	return -1
end
if redis.call("EXISTS", KEYS[4]) == 0 then
	return 0
end
if redis.call("LREM", KEYS[1], 0, ARGV[1]) == 0 then
	return 0
end
redis.call("ZREM", KEYS[2], ARGV[1])
local t = redis.call("TIME")
redis.call("SET", KEYS[5], ARGV[2] .. " " .. (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)), "PX", ARGV[3])
redis.call("RPUSH", KEYS[3], ARGV[1])
redis.call("HSET", KEYS[4], "state", "pending")
return 1`)

// Take moves t, run by the dead process proc whose last beat was at
// lastBeat (Redis time, Unix ms), back to its queue if asynq still shows it
// active under proc's lease, and fences it. It returns 1 if it did, 0 if t
// is not active, -1 if a live worker holds its lease.
func Take(ctx context.Context, rdb redis.Scripter, t Task, proc string, lastBeat int64) (int64, error) {
	prefix := "asynq:{" + t.Queue + "}:"
	// The dead process's asynq heartbeater extended its leases at most
	// until about its last beat: lease ≤ last beat + 30 s (+1 s for asynq's
	// whole seconds, +2 s for clock skew between it and Redis).
	maxLease := lastBeat/1000 + leaseDuration + 3
	return takeScript.Run(ctx, rdb,
		[]string{prefix + "active", prefix + "lease", prefix + "pending", keys.AsynqTask(t.Queue, t.ID), keys.Fence(t.Queue, t.ID)},
		t.ID, proc, fenceTTL.Milliseconds(), maxLease, leaseDuration-8).Int64()
}
