package handlers

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// A ride's writes go inside asynq's script that completes the task, rather
// than beside it in a pipeline, when that script is one of the two asynq runs
// for a task that succeeded (complete, with the retention every telequeue
// client sets, and done, without) and the client is not a cluster client.
// The hook then swaps the script's SHA-1 for one of rideScriptFor's: the
// same asynq script, byte for byte, wrapped in a function that runs after
// the writes. asynq's keys and arguments are unchanged; the writes follow
// asynq's arguments, each as its argument count and its arguments. One
// command instead of a pipeline of one per write: less to build, send, parse
// and answer, for the worker and for Redis alike.
//
// What it keeps: the writes run first, each for itself (redis.pcall: one
// that fails neither stops the others nor asynq's part), then asynq's part
// exactly as asynq's own script would; each write's answer goes back to its
// command, asynq's error to asynq. If asynq's part fails (its lease was
// lost), the writes were still made, as in the pipeline; the error asynq
// gets then names a failed write, if one did, so that the hook knows to
// write them again on their own.

// rideFailedMark precedes, in the error of a ride script whose asynq part
// failed, the error of the first write that failed.
const rideFailedMark = " [telequeue: a ride's write failed: "

// rideScript is asynq's script whose SHA-1 it replaces, extended.
type rideScript struct {
	script *redis.Script
	argv   int // asynq's arguments: the writes follow them
}

// rideScripts are the ride scripts by the SHA-1 of the asynq script each
// extends.
var rideScripts = map[string]*rideScript{
	sha1Hex(asynqCompleteSource): newRideScript(asynqCompleteSource, 5),
	sha1Hex(asynqDoneSource):     newRideScript(asynqDoneSource, 3),
}

func sha1Hex(src string) string {
	sum := sha1.Sum([]byte(src))
	return hex.EncodeToString(sum[:])
}

// newRideScript wraps src, an asynq script taking argv arguments.
func newRideScript(src string, argv int) *rideScript {
	return &rideScript{argv: argv, script: redis.NewScript(fmt.Sprintf(`if redis.replicate_commands then redis.replicate_commands() end
local res, failed, i = {"OK"}, false, %d
while i <= #ARGV do
	local n = tonumber(ARGV[i])
	local r = redis.pcall(unpack(ARGV, i + 1, i + n))
	if type(r) == "table" and r.err and not failed then
		failed = r.err
	end
	res[#res + 1] = r
	i = i + 1 + n
end
local asynq = (function()
%s
end)()
if type(asynq) == "table" and asynq.err then
	if failed then
		return redis.error_reply(asynq.err .. %s .. failed .. "]")
	end
	return asynq
end
return res`, argv+1, src, luaQuote(rideFailedMark)))}
}

// rideable reports whether the hook can set every write's answer from a
// ride script's (see setReply).
func rideable(writes []redis.Cmder) bool {
	for _, w := range writes {
		switch w.(type) {
		case *redis.StatusCmd, *redis.IntCmd, *redis.StringCmd, *redis.StringSliceCmd:
		default:
			return false
		}
	}
	return true
}

// rideScriptOf returns the ride script that extends cmd, asynq's EVALSHA of
// a script that completes a task, and cmd's arguments; nil if cmd is not
// one.
func rideScriptOf(cmd redis.Cmder) (*rideScript, *redis.Cmd, []any) {
	c, ok := cmd.(*redis.Cmd)
	if !ok || c.Name() != "evalsha" {
		return nil, nil, nil
	}
	args := c.Args()
	if len(args) < 3 {
		return nil, nil, nil
	}
	sha, _ := args[1].(string)
	rs := rideScripts[sha]
	if rs == nil {
		return nil, nil, nil
	}
	nkeys, ok := args[2].(int)
	if !ok || len(args) != 3+nkeys+rs.argv {
		return nil, nil, nil
	}
	return rs, c, args
}

