package keys

// Order returns the two keys of one chat's order of ordered messages (see
// internal/ordering): a sorted set of the outstanding tasks by sequence
// number, and a hash of each task's queue and registration time plus the
// chat's sequence counter. Both carry the Redis Cluster hash tag
// {bot:chat}, so the scripts that update them touch a single slot. bot is a
// bot name ([A-Za-z0-9_-]) and chat an integer id or an @username, so
// neither holds a brace.
func Order(bot, chat string) (seq, meta string) {
	tag := Prefix + "ord:{" + bot + ":" + chat + "}:"
	return tag + "q", tag + "m"
}

// Parts is the progress of a multi-part reply: a hash from part index to the
// tasks.SendResult JSON of each part Telegram confirmed, written right after
// the confirmation, so that a retry resumes after the last part sent.
func Parts(taskID string) string { return Prefix + "parts:" + taskID }
