package tasks

// SendResult is what a completed send task stores as its result (and in its
// "sent" marker): Telegram's id of the message and where it went.
type SendResult struct {
	// MessageID is Telegram's message_id.
	MessageID int64 `json:"message_id"`
	// ChatID is the chat the message was delivered to: the payload's chat,
	// or the supergroup it migrated to (see MigratedFrom).
	ChatID int64 `json:"chat_id,omitempty"`
	// ChatUsername is set when the payload addressed an @channel.
	ChatUsername string `json:"chat_username,omitempty"`
	// MigratedFrom is the old group id when Telegram answered
	// migrate_to_chat_id and the message was resent to the new id.
	MigratedFrom int64 `json:"migrated_from,omitempty"`
	// Date is Telegram's Unix time of the message.
	Date int64 `json:"date,omitempty"`
}
