package handlers

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/ratelimit"
)

// Prefetch lets the reads a handler makes before its first Bot API call
// ride in the round trip in which asynq dequeues the task, instead of one of
// their own: the task's sent marker, and, for a limiter whose limits are
// off, the bot's running 429 pauses. With limits off a delivered message
// then costs asynq's two round trips and no other (the sent marker, result
// and event ride with asynq's completion: see [Completions]).
//
// How: [Prefetch.Hook], added to the Redis client of the asynq server,
// recognises asynq's dequeue script by its SHA-1 and runs in its place a
// script that does exactly what asynq's does (the same commands on the same
// keys, the same answer for asynq) and then reads, for the task it
// dequeued, its sent marker and the running pauses of every bot (see
// [ratelimit.Limiter.PauseIndex]). The server hands what was read to the
// task's handler in its context ([Prefetch.Attach]).
//
// What it keeps: the marker is read a moment before the send, as the
// limiter's round trip read it before; the pauses as the limiter's EXISTS
// saw them. A task whose run sleeps (a rate-limit wait) or resends (a
// migrated group) reads both again in the limiter's calls, as before. The
// fence of a task (internal/recovery) is not read at dequeue, when no
// recoverer can have taken the task yet: a run reads it before its send
// unless its process's heartbeat has been continuous since the run began.
//
// A dequeue script of another asynq version has another SHA-1: the hook
// then leaves it alone and handlers read what they need in a round trip of
// their own. prefetch_test.go fails when that happens. Not for Redis
// Cluster, where the marker and the pauses live in other slots than the
// queue's keys.
type Prefetch struct {
	log          *slog.Logger
	markerPrefix string   // keys.Sent's prefix; "" reads no marker
	bots         []string // the bots whose pauses are read ...
	indexes      []string // ... from these keys (ratelimit.Limiter.PauseIndex)
	script       *redis.Script
	// lane is the pending list of a queue whose polls are answered from
	// the other dequeues' reads while they are fresh (see Lane); "": none.
	lane string
	t0   time.Time // origin of laneEmpty and laneBusy
	// laneEmpty and laneBusy are when the latest dequeue that found lane
	// empty, and one that found it holding a task, were sent (ns since t0).
	laneEmpty, laneBusy atomic.Int64
	laneLocal           atomic.Int64 // polls of lane answered without Redis

	mu        sync.Mutex
	cur, prev map[string]*prefetched // by task id; prev is dropped a period later
	rotated   time.Time

	rode atomic.Int64 // dequeues that read for their task
}

// prefetched is what a task's dequeue read for its handler.
type prefetched struct {
	at        time.Time // when the answer came
	marker    []byte    // the sent marker, if hasMarker
	hasMarker bool
	markers   bool // the marker was read (Prefetch with markers)
	// pauses are the members of the running pauses of each of bots (the
	// Prefetch's, shared), nil where none runs.
	bots   []string
	pauses [][]string
	used   atomic.Bool
}

// running returns the members of bot's running pauses and whether they
// were read.
func (f *prefetched) running(bot string) ([]string, bool) {
	for i, b := range f.bots {
		if b == bot {
			return f.pauses[i], true
		}
	}
	return nil, false
}

// prefetchMaxAge is the oldest a dequeue's reads may be to stand for the
// limiter's: a handler that starts later than that (a starved process)
// reads on its own.
const prefetchMaxAge = 100 * time.Millisecond

// takePrefetched returns what the dequeue of ctx's task read, once per
// run, if it is young enough; else nil: the first check before the run's
// first Bot API call may use it, later ones read on their own.
func takePrefetched(ctx context.Context) *prefetched {
	f, _ := ctx.Value(prefetchedKey{}).(*prefetched)
	if f == nil || f.used.Swap(true) || time.Since(f.at) > prefetchMaxAge {
		return nil
	}
	return f
}

// prefetchKeep is how long a dequeued task's reads wait for its handler
// before they are dropped (asynq may dequeue a task and not run it, e.g.
// when its deadline has passed): one to two periods.
const prefetchKeep = time.Minute

// NewPrefetch returns a Prefetch that reads sent markers if markers is
// true, and the running pauses of bots as limiter keeps them if limiter is
// not nil. See server.Config.Prefetch. log defaults to slog.Default().
func NewPrefetch(markers bool, limiter *ratelimit.Limiter, bots []string, log *slog.Logger) *Prefetch {
	if log == nil {
		log = slog.Default()
	}
	p := &Prefetch{log: log, cur: map[string]*prefetched{}, prev: map[string]*prefetched{}, rotated: time.Now()}
	if markers {
		p.markerPrefix = keys.Sent("")
	}
	if limiter != nil {
		for _, b := range bots {
			p.bots = append(p.bots, b)
			p.indexes = append(p.indexes, limiter.PauseIndex(b))
		}
	}
	p.t0 = time.Now()
	p.script = dequeueReadScript(p.markerPrefix, p.indexes, "")
	return p
}

// laneFresh is how old a read of the lane's length may be to answer a poll
// of the lane: a task enqueued on it meanwhile waits one more poll.
const laneFresh = 5 * time.Millisecond

