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

// Bots is the registry of the bot names running workers serve (never their
// tokens): a sorted set from name to the Unix time in milliseconds, by
// Redis's clock, until which the name counts as known (see
// internal/botreg).
const Bots = Prefix + "bots"
