package keys

// RateLimitPrefix is the default start of the rate limiter's keys
// (ratelimit.Config.Prefix).
const RateLimitPrefix = Prefix + "rl:"

// RateLimit names the rate limiter's keys of one bot (see ratelimit's
// package documentation). Every key carries the Redis Cluster hash tag
// {bot}, so that all keys of one script call share a slot.
type RateLimit string

// RateLimitOf returns the keys of bot under prefix, the limiter's
// configured prefix (RateLimitPrefix by default).
func RateLimitOf(prefix, bot string) RateLimit { return RateLimit(prefix + "{" + bot + "}:") }

// Budget is the TAT of the bot-wide budget name: "global" or "paid".
func (k RateLimit) Budget(name string) string { return string(k) + name }

// Chat is the TAT of a chat's own budget.
func (k RateLimit) Chat(chat string) string { return string(k) + "chat:" + chat }

// Group is the TAT of a group's per-minute budget.
func (k RateLimit) Group(chat string) string { return string(k) + "group:" + chat }

// Pause is the end of the bot's 429 pause.
func (k RateLimit) Pause() string { return string(k) + "pause" }

// ChatPause is the end of a chat's 429 pause.
func (k RateLimit) ChatPause(chat string) string { return string(k) + "pause:chat:" + chat }

// Pauses is the sorted set of the bot's running 429 pauses: member
// [PauseMemberBot] or [PauseMemberChat], score the pause's end.
func (k RateLimit) Pauses() string { return string(k) + "pauses" }

// PauseMemberBot is the member of [RateLimit.Pauses] for the bot's pause.
const PauseMemberBot = "bot"

// PauseMemberChatPrefix starts the member of [RateLimit.Pauses] for a
// chat's pause: the chat follows.
const PauseMemberChatPrefix = "chat:"

// Recent429 is the set of the bot's chats that got a 429 in the last
// second.
func (k RateLimit) Recent429() string { return string(k) + "429" }
