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
// [Limits] models each of Telegram's flood limits as a GCRA with burst 1:
// with emission interval T = 1/rate and tolerance τ = [Limits.Tolerance]·T
// (10% by default), a send arriving at time t is allowed if t >= TAT-τ, and
// then TAT = max(t, TAT) + T. Budgets: Global per bot (sends without
// allow_paid_broadcast), Paid per bot (sends with it), Chat per (bot, chat),
// Group per (bot, group chat), where a group chat is a negative id or an
// @username. A send must fit every budget that applies to it; a send that does
// not is a violation: it is answered 429 with retry_after = the whole seconds
// (at least 1) until it would fit, it is not delivered and it consumes no
// budget. Every violation is counted once in [Stats.Violations] and once in
// [Stats.Rejected429] under the limit that needed the longest wait, so
// Violations always equals the sum of Rejected429.
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