// Lane makes every dequeue also read how many tasks queue has pending, and
// answers a poll of queue from that read, without Redis, when a dequeue
// sent less than 5 ms before found it empty. For a queue with an asynq
// server of its own on the same client that is mostly idle (the callback
// lane: server.Config.CallbackConcurrency): under load the other queues'
// dequeues come every few milliseconds, and its polls, 40 a second, cost
// no round trip. A task enqueued on it is picked up as before, at worst one
// poll later. Call it before the server starts.
func (p *Prefetch) Lane(queue string) {
	p.lane = "asynq:{" + queue + "}:pending" // asynq's base.PendingKey
	p.script = dequeueReadScript(p.markerPrefix, p.indexes, p.lane)
}

// noteLane records a dequeue sent at sent (ns since t0) that found n tasks
// pending in the lane.
func (p *Prefetch) noteLane(sent int64, n any) {
	at := &p.laneBusy
	if v, ok := n.(int64); ok && v == 0 {
		at = &p.laneEmpty
	}
	for {
		old := at.Load()
		if old >= sent || at.CompareAndSwap(old, sent) {
			return
		}
	}
}

// laneIdle reports whether the latest dequeue found the lane empty, less
// than laneFresh ago.
func (p *Prefetch) laneIdle() bool {
	empty := p.laneEmpty.Load()
	return empty > p.laneBusy.Load() && time.Duration(int64(time.Since(p.t0))-empty) < laneFresh
}

// Attach returns ctx carrying what the dequeue of taskID read, if the hook
// read anything for it, for the task's handler; the reads are dropped from
// p either way.
func (p *Prefetch) Attach(ctx context.Context, taskID string) context.Context {
	if p == nil {
		return ctx
	}
	p.mu.Lock()
	f := p.cur[taskID]
	if f != nil {
		delete(p.cur, taskID)
	} else if f = p.prev[taskID]; f != nil {
		delete(p.prev, taskID)
	}
	p.mu.Unlock()
	if f == nil {
		return ctx
	}
	return context.WithValue(ctx, prefetchedKey{}, f)
}

type prefetchedKey struct{}

// put keeps f for taskID until Attach or two periods.
func (p *Prefetch) put(taskID string, f *prefetched) {
	now := time.Now()
	p.mu.Lock()
	if now.Sub(p.rotated) >= prefetchKeep {
		p.prev, p.cur, p.rotated = p.cur, make(map[string]*prefetched, len(p.cur)), now
	}
	p.cur[taskID] = f
	p.mu.Unlock()
}

// Hook returns the go-redis hook that reads for each task asynq dequeues
// on rdb, the Redis client of the asynq server that runs the handlers:
// rdb.AddHook(p.Hook(rdb)) before the server starts. rdb must not be a
// cluster client.
func (p *Prefetch) Hook(rdb redis.UniversalClient) redis.Hook { return prefetchHook{p: p, rdb: rdb} }

type prefetchHook struct {
	commandHook
	p   *Prefetch
	rdb redis.UniversalClient
}

func (h prefetchHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	p, rdb := h.p, h.rdb
	return func(ctx context.Context, cmd redis.Cmder) error {
		c, ok := cmd.(*redis.Cmd)
		if !ok || c.Name() != "evalsha" {
			return next(ctx, cmd)
		}
		// EVALSHA sha 4 pending paused active lease leaseExpiry taskKeyPrefix:
		// the same keys and arguments serve p's script, whose SHA-1 takes
		// the place of asynq's.
		args := c.Args()
		if len(args) != 9 || args[1] != asynqDequeueSHA || !isInt(args[2], 4) {
			return next(ctx, cmd)
		}
		if p.lane != "" && args[3] == p.lane && p.laneIdle() {
			p.laneLocal.Add(1)
			c.SetErr(redis.Nil)
			return redis.Nil
		}
		args[1] = p.script.Hash()
		sent := int64(time.Since(p.t0))
		err := next(ctx, cmd)
		// (err is checked first: HasErrorPrefix allocates even for nil.)
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			// Redis lost its scripts (a restart, SCRIPT FLUSH, a
			// failover): load p's and run it again.
			if err = p.script.Load(ctx, rdb).Err(); err == nil {
				c.SetErr(nil)
				err = next(ctx, cmd)
			}
		}
		if err != nil {
			return err // redis.Nil included: no task, as asynq's says
		}
		res, _ := c.Val().([]any)
		if p.lane != "" && len(res) > 0 {
			// The lane's length ends every answer; alone, no task.
			p.noteLane(sent, res[len(res)-1])
			if res = res[:len(res)-1]; len(res) == 0 {
				c.SetErr(redis.Nil)
				return redis.Nil
			}
		}
		id, f, msg, derr := p.decode(res)
		if derr != nil {
			// asynq's part ran: the task is active. Give asynq its
			// message; the handler reads on its own.
			p.log.Warn("prefetch: unexpected dequeue answer; the handler reads on its own", "error", derr)
		}
		if f != nil {
			p.put(id, f)
			p.rode.Add(1)
		}
		c.SetVal(msg)
		return nil
	}
}

