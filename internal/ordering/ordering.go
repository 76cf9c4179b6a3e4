package ordering

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/tasks"
)

// Defaults of [Config] fields left zero.
const (
	DefaultParkBase = 15 * time.Second
	DefaultParkMax  = 5 * time.Minute
	DefaultGrace    = time.Minute
	DefaultKeyTTL   = 7 * 24 * time.Hour
	DefaultWakeWait = 2 * time.Second
)

// ParkedPrefix starts the error text of a parked task, which asynq stores as
// the task's last error: wakers recognise parked tasks by it.
const ParkedPrefix = "ordered: waiting for its turn"

// IsParked reports whether a task whose last error is lastErr is parked
// (rather than waiting out a failure's backoff or a 429).
func IsParked(lastErr string) bool { return strings.HasPrefix(lastErr, ParkedPrefix) }

// Config tunes a [Sequencer]. Zero values mean the defaults.
type Config struct {
	// ParkBase is how long a parked task waits, per position behind the
	// head, before it checks its turn by itself if nobody woke it (default
	// 15s).
	ParkBase time.Duration
	// ParkMax caps the park delay (default 5m). It bounds how long a chat
	// waits for a head that vanished without leaving its order.
	ParkMax time.Duration
	// Grace is how long a registered task may have no asynq task (its
	// client is still enqueuing it) before the next one skips it (default
	// 1m).
	Grace time.Duration
	// KeyTTL is how long a chat's keys outlive their last use (default 7
	// days).
	KeyTTL time.Duration
	// WakeWait bounds how long a wake keeps retrying a next task that is
	// still active, i.e. about to park (default 2s).
	WakeWait time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.ParkBase <= 0 {
		c.ParkBase = DefaultParkBase
	}
	if c.ParkMax <= 0 {
		c.ParkMax = DefaultParkMax
	}
	c.ParkMax = max(c.ParkMax, c.ParkBase)
	if c.Grace <= 0 {
		c.Grace = DefaultGrace
	}
	if c.KeyTTL <= 0 {
		c.KeyTTL = DefaultKeyTTL
	}
	if c.WakeWait <= 0 {
		c.WakeWait = DefaultWakeWait
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Inspector is what a [Sequencer] needs of *asynq.Inspector.
type Inspector interface {
	GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
	RunTask(queue, id string) error
}

var _ Inspector = (*asynq.Inspector)(nil)

// Sequencer keeps the orders of ordered tasks. It is safe for concurrent use.
type Sequencer struct {
	rdb  redis.UniversalClient
	insp Inspector
	cfg  Config
	log  *slog.Logger
}

// New returns a Sequencer over rdb (our keys) and insp (asynq's tasks).
func New(rdb redis.UniversalClient, insp Inspector, cfg Config) *Sequencer {
	cfg.setDefaults()
	return &Sequencer{rdb: rdb, insp: insp, cfg: cfg, log: cfg.Logger}
}

// Order is one chat's order.
type Order struct {
	Key       tasks.OrderKey
	seq, meta string
}

// OrderOf returns the order of a key.
func OrderOf(k tasks.OrderKey) Order {
	seq, meta := keys.Order(k.Bot, k.Chat)
	return Order{Key: k, seq: seq, meta: meta}
}

func (o Order) keys() []string { return []string{o.seq, o.meta} }

// ParkDelay is the fallback wait of a task at position (1 = right behind
// the head): ParkBase × position, at most ParkMax.
func (s *Sequencer) ParkDelay(position int) time.Duration {
	if position < 1 {
		position = 1
	}
	if d := s.cfg.ParkBase * time.Duration(position); d > 0 && d < s.cfg.ParkMax {
		return d
	}
	return s.cfg.ParkMax
}

// entry is a registered task.
type entry struct {
	id, queue  string
	registered int64 // Unix ms, Redis clock
}

// view is what the scripts report: the task's rank (-1: not in the order),
// the head, and the Redis clock.
type view struct {
	rank int
	head entry
	now  int64
}

// joinScript reports a task's rank and the order's head; with ARGV[4] = "1"
// a task not in the order joins it at the tail first.
//
// KEYS[1] order (sorted set), KEYS[2] meta (hash)
// ARGV[1] task id, ARGV[2] queue, ARGV[3] key TTL in ms, ARGV[4] join
var joinScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rank = redis.call('ZRANK', KEYS[1], ARGV[1])
if not rank and ARGV[4] == '1' then
	local seq = redis.call('HINCRBY', KEYS[2], '#seq', 1)
	redis.call('ZADD', KEYS[1], seq, ARGV[1])
	redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. '|' .. now)
	rank = redis.call('ZRANK', KEYS[1], ARGV[1])
end
if rank then
	redis.call('PEXPIRE', KEYS[1], ARGV[3])
	redis.call('PEXPIRE', KEYS[2], ARGV[3])
else
	rank = -1
end
local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1] or ''
local info = ''
if head ~= '' then info = redis.call('HGET', KEYS[2], head) or '' end
return {rank, head, info, now}
`)

// removeScript removes a task from the order — if ARGV[2] >= 0, only if it
// was registered at least ARGV[2] ms ago — and reports the new head. An
// empty order's keys are deleted, which also resets its sequence.
//
// KEYS[1] order, KEYS[2] meta; ARGV[1] task id, ARGV[2] min age in ms,
// ARGV[3] key TTL in ms
var removeScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local removed = 0
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
	local ok = true
	local minAge = tonumber(ARGV[2])
	if minAge >= 0 then
		local info = redis.call('HGET', KEYS[2], ARGV[1])
		local reg = 0
		if info then reg = tonumber(string.match(info, '|(%d+)$')) or 0 end
		ok = now - reg >= minAge
	end
	if ok then
		redis.call('ZREM', KEYS[1], ARGV[1])
		redis.call('HDEL', KEYS[2], ARGV[1])
		removed = 1
	end
end
local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
if not head then
	redis.call('DEL', KEYS[1], KEYS[2])
	return {removed, '', '', now}
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {removed, head, redis.call('HGET', KEYS[2], head) or '', now}
`)

