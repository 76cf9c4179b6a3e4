// Package ratelimit enforces Telegram's limits across every process of a
// deployment with state in Redis.
//
// # A worker's limiter
//
// Create one Limiter per process with [New], on the Redis of the task
// queues, and give it to every handler of the handlers package (its
// Config.Limiter and BroadcastConfig.Limiter). Zero rates turn limits off,
// so set Telegram's:
//
//	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
//	limiter, err := ratelimit.New(rdb, ratelimit.Config{Global: 30, Chat: 1, Group: 20, Paid: 1000})
//	if err != nil {
//		return err
//	}
//	send, err := handlers.NewSendMessageHandler(handlers.Config{Bots: bots, Limiter: limiter, Redis: rdb})
//
// Every process that sends with the same bots must use the same Redis, the
// same Config and the same Prefix: the budgets are shared through Redis,
// and a process with its own would send beside them.
//
// # Limits
//
// Telegram asks bots to stay below about one message per second in a chat,
// 20 messages per minute in a group and about 30 messages per second in
// total, and allows up to 1000 per second for paid broadcasts
// (allow_paid_broadcast). A [Config] sets these budgets; each is a GCRA
// (generic cell rate algorithm) with burst 1, i.e. a minimum spacing
// T = period/rate × (1+Margin) between two sends:
//
//   - per bot: Global, or Paid for keys with [Key].Paid (paid sends use that
//     budget instead of Global and do not consume it);
//   - per chat: Chat (per second), for private chats and groups;
//   - per group chat ([Key].Group): Group (per minute), in addition to Chat;
//   - 429 pauses recorded by [Limiter.Throttled].
//
// A send must satisfy all of them at the same instant. [Limiter.Reserve]
// computes the earliest instant t* at which every applicable limit allows it
// and no pause runs. If t* is at most MaxWait away, it advances every limit
// to t*+T (the reservation) and answers wait = t*-now, ok = true; otherwise
// it reserves nothing and answers ok = false with the wait. It is one Lua
// script, run with EVALSHA, so the decision is atomic across all limits and
// costs one round trip per send.
//
// # Why not redis_rate
//
// The GCRA arithmetic follows github.com/go-redis/redis_rate/v10 (whose
// script credits rwz/redis-gcra), but one redis_rate call per limit cannot
// give an all-or-nothing reservation. Checked one after the other, a send
// admitted by the bot's budget and then refused by the chat's has spent a
// bot slot that nobody uses (giving it back is a second, racy write). Reserved
// one after the other, each limit records its own earliest instant, but the
// message goes out at the latest of them: if the bot's budget says "in
// 500 ms" and the chat's says "now", the chat's state records a send now, so
// the next message to that chat can be granted 1/Chat after now, which is
// closer than 1/Chat to the real send at +500 ms. It would also cost a round
// trip per limit. The script here takes the latest instant over all limits
// and reserves that one instant in every limit, or nothing.
//
// # Clocks
//
// The script reads the Redis server's clock (TIME). Reservations, TATs and
// pause ends are instants of that one clock, so the clocks of the worker
// machines do not matter; only the wait (a duration) leaves Redis.
//
// # Waiting and rescheduling
//
// A handler sleeps the granted wait and then sends. A busy chat (a group
// with 20 messages per minute, a chat paused by a 429) would otherwise keep
// a worker asleep for seconds or minutes while other chats' tasks queue
// behind it; MaxWait bounds that sleep. Beyond it, Reserve answers ok = false
// and the handler reschedules the task after wait without counting a failure
// (asynq: a typed error that IsFailure ignores and RetryDelayFunc reads).
// MaxWait × Global is also the number of handlers one bot can keep asleep at
// the same time (2 s × 30/s = 60), so deployments with several bots may want
// a shorter MaxWait.
//
// # 429 responses
//
// Telegram's 429 does not say which limit was hit. [Limiter.Throttled]
// applies this policy, in one script, with pause ends on the Redis clock:
//
//   - the chat is paused for retryAfter: no process sends to it before then;
//   - the whole bot is paused for retryAfter as well if the 429 came from a
//     send to a private chat (its own 1/s limit is enforced here, so the
//     bot-wide limit is the likely cause), or if 429s for at least 2
//     distinct chats of the bot arrived within the last second. A single
//     group's 429, however long, pauses only that group: groups answer 429
//     for their own slow mode and per-minute limit, which say nothing about
//     the bot's other chats;
//   - a pause is only ever extended, never shortened.
//
// Reserve treats a pause end like a TAT: t* is never before it.
//
// # Limits turned off
//
// A limit of 0 is off. When no limit applies to a key, Reserve still has to
// honour pauses set by other processes, so it sends a single EXISTS on the
// two pause keys (which expire when their pause ends) and runs the script
// only while a pause exists. A process-local shortcut that skips Redis
// altogether until this process sees a 429 was rejected: the 429 is most
// likely seen by another process, and the whole cluster would keep sending
// to a bot Telegram asked to wait. One EXISTS is cheap for Redis and small
// next to a Bot API call.
//
// A caller that can learn the running pauses in a round trip it makes
// anyway skips even that: [Limiter.Throttled] keeps an index of the bot's
// running pauses ([Limiter.PauseIndex]), and [Limiter.Unlimited] and
// [Paused] tell from its members whether a key needs the limiter at all.
// telequeue's workers read the index in asynq's dequeue round trip
// (handlers.Prefetch).
//
// # Keys
//
// The bot name is the Redis Cluster hash tag, so all keys of one call share
// a slot. With the default prefix "telequeue:rl:":
//
//	telequeue:rl:{bot}:global          TAT of the bot's Global budget
//	telequeue:rl:{bot}:paid            TAT of the bot's Paid budget
//	telequeue:rl:{bot}:chat:<chat>     TAT of the chat's Chat budget
//	telequeue:rl:{bot}:group:<chat>    TAT of the group's Group budget
//	telequeue:rl:{bot}:pause           end of the bot's 429 pause
//	telequeue:rl:{bot}:pause:chat:<chat> end of the chat's 429 pause
//	telequeue:rl:{bot}:429             chats with a 429 in the last second
//	telequeue:rl:{bot}:pauses          running pauses: "bot", "chat:<chat>" by end
//
// Values are microseconds of the Redis clock. Every key expires: a TAT
// shortly after the TAT (an idle chat leaves nothing behind), a pause when
// it ends, the pause index with its longest pause, the 429 set after one
// second.
package ratelimit
