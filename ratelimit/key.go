package ratelimit

// Key identifies one send for the limiter: which bot sends, to which chat,
// and which budgets apply.
type Key struct {
	// Bot is the bot name (never a token).
	Bot string
	// Chat is the chat id as text: "123", "-100123" or "@channel".
	Chat string
	// Group is true for groups, supergroups and channels (per-minute limit).
	Group bool
	// Paid is true for allow_paid_broadcast sends, which use the paid budget
	// instead of the bot's global one.
	Paid bool
	// ChatOnly counts the send against the chat's and the group's limits
	// only, not the bot-wide budget: edits, deletes and chat actions, which
	// Telegram counts per chat.
	ChatOnly bool
	// Cost is how many messages the send counts as (an album of 10 counts
	// 10); 0 means 1. Every limit that applies advances by Cost slots.
	Cost int
}