func (s *Sequencer) ttl() string { return strconv.FormatInt(s.cfg.KeyTTL.Milliseconds(), 10) }

func (s *Sequencer) join(ctx context.Context, o Order, id, queue string, join bool) (view, error) {
	flag := "0"
	if join {
		flag = "1"
	}
	res, err := joinScript.Run(ctx, s.rdb, o.keys(), id, queue, s.ttl(), flag).Slice()
	if err != nil {
		return view{}, fmt.Errorf("ordering: %w", err)
	}
	return parseView(res)
}

// remove removes id (see removeScript) and reports whether it did.
func (s *Sequencer) remove(ctx context.Context, o Order, id string, minAge time.Duration) (bool, view, error) {
	age := int64(-1)
	if minAge >= 0 {
		age = minAge.Milliseconds()
	}
	res, err := removeScript.Run(ctx, s.rdb, o.keys(), id, strconv.FormatInt(age, 10), s.ttl()).Slice()
	if err != nil {
		return false, view{}, fmt.Errorf("ordering: %w", err)
	}
	v, err := parseView(res)
	return v.rank == 1, v, err
}

// parseView reads {rank or removed, head, "queue|ms", now}.
func parseView(res []any) (view, error) {
	if len(res) != 4 {
		return view{}, fmt.Errorf("ordering: unexpected script reply %v", res)
	}
	rank, _ := res[0].(int64)
	head, _ := res[1].(string)
	info, _ := res[2].(string)
	now, _ := res[3].(int64)
	v := view{rank: int(rank), head: entry{id: head}, now: now}
	if i := strings.LastIndexByte(info, '|'); i >= 0 {
		v.head.queue = info[:i]
		v.head.registered, _ = strconv.ParseInt(info[i+1:], 10, 64)
	}
	return v, nil
}

// Register appends a task to its order and returns its position: 0 if it is
// the head. A task already in the order keeps its place.
func (s *Sequencer) Register(ctx context.Context, o Order, id, queue string) (int, error) {
	v, err := s.join(ctx, o, id, queue, true)
	return v.rank, err
}

// Withdraw removes a task whose enqueue failed, and wakes the next head if
// the task was the head.
func (s *Sequencer) Withdraw(ctx context.Context, o Order, id string) error {
	return s.Done(ctx, o, id)
}

// Turn is what [Sequencer.Check] found.
type Turn struct {
	// Registered is false when the task is not in its order (and Check was
	// told not to add it).
	Registered bool
	// Head is true when the task may send now.
	Head bool
	// Position is the task's rank: 0 for the head, -1 when not registered.
	Position int
	// Ahead is the id of the head when the task is not the head.
	Ahead string
}

// maxSkips bounds the gone heads one call removes; the next call goes on.
const maxSkips = 16

