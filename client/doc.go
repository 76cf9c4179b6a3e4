// Package client queues Telegram messages for telequeue's workers and reports
// on them. It is the package applications import; workers, the HTTP API and
// the telequeue command use it too.
//
// A [Client] writes each message as an asynq task of type
// [tasks.TypeSendMessage] to a Redis shared with the worker processes, which
// send it through the Bot API, retry transient failures, wait out rate limits
// and store Telegram's message_id as the task's result.
//
//	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: "localhost:6379"}})
//	if err != nil { ... }
//	defer c.Close()
//	r, err := c.SendMessage(ctx, &tasks.SendMessage{ChatID: telego.ChatID{ID: 42}, Text: "hello"})
//	// r.ID names the task: c.Status(ctx, r.ID)
//
// # Validation
//
// [Client.SendMessage] checks a message before it queues it
// ([tasks.SendMessage.Validate]: text length after entity parsing, chat id,
// parse mode, entities, reply markup) and refuses bots missing from
// [Config.Bots]. The error is a [*tasks.ValidationError]; nothing is queued.
//
// # Priority and scheduling
//
// [Priority], [Critical] and [Bulk] choose the queue; workers poll critical,
// default and bulk weighted 6:3:1 by default (QUEUES). [SendAt] and [SendIn] schedule a message,
// [Deadline] stops it from being sent late, [MaxRetry] sets its retry budget.
//
// # Idempotency
//
// asynq's task ids are unique only within one queue and only while the task
// is stored, so the client keeps its own key: with [IdempotencyKey], a second
// call with the same key within [Config.Retention] queues nothing and returns
// a [*DuplicateError] naming the first task (errors.Is(err, [ErrDuplicate])),
// whatever its queue and even after it was sent.
//
// # Status
//
// [Client.Status] reports a task's state (pending, active, scheduled, retry,
// archived or completed), its failed attempts and last error, and once sent
// the [tasks.SendResult] holding Telegram's message_id. Sent tasks are kept
// for [Config.Retention] (24h by default).
//
// # Bulk
//
// [Client.EnqueueMany] validates a slice of messages and queues the valid
// ones concurrently, returning a receipt or an error per message.
//
// # Broadcasts
//
// [Client.Broadcast] queues one message for up to a million chats in well
// under a second: the message and the packed chat ids are stored once, and
// workers send them in chunks on the bulk queue, within the rate limits and
// leaving room for critical messages. [Client.BroadcastStatus] reports how
// many were sent, failed, blocked the bot or are pending,
// [Client.BroadcastBlocked] lists the chats that answered 403, and
// [Client.CancelBroadcast] stops what was not sent yet.
//
// # Errors
//
// Besides validation errors, calls return errors wrapping [ErrUnavailable]
// when Redis cannot be reached (the HTTP API answers 503),
// [ErrNotFound] from Status, [ErrDuplicate], and [ErrInvalidOption] for a bad
// option.
package client
