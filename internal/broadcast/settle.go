package broadcast

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
)

// Outcome is how a recipient was settled; it names its counter.
type Outcome string

// Outcomes.
const (
	// OutcomeNone advances a chunk's progress without settling anyone
	// (starting a chunk, switching to a retry pass).
	OutcomeNone Outcome = ""
	// OutcomeSent: Telegram confirmed the message.
	OutcomeSent Outcome = "sent"
	// OutcomeFailed: a permanent error (400, …), or transient errors beyond
	// the retry passes.
	OutcomeFailed Outcome = "failed"
	// OutcomeBlocked: 403; the chat is appended to the blocked list.
	OutcomeBlocked Outcome = "blocked"
	// OutcomeCancelled: not sent because the broadcast was cancelled.
	OutcomeCancelled Outcome = "cancelled"
	// OutcomeRetry does not settle: the chat is appended to the next
	// pass's list.
	OutcomeRetry Outcome = "retry"
)

// Step moves chunk Chunk's progress from From to To, settling one recipient
// (Chat) as Outcome.
type Step struct {
	Chunk    int
	From, To Progress
	Outcome  Outcome
	// Chat is appended to the blocked list (OutcomeBlocked) or to the list
	// of pass From.Pass+1 (OutcomeRetry).
	Chat int64
	// DeletePasses names the passes of this chunk whose lists are no longer
	// needed (a finished pass).
	DeletePasses []int
}

// Result is what a [Store.Settle] or [Store.SettleRest] found.
type Result struct {
	// Applied is false if the chunk's progress was not the step's From:
	// another run of the chunk moved it. Current holds the progress found.
	Applied bool
	Current Progress
	// State is the broadcast's state (running or cancelled).
	State string
}

// countLua adds n to counter field and to "settled", and stamps
// "finished" (ARGV time, ms) once every recipient is settled.
const countLua = `
local function count(meta, field, n, now)
	if n <= 0 then return end
	redis.call('HINCRBY', meta, field, n)
	local settled = redis.call('HINCRBY', meta, 'settled', n)
	local total = tonumber(redis.call('HGET', meta, 'total'))
	if total and settled >= total then
		redis.call('HSETNX', meta, 'finished', now)
	end
end
`

// settleScript is the compare-and-set step.
//
// KEYS[1] progress, KEYS[2] meta, KEYS[3] list to append ARGV[6] to,
// KEYS[4..] lists to delete.
// ARGV[1] chunk field, ARGV[2] expected progress, ARGV[3] new progress,
// ARGV[4] counter to add 1 to (” none), ARGV[5] now (ms), ARGV[6] bytes to
// append (” none).
//
// Returns {1, state, new} when applied, {0, state, current} when the progress
// was not the expected one, {-1} when the broadcast does not exist.
var settleScript = redis.NewScript(countLua + `
local state = redis.call('HGET', KEYS[2], 'state')
if not state then return {-1} end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then cur = '' end
if cur ~= ARGV[2] then return {0, state, cur} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[6] ~= '' then
	redis.call('APPEND', KEYS[3], ARGV[6])
	if redis.call('PTTL', KEYS[3]) == -1 then
		redis.call('PEXPIRE', KEYS[3], math.max(redis.call('PTTL', KEYS[2]), 1))
	end
end
if ARGV[4] ~= '' then count(KEYS[2], ARGV[4], 1, ARGV[5]) end
for i = 4, #KEYS do redis.call('DEL', KEYS[i]) end
return {1, state, ARGV[3]}
`)

// Settle applies st atomically if the chunk's progress is still st.From.
// It returns [ErrNotFound] if the broadcast is gone.
func (s *Store) Settle(ctx context.Context, id string, st Step) (Result, error) {
	return s.SettleAfter(ctx, id, st, nil)
}

// SettleAfter is [Store.Settle] that sends pre's commands to Redis in the
// same round trip, before the step: a sender that must read something
// before its next send (its task's fence) saves a round trip. The caller
// reads pre's commands' results after SettleAfter returns; they hold their
// own errors. pre may run twice (the first time Redis lacks the script).
func (s *Store) SettleAfter(ctx context.Context, id string, st Step, pre func(redis.Pipeliner)) (Result, error) {
	k := keys.BroadcastOf(id)
	keys := []string{k.Progress(), k.Meta(), k.Blocked()}
	var app []byte
	counter := string(st.Outcome)
	switch st.Outcome {
	case OutcomeBlocked:
		app = Pack([]int64{st.Chat})
	case OutcomeRetry:
		keys[2] = k.List(st.Chunk, st.From.Pass+1)
		app = Pack([]int64{st.Chat})
		counter = ""
	}
	for _, p := range st.DeletePasses {
		keys = append(keys, k.List(st.Chunk, p))
	}
	args := []any{strconv.Itoa(st.Chunk), st.From.String(), st.To.String(), counter, time.Now().UnixMilli(), app}
	if pre == nil {
		res, err := settleScript.Run(ctx, s.rdb, keys, args...).Slice()
		if err != nil {
			return Result{}, err
		}
		return scriptResult(res)
	}
	for loaded := false; ; loaded = true {
		pipe := s.rdb.Pipeline()
		pre(pipe)
		cmd := settleScript.EvalSha(ctx, pipe, keys, args...)
		_, _ = pipe.Exec(ctx) // each command holds its own error
		res, err := cmd.Slice()
		if !loaded && redis.HasErrorPrefix(err, "NOSCRIPT") {
			// Not applied: load the script and send the round trip again.
			if err := settleScript.Load(ctx, s.rdb).Err(); err != nil {
				return Result{}, err
			}
			continue
		}
		if err != nil {
			return Result{}, err
		}
		return scriptResult(res)
	}
}