// Check reports whether task id may send: whether it is the head of its
// order. With join, a task not in its order joins it at the tail. When
// another task is the head, Check removes it if its task is gone and looks
// again, and wakes it if it is parked, so that a lost wake-up or a vanished
// head costs at most one park delay.
func (s *Sequencer) Check(ctx context.Context, o Order, id, queue string, join bool) (Turn, error) {
	var t Turn
	for range 4 {
		v, err := s.join(ctx, o, id, queue, join)
		if err != nil {
			return Turn{}, err
		}
		t = Turn{Registered: v.rank >= 0, Head: v.rank == 0, Position: v.rank}
		if v.rank <= 0 {
			return t, nil
		}
		t.Ahead = v.head.id
		live, err := s.settle(ctx, o, v.head, v.now, false)
		if err != nil {
			s.log.WarnContext(ctx, "ordering: cannot inspect the head of the order", "bot", o.Key.Bot, "chat_id", o.Key.Chat, "head", v.head.id, "error", err)
			return t, nil
		}
		if live.id == v.head.id {
			return t, nil
		}
	}
	return t, nil
}

// Done removes a task whose outcome is final (sent, or failed for good) from
// its order and wakes the next head. It retries briefly while Redis fails;
// if it gives up, the next task finds the head completed or archived when
// its park delay ends.
func (s *Sequencer) Done(ctx context.Context, o Order, id string) error {
	var (
		v   view
		err error
	)
	delay := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if _, v, err = s.remove(ctx, o, id, -1); err == nil {
			break
		}
		if attempt == 5 || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay *= 2
	}
	_, err = s.settle(ctx, o, v.head, v.now, true)
	return err
}

// WakeIfHead wakes task id if it is the head of its order, for a client that
// has just enqueued it parked: the head before it may have finished while it
// was being enqueued, and nobody else would wake it.
func (s *Sequencer) WakeIfHead(ctx context.Context, o Order, id, queue string) error {
	v, err := s.join(ctx, o, id, queue, false)
	if err != nil || v.rank != 0 {
		return err
	}
	_, err = s.settle(ctx, o, v.head, v.now, false)
	return err
}

// IDs returns the ids in the order, head first.
func (s *Sequencer) IDs(ctx context.Context, o Order) ([]string, error) {
	return s.rdb.ZRange(ctx, o.seq, 0, -1).Result()
}

// settle looks at the head h of o: a head whose task is gone (archived,
// completed, deleted, or never enqueued within Grace) is removed and the next
// one looked at; a parked head is woken. With waitActive, a head that is
// still active is watched for up to WakeWait, as it may be about to park. It
// returns the live head (id "" for an empty order).
func (s *Sequencer) settle(ctx context.Context, o Order, h entry, now int64, waitActive bool) (entry, error) {
	deadline := time.Now().Add(s.cfg.WakeWait)
	delay := 5 * time.Millisecond
	for skips, looks := 0, 0; h.id != "" && skips < maxSkips && looks < 64; looks++ {
		info, err := s.insp.GetTaskInfo(h.queue, h.id)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			if now-h.registered < s.cfg.Grace.Milliseconds() {
				return h, nil // its client is still enqueuing it, and will wake it
			}
			removed, v, err := s.remove(ctx, o, h.id, s.cfg.Grace)
			if err != nil || !removed {
				return h, err
			}
			s.log.WarnContext(ctx, "ordering: skipped a message whose task vanished",
				"bot", o.Key.Bot, "chat_id", o.Key.Chat, "task_id", h.id, "queue", h.queue,
				"registered", time.UnixMilli(h.registered).UTC())
			h, now = v.head, v.now
			skips++
			continue
		case err != nil:
			return h, err
		}
		switch info.State {
		case asynq.TaskStateArchived, asynq.TaskStateCompleted:
			_, v, err := s.remove(ctx, o, h.id, -1)
			if err != nil {
				return h, err
			}
			s.log.InfoContext(ctx, "ordering: removed a head that ended without leaving its order",
				"bot", o.Key.Bot, "chat_id", o.Key.Chat, "task_id", h.id, "state", info.State.String())
			h, now = v.head, v.now
			skips++
			continue
		case asynq.TaskStateScheduled:
		case asynq.TaskStateRetry:
			if !IsParked(info.LastErr) {
				return h, nil // waiting out a failure or a 429: let it
			}
		case asynq.TaskStateActive:
			if !waitActive || time.Now().After(deadline) {
				return h, nil
			}
			select {
			case <-ctx.Done():
				return h, nil
			case <-time.After(delay):
			}
			delay = min(delay*2, 100*time.Millisecond)
			continue
		default: // pending or aggregating: it runs soon
			return h, nil
		}
		// Parked: wake it.
		if err := s.insp.RunTask(h.queue, h.id); err == nil {
			s.log.DebugContext(ctx, "ordering: woke the next message", "bot", o.Key.Bot, "chat_id", o.Key.Chat, "task_id", h.id)
			return h, nil
		} else if time.Now().After(deadline) {
			return h, fmt.Errorf("ordering: wake %s: %w", h.id, err)
		}
		// Its state changed between the two calls: look again.
	}
	return h, nil
}