// rideInScript runs asynq's cmd (args: its arguments) as rs, with r's
// writes, sets each write's answer and cmd's, and returns the writes' error
// (nil if all were made).
func rideInScript(ctx context.Context, next redis.ProcessHook, rdb redis.UniversalClient, rs *rideScript, cmd *redis.Cmd, args []any, r *ride) error {
	n := len(args)
	for _, w := range r.writes {
		n += 1 + len(w.Args())
	}
	ext := make([]any, 0, n)
	ext = append(ext, args...)
	ext[1] = rs.script.Hash()
	for _, w := range r.writes {
		ext = append(ext, len(w.Args()))
		ext = append(ext, w.Args()...)
	}
	c := redis.NewCmd(ctx, ext...)
	err := next(ctx, c)
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Redis lost its scripts (a restart, SCRIPT FLUSH, a failover):
		// load rs's and run it again.
		if err = rs.script.Load(ctx, rdb).Err(); err == nil {
			c.SetErr(nil)
			err = next(ctx, c)
		}
	}
	if err != nil {
		cmd.SetErr(err)
		var re redis.Error
		if !errors.As(err, &re) {
			return err // no answer: the writes' fate is unknown
		}
		// asynq's part failed; the writes ran.
		if msg := err.Error(); strings.Contains(msg, rideFailedMark) {
			return errors.New(msg[strings.Index(msg, rideFailedMark)+len(rideFailedMark):])
		}
		return nil
	}
	res, _ := c.Val().([]any)
	if len(res) != 1+len(r.writes) {
		cmd.SetVal("OK")
		return fmt.Errorf("ride script: %d answers for %d writes", len(res)-1, len(r.writes))
	}
	cmd.SetVal(res[0])
	var werr error
	for i, w := range r.writes {
		if err := setReply(w, res[1+i]); err != nil && werr == nil {
			werr = err
		}
	}
	return werr
}

// setReply sets w's answer to v, a ride script's answer for it, and
// returns w's error.
func setReply(w redis.Cmder, v any) error {
	if err, ok := v.(error); ok {
		w.SetErr(err)
		return err
	}
	switch w := w.(type) {
	case *redis.StatusCmd:
		s, _ := v.(string)
		w.SetVal(s)
	case *redis.IntCmd:
		n, _ := v.(int64)
		w.SetVal(n)
	case *redis.StringCmd:
		s, _ := v.(string)
		w.SetVal(s)
	case *redis.StringSliceCmd:
		list, _ := v.([]any)
		ss := make([]string, 0, len(list))
		for _, e := range list {
			if s, ok := e.(string); ok {
				ss = append(ss, s)
			}
		}
		w.SetVal(ss)
	}
	return nil
}

// asynqCompleteSource is asynq's script that completes a task kept for
// its retention (internal/rdb, markAsCompleteCmd), byte for byte; its SHA-1
// is how the hook recognises it.
const asynqCompleteSource = `
if redis.call("LREM", KEYS[1], 0, ARGV[1]) == 0 then
  return redis.error_reply("NOT FOUND")
end
if redis.call("ZREM", KEYS[2], ARGV[1]) == 0 then
  return redis.error_reply("NOT FOUND")
end
if redis.call("ZADD", KEYS[3], ARGV[3], ARGV[1]) ~= 1 then
  return redis.error_reply("INTERNAL")
end
redis.call("HSET", KEYS[4], "msg", ARGV[4], "state", "completed")
local n = redis.call("INCR", KEYS[5])
if tonumber(n) == 1 then
	redis.call("EXPIREAT", KEYS[5], ARGV[2])
end
local total = redis.call("GET", KEYS[6])
if tonumber(total) == tonumber(ARGV[5]) then
	redis.call("SET", KEYS[6], 1)
else
	redis.call("INCR", KEYS[6])
end
return redis.status_reply("OK")
`

// asynqDoneSource is asynq's script that ends a task kept for no
// retention (internal/rdb, doneCmd), byte for byte.
const asynqDoneSource = `
if redis.call("LREM", KEYS[1], 0, ARGV[1]) == 0 then
  return redis.error_reply("NOT FOUND")
end
if redis.call("ZREM", KEYS[2], ARGV[1]) == 0 then
  return redis.error_reply("NOT FOUND")
end
if redis.call("DEL", KEYS[3]) == 0 then
  return redis.error_reply("NOT FOUND")
end
local n = redis.call("INCR", KEYS[4])
if tonumber(n) == 1 then
	redis.call("EXPIREAT", KEYS[4], ARGV[2])
end
local total = redis.call("GET", KEYS[5])
if tonumber(total) == tonumber(ARGV[3]) then
	redis.call("SET", KEYS[5], 1)
else
	redis.call("INCR", KEYS[5])
end
return redis.status_reply("OK")
`