// decode reads the answer of dequeueReadScript: {msg, id, marker or nil,
// {members of the first index's running pauses}, ...}.
func (p *Prefetch) decode(res []any) (id string, f *prefetched, msg string, err error) {
	if len(res) < 3+len(p.indexes) {
		if len(res) > 0 {
			msg, _ = res[0].(string)
		}
		return "", nil, msg, errors.New("short answer")
	}
	msg, ok1 := res[0].(string)
	id, ok2 := res[1].(string)
	if !ok1 || !ok2 {
		return "", nil, msg, errors.New("no message or id")
	}
	f = &prefetched{at: time.Now(), markers: p.markerPrefix != ""}
	if m, ok := res[2].(string); ok {
		f.marker, f.hasMarker = []byte(m), true
	}
	if len(p.indexes) > 0 {
		f.bots, f.pauses = p.bots, make([][]string, len(p.bots))
		for i := range p.bots {
			list, _ := res[3+i].([]any)
			if len(list) == 0 {
				continue
			}
			members := make([]string, 0, len(list))
			for _, m := range list {
				if s, ok := m.(string); ok {
					members = append(members, s)
				}
			}
			f.pauses[i] = members
		}
	}
	return id, f, msg, nil
}

// isInt reports whether a command argument is the integer n.
func isInt(v any, n int) bool {
	switch x := v.(type) {
	case int:
		return x == n
	case int64:
		return x == int64(n)
	}
	return false
}

// asynqDequeueSource is asynq's dequeue script (internal/rdb, dequeueCmd),
// byte for byte; its SHA-1 is how the hook recognises it.
const asynqDequeueSource = `
if redis.call("EXISTS", KEYS[2]) == 0 then
	local id = redis.call("RPOPLPUSH", KEYS[1], KEYS[3])
	if id then
		local key = ARGV[2] .. id
		redis.call("HSET", key, "state", "active")
		redis.call("HDEL", key, "pending_since")
		redis.call("ZADD", KEYS[4], ARGV[1], id)
		return redis.call("HGET", key, "msg")
	end
end
return nil`

var asynqDequeueSHA = func() string {
	sum := sha1.Sum([]byte(asynqDequeueSource))
	return hex.EncodeToString(sum[:])
}()

// dequeueReadScript returns asynq's dequeue script whose answer, once it
// has dequeued a task, also carries the reads of a Prefetch: asynq's part is
// asynqDequeueSource itself, and its keys and arguments are asynq's, so
// that the hook only swaps the SHA-1. What the reads need is written into
// the script: the sent markers' key prefix markerPrefix ("": none) and the
// pause indexes.
//
// The script answers nil if asynq's would, else {msg, id, marker or false,
// {running pauses of indexes[0]}, ...}; with a lane (see Prefetch.Lane),
// {lane's length} instead of nil, and the lane's length after the rest.
func dequeueReadScript(markerPrefix string, indexes []string, lane string) *redis.Script {
	var reads strings.Builder
	reads.WriteString(`local res = {redis.call("HGET", key, "msg"), id, false}`)
	if markerPrefix != "" {
		reads.WriteString("\n\t\tres[3] = redis.call(\"GET\", " + luaQuote(markerPrefix) + " .. id)")
	}
	if len(indexes) > 0 {
		// An index exists only while one of its pauses runs (it expires
		// with its longest): without a 429 pause, one EXISTS per bot and
		// no clock.
		reads.WriteString(`
		local now`)
		for _, ix := range indexes {
			q := luaQuote(ix)
			reads.WriteString(`
		if redis.call("EXISTS", ` + q + `) == 1 then
			if not now then
				local t = redis.call("TIME")
				now = "(" .. string.format("%.0f", tonumber(t[1]) * 1000000 + tonumber(t[2]))
			end
			res[#res + 1] = redis.call("ZRANGEBYSCORE", ` + q + `, now, "+inf")
		else
			res[#res + 1] = {}
		end`)
		}
	}
	src := asynqDequeueSource
	if lane != "" {
		reads.WriteString("\n\t\tres[#res + 1] = redis.call(\"LLEN\", " + luaQuote(lane) + ")")
		src = strings.TrimSuffix(src, asynqDequeueNone) + "\nreturn {redis.call(\"LLEN\", " + luaQuote(lane) + ")}"
	}
	reads.WriteString("\n\t\treturn res")
	return redis.NewScript("if redis.replicate_commands then redis.replicate_commands() end" +
		strings.Replace(src, asynqDequeueAnswer, reads.String(), 1))
}

// luaQuote returns s as a Lua string literal: printable ASCII as it is,
// every other byte, and the quote and backslash, as a decimal escape.
func luaQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "\\%03d", c)
	}
	b.WriteByte('"')
	return b.String()
}

// asynqDequeueAnswer is the line of asynqDequeueSource that answers with
// the dequeued task's message, which dequeueReadScript replaces.
const asynqDequeueAnswer = `return redis.call("HGET", key, "msg")`

// asynqDequeueNone is the last line of asynqDequeueSource, its answer when
// no task was dequeued; with a lane, dequeueReadScript answers the lane's
// length instead.
const asynqDequeueNone = "\nreturn nil"
