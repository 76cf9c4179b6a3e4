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

// CallResult is the result of a task of any method but sendMessage (whose
// result is [SendResult]): what a producer needs from Telegram's answer.
type CallResult struct {
	// Method is the Bot API method called.
	Method string `json:"method"`
	// MessageIDs are the messages the call created (a send, an album, a
	// copy or forward) or changed (an edit); empty for methods Telegram
	// answers with true.
	MessageIDs []int64 `json:"message_ids,omitempty"`
	// ChatID is the chat called: the payload's, or the supergroup it
	// migrated to (see MigratedFrom). 0 for answerCallbackQuery and edits of
	// inline messages.
	ChatID int64 `json:"chat_id,omitempty"`
	// ChatUsername is set when the payload addressed an @channel.
	ChatUsername string `json:"chat_username,omitempty"`
	// MigratedFrom is the old group id when Telegram answered
	// migrate_to_chat_id and the call was made again with the new id.
	MigratedFrom int64 `json:"migrated_from,omitempty"`
	// Date is Telegram's Unix time of the (last) message, if it gave one.
	Date int64 `json:"date,omitempty"`
	// FileIDs are the file_ids of the media of the messages, in order (a
	// photo's largest size): send them again without uploading.
	FileIDs []string `json:"file_ids,omitempty"`
	// NotModified: an edit found the message already showing that content
	// ("message is not modified"); nothing changed, and that is success.
	NotModified bool `json:"not_modified,omitempty"`
	// AlreadyGone: a delete found the message already deleted.
	AlreadyGone bool `json:"already_gone,omitempty"`
	// Superseded: a newer edit of the same message (or draft) was queued
	// before this one's turn came, so this one was not sent; the newest is
	// always sent (see Call.CoalesceKey).
	Superseded bool `json:"superseded,omitempty"`
}
