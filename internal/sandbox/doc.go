// Package sandbox is a local Telegram Bot API server for development, tests,
// fault tests and benchmarks. It speaks the Bot API wire format closely enough
// for telego (and any other client) to talk to it instead of
// api.telegram.org, records every message it "delivers", enforces
// Telegram-like flood limits and injects faults on demand.
//
// # Serving
//
// [New] builds a [Sandbox] from a [Config] whose zero value is usable. A
// Sandbox is an [http.Handler]; [Sandbox.Start] also serves it on a TCP
// address (use "127.0.0.1:0" and read [Sandbox.URL]). Routes:
//
//	POST|GET /bot<token>/<method>        Bot API (JSON, urlencoded or multipart bodies)
//	POST|GET /bot<token>/test/<method>   same, telego's WithTestServerPath layout
//	         /sandbox/...                admin API, see below
//
// Methods: sendMessage and getMe. Any other method answers 404
// {"ok":false,"error_code":404,"description":"Not Found"} as Telegram does.
// The bot id is the token's numeric prefix; the full token is never stored,
// recorded or logged.
//
// # Limits
//
// [Limits] reads each of Telegram's flood limits literally, as a
// sliding-window count: at most N deliveries in any window of length W. A
// rate r per period B (a second; a minute for [Limits.Group]) gives
// N = max(1, ⌊r⌋) and W = B·N/r, so whole rates are exact (30/s is 30 in any
// 1 s, 20/min is 20 in any 60 s, 1/s is 1 in any 1 s) and fractional ones
// keep their average (0.5/s is 1 in 2 s, 2.5/s is 2 in 800 ms). A send
// arriving at time t fits a limit if fewer than N of that limit's deliveries
// fall in (t-W, t]: it has fewer than N earlier ones, or the N-th most recent
// was at or before t-W. Otherwise it would fit W after that N-th most recent
// delivery. Only deliveries count, never refused requests.
//
// Scopes: Global per bot (sends without allow_paid_broadcast), Paid per bot
// (sends with it, instead of Global), Chat per (bot, chat), Group per (bot,
// group chat) on top of Chat, where a group chat is a negative id or an
// @username. A send must fit every limit that applies to it; a send that does
// not is a violation: it is answered 429 with retry_after = the whole seconds
// (at least 1) until it would fit them all, it is not delivered and it
// consumes nothing. Every violation is counted once in [Stats.Violations] and
// once in [Stats.Rejected429] under the limit that needed the longest wait
// (ties go to the first of Global, Paid, Chat, Group), so Violations always
// equals the sum of Rejected429.
//
// Each 429 (from a limit or from a [KindTooManyRequests] rule) is remembered
// with its scope and expiry. A later request that arrives before the expiry is
// answered 429 again with the remaining seconds and counted in
// [Stats.EarlyRetry], not as a violation. Scopes: a Global 429 covers the
// bot's non-paid sends, a Paid 429 its paid sends, a Chat or Group 429 and a
// rule's 429 cover every send of that bot to that chat.
//
// A client that never sends over a limit and honours every retry_after ends a
// run with Violations == 0 and EarlyRetry == 0.
//
// # Timing
//
// Limits are judged when the sandbox processes a request, after it has
// been read and parsed, in a single critical section, so decisions are in a
// total order with non-decreasing times. [Config.Latency], its jitter and a
// [KindLatency] rule's delay are applied afterwards, before the reply is
// written, so latency never creates or hides a violation and a delivered
// message is recorded before the client sees the reply.
//
// # Faults
//
// [Sandbox.AddRule] installs a [Rule]; rules are checked in order and the
// first match applies. See [FaultKind] for the kinds and the exact replies.
//
// # Admin API
//
// The same server answers JSON under /sandbox/ so that tests in other
// processes can drive it; [Client] wraps it:
//
//	GET    /sandbox/messages[?chat=&bot=&since=]  []Received (since = Seq, exclusive)
//	GET    /sandbox/stats[?summary=1]             Stats (summary drops per-chat maps)
//	GET    /sandbox/wait?n=N[&timeout=30s]        {"count":c}; 200 once c >= n, 408 on timeout
//	GET    /sandbox/rules                         []RuleInfo
//	POST   /sandbox/rules                         body Rule → {"id":n}
//	DELETE /sandbox/rules                         remove all rules
//	DELETE /sandbox/rules/{id}                    remove one rule
//	POST   /sandbox/reset                         Reset (keeps rules and limits)
//	GET    /sandbox/limits                        Limits
//	PUT    /sandbox/limits                        body Limits
package sandbox
