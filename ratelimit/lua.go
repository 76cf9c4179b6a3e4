package ratelimit

import "github.com/redis/go-redis/v9"

// Both scripts work in integer microseconds of the Redis server's clock
// (TIME): every value stays below 2^53, so Lua's doubles hold them exactly,
// and string.format('%.0f') stores them without the exponent tostring would
// use. The clocks of the worker machines never enter the arithmetic.
//
// redis.replicate_commands() lets a script write after calling TIME (a
// non-deterministic command) on Redis 3.2–4.x; Redis 5+ replicates effects by
// default and Redis 7 keeps the function as a no-op; the guard skips it on
// servers that predate it.

// reserveScript is the GCRA of go-redis/redis_rate v10 (lua.go, "allowN"),
// which credits rwz/redis-gcra, Copyright (c) 2017 Pavel Pravosud, reduced
// to burst 1 and applied to several limits at once. With burst 1 the stored
// theoretical arrival time (TAT) is simply the earliest instant the next send
// may happen: redis_rate's allow_at = max(tat, now) + increment - burst_offset
// equals max(tat, now) when burst_offset = increment = T.
//
// KEYS[1] bot pause, KEYS[2] chat pause (values: pause end, µs; both only
// read), KEYS[3..n] TATs of the limits that apply (µs), the bot-wide one
// first if it applies.
// ARGV[1] longest wait that is reserved (µs), ARGV[2] expiry slack beyond a
// TAT (ms), ARGV[3..n] emission interval T of KEYS[i] (µs), ARGV[n+1] 1 if
// KEYS[3] is the bot-wide TAT, ARGV[n+2] longest wait reserved when the
// chat's own limits or pause set it (µs; absent: ARGV[1]).
//
// The send time t* is the latest of now, every TAT and both pause ends: the
// earliest instant all limits allow. The wait is chat-bound when t* is later
// than the latest of now, the bot pause and the bot-wide TAT: the chat, not
// the bot's budget, holds the send back. If t* - now is within the longest
// wait that applies, every TAT becomes t* + T (one slot of every limit is
// taken at the same instant); otherwise nothing is written.
//
// Returns {ok (1/0), t* - now (µs), t* (µs), chat-bound (1/0)}.
var reserveScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local max_wait = tonumber(ARGV[1])
local slack = tonumber(ARGV[2])

local has_bot = ARGV[#KEYS + 1] == '1'
local max_chat_wait = tonumber(ARGV[#KEYS + 2]) or max_wait

local at = now
local bot_at = now
local vals = redis.call('MGET', unpack(KEYS))
for i = 1, #KEYS do
  local v = tonumber(vals[i])
  if v ~= nil then
    if v > at then at = v end
    if (i == 1 or (i == 3 and has_bot)) and v > bot_at then bot_at = v end
  end
end

local wait = at - now
local chat_bound = 0
if at > bot_at then chat_bound = 1 end
if wait > max_wait or (chat_bound == 1 and wait > max_chat_wait) then
  return {0, wait, at, chat_bound}
end

for i = 3, #KEYS do
  local tat = at + tonumber(ARGV[i])
  redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + slack)
end
return {1, wait, at, chat_bound}
`)

// throttleScript records a 429.
//
// KEYS[1] bot pause, KEYS[2] chat pause, KEYS[3] sorted set of the bot's
// chats that got a 429 recently (member chat, score µs), KEYS[4] the bot's
// index of running pauses (member ARGV[6] or ARGV[7], score its end, µs).
// ARGV[1] retry_after (µs), ARGV[2] chat, ARGV[3] 1 to pause the bot in any
// case, ARGV[4] window of the distinct-chat rule (µs), ARGV[5] number of
// distinct chats within the window that pauses the bot, ARGV[6] the chat's
// member of the index, ARGV[7] the bot's.
//
// A pause key holds its end (µs) and expires at that end, so that EXISTS
// tells whether a pause is running. A pause is only ever extended.
//
// Returns 1 if the bot was paused, 0 if only the chat.
var throttleScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local d = tonumber(ARGV[1])
local pause_end = now + d
local pause_bot = ARGV[3] == '1'
local window = tonumber(ARGV[4])

local function extend(key, member)
  local old = tonumber(redis.call('GET', key))
  if old ~= nil and old >= pause_end then return end
  redis.call('SET', key, string.format('%.0f', pause_end), 'PX', math.ceil(d / 1000))
  -- The index of running pauses (Limiter.PauseIndex): ended ones leave it
  -- here, and it expires with its longest pause.
  redis.call('ZADD', KEYS[4], string.format('%.0f', pause_end), member)
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', string.format('%.0f', now))
  if redis.call('PTTL', KEYS[4]) < math.ceil(d / 1000) then
    redis.call('PEXPIRE', KEYS[4], math.ceil(d / 1000))
  end
end

extend(KEYS[2], ARGV[6])

redis.call('ZADD', KEYS[3], now, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. string.format('%.0f', now - window))
redis.call('PEXPIRE', KEYS[3], math.ceil(window / 1000))
if not pause_bot and redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[5]) then
  pause_bot = true
end

if pause_bot then
  extend(KEYS[1], ARGV[7])
  return 1
end
return 0
`)