func scriptResult(res []any) (Result, error) {
	if len(res) == 0 {
		return Result{}, errors.New("broadcast: empty script reply")
	}
	code, _ := res[0].(int64)
	if code == -1 {
		return Result{}, ErrNotFound
	}
	if len(res) != 3 {
		return Result{}, fmt.Errorf("broadcast: unexpected script reply %v", res)
	}
	state, _ := res[1].(string)
	cur, _ := res[2].(string)
	p, err := ParseProgress(cur)
	if err != nil {
		return Result{}, err
	}
	return Result{Applied: code == 1, Current: p, State: state}, nil
}

// settleRestScript settles every recipient of a chunk still unsettled as
// one outcome and marks the chunk done.
//
// KEYS[1] progress, KEYS[2] meta, KEYS[3] list of the current pass, KEYS[4]
// list of the next pass.
// ARGV[1] chunk field, ARGV[2] expected progress, ARGV[3] cursor in the
// current list, ARGV[4] counter, ARGV[5] now (ms).
//
// Returns as settleScript; the new progress is "d".
var settleRestScript = redis.NewScript(countLua + `
local state = redis.call('HGET', KEYS[2], 'state')
if not state then return {-1} end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then cur = '' end
if cur ~= ARGV[2] then return {0, state, cur} end
local n = math.max(math.floor(redis.call('STRLEN', KEYS[3]) / 8) - tonumber(ARGV[3]), 0)
n = n + math.floor(redis.call('STRLEN', KEYS[4]) / 8)
redis.call('HSET', KEYS[1], ARGV[1], 'd')
count(KEYS[2], ARGV[4], n, ARGV[5])
redis.call('DEL', KEYS[3], KEYS[4])
return {1, state, 'd'}
`)

// SettleRest settles, as outcome (cancelled or failed), every recipient of
// chunk c that is not settled yet — the rest of pass from.Pass's list after
// from.Cursor, and the next pass's list — and marks the chunk done, if its
// progress is still from.
func (s *Store) SettleRest(ctx context.Context, id string, c int, from Progress, outcome Outcome) (Result, error) {
	k := keys.BroadcastOf(id)
	res, err := settleRestScript.Run(ctx, s.rdb,
		[]string{k.Progress(), k.Meta(), k.List(c, from.Pass), k.List(c, from.Pass+1)},
		strconv.Itoa(c), from.String(), from.Cursor, string(outcome), time.Now().UnixMilli()).Slice()
	if err != nil {
		return Result{}, err
	}
	return scriptResult(res)
}

// cancelScript marks a broadcast cancelled and settles, as cancelled, every
// chunk no task has started (their progress becomes "d" so that a task that
// starts later finds them done). Started chunks are settled by their own
// task at its next recipient.
//
// KEYS[1] meta, KEYS[2] progress. ARGV[1] now (ms).
// Returns {state before, finished, {chunks settled here}}, or {} when the
// broadcast does not exist.
var cancelScript = redis.NewScript(countLua + `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {} end
local finished = redis.call('HGET', KEYS[1], 'finished')
if finished then return {state, 1, {}} end
redis.call('HSET', KEYS[1], 'state', 'cancelled')
local chunks = tonumber(redis.call('HGET', KEYS[1], 'chunks')) or 0
local size = tonumber(redis.call('HGET', KEYS[1], 'chunk_size')) or 0
local total = tonumber(redis.call('HGET', KEYS[1], 'total')) or 0
local marked = {}
local n = 0
for c = 0, chunks - 1 do
	if redis.call('HSETNX', KEYS[2], tostring(c), 'd') == 1 then
		n = n + math.min(size, total - c * size)
		marked[#marked + 1] = c
	end
end
count(KEYS[1], 'cancelled', n, ARGV[1])
return {state, 0, marked}
`)

// CancelResult is what [Store.Cancel] did.
type CancelResult struct {
	// Finished is true if the broadcast had finished before: nothing changed.
	Finished bool
	// Cancelled is true if this call cancelled the broadcast (it was not
	// cancelled before).
	Cancelled bool
	// Settled lists the chunks no task had started, now settled as
	// cancelled.
	Settled []int
	// Running lists the chunks a task has started and not finished: their
	// tasks settle the rest at their next recipient.
	Running []int
}

// Cancel cancels a broadcast: see cancelScript. It then deletes the lists
// of the chunks it settled and reports the chunks still running, whose
// tasks the caller may want to run at once (a task waiting in the retry set
// would otherwise settle only when it comes back).
func (s *Store) Cancel(ctx context.Context, id string) (*CancelResult, error) {
	k := keys.BroadcastOf(id)
	res, err := cancelScript.Run(ctx, s.rdb, []string{k.Meta(), k.Progress()}, time.Now().UnixMilli()).Slice()
	if err != nil {
		return nil, err
	}
	if len(res) != 3 {
		return nil, ErrNotFound
	}
	out := &CancelResult{}
	if f, _ := res[1].(int64); f == 1 {
		out.Finished = true
		return out, nil
	}
	out.Cancelled = res[0] != "cancelled"
	marked, _ := res[2].([]any)
	for _, m := range marked {
		if c, ok := m.(int64); ok {
			out.Settled = append(out.Settled, int(c))
		}
	}
	if len(out.Settled) > 0 {
		_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, c := range out.Settled {
				p.Del(ctx, k.List(c, 0))
			}
			return nil
		})
		if err != nil {
			return out, err
		}
	}
	all, err := s.rdb.HGetAll(ctx, k.Progress()).Result()
	if err != nil {
		return out, err
	}
	for f, v := range all {
		c, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		if p, err := ParseProgress(v); err == nil && p.Started && !p.Done {
			out.Running = append(out.Running, c)
		}
	}
	return out, nil
}
