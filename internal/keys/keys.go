// Package keys names every Redis key telequeue writes: sent markers,
// idempotency keys, multi-part reply progress, chat orders, broadcasts,
// uploads and their file ids, and the rate limiter's keys. asynq's keys
// start with "asynq:"; ours start with [Prefix] so the two never collide.
//
// The key strings must never change: running deployments hold them (a
// changed sent marker key, for one, would send every message of a rolling
// deploy twice). keys_test.go pins them.
package keys

// Prefix of every telequeue key.
const Prefix = "telequeue:"

// Sent is the "sent" marker of a task: written right after Telegram confirms
// a send, holding the tasks.SendResult JSON; a task that finds it completes
// without sending again.
func Sent(taskID string) string { return Prefix + "sent:" + taskID }

// Idempotency maps a client's idempotency key to the task it created.
func Idempotency(key string) string { return Prefix + "idem:" + key }

// Bots is the registry of the bot names running workers serve (never their
// tokens): a sorted set from name to the Unix time in milliseconds, by
// Redis's clock, until which the name counts as known (see
// internal/botreg).
const Bots = Prefix + "bots"

// AsynqTask is the hash in which asynq v0.26 keeps a task
// (internal/base.TaskKey): asynq's key, not ours, but the handlers write a
// confirmed send's result into its "result" field in the round trip of the
// sent marker, as asynq's ResultWriter would. handlers' TestResultKeyMatchesAsynq
// checks it against asynq.
func AsynqTask(queue, taskID string) string { return "asynq:{" + queue + "}:t:" + taskID }

// BroadcastIndex is a sorted set of broadcast ids by creation time, read by
// the broadcast metrics.
const BroadcastIndex = Prefix + "broadcasts"

// Events is the outcome stream: a Redis Stream with one entry per final
// outcome (see tasks.Event).
const Events = Prefix + "events"
