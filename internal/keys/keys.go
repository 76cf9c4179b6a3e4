// Package keys names telequeue's own Redis keys. asynq's keys start with
// "asynq:"; ours start with "telequeue:" so the two never collide.
package keys

// Prefix of every telequeue key.
const Prefix = "telequeue:"

// Sent is the "sent" marker of a task: written right after Telegram confirms
// a send, holding the tasks.SendResult JSON; a task that finds it completes
// without sending again.
func Sent(taskID string) string { return Prefix + "sent:" + taskID }

// Idempotency maps a client's idempotency key to the task it created.
func Idempotency(key string) string { return Prefix + "idem:" + key }

// BroadcastIndex is a sorted set of broadcast ids by creation time, read by
// the broadcast metrics.
const BroadcastIndex = Prefix + "broadcasts"

// Events is the outcome stream: a Redis Stream with one entry per final
// outcome (see tasks.Event).
const Events = Prefix + "events"
