// Package client queues Telegram messages for telequeue's workers and reports
// on them. It is the package applications import; the HTTP API and the
// telequeue command use it too.
//
// A [Client] writes each message as an asynq task to a Redis shared with the
// worker processes, which send it through the Bot API, retry transient
// failures, wait out rate limits and store Telegram's message_id as the
// task's result.
//
//	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: "localhost:6379"}})
//	if err != nil { ... }
//	defer c.Close()
//	r, err := c.SendMessage(ctx, &tasks.SendMessage{ChatID: telego.ChatID{ID: 42}, Text: "hello"})
//	// r.ID names the task: c.Status(ctx, r.ID)
//
// An application that already has a go-redis client shares its pool with
// [NewFromRedisClient].
//
// # What can be queued
//
//   - [Client.SendMessage]: one message, one task of type
//     [tasks.TypeSendMessage] ([tasks.TypeSendMessageOrdered] with [Ordered]).
//   - [Client.SendReply]: a multi-part reply, one task of type
//     [tasks.TypeSendMessages] ([tasks.TypeSendMessagesOrdered]) that sends
//     its parts in order and resumes after the last part sent.
//   - [Client.SendBatch]: many independent messages at once, one task each.
//   - [Client.Broadcast]: one message for up to a million chats, in chunk
//     tasks of type [tasks.TypeBroadcastChunk] on the bulk queue.
//   - [Client.Call]: any Bot API method of [tasks.Methods] (photos,
//     documents, albums, copies and forwards, edits, deletes, pins,
//     callback answers, chat actions), from its telego parameters, one task
//     of the method's type. [Client.SendPhoto], [Client.EditMessageText],
//     [Client.AnswerCallbackQuery] and the other typed calls are Call for
//     one method each; [Client.CallJSON] takes the Bot API's JSON instead.
//
// # Files
//
// A file given as a reader (tu.File(f), or a [File] for CallJSON) is read,
// within its field's limit (10 MB for a photo, 50 MB otherwise, and
// [Config.UploadMaxBytes]; a [*FileTooLargeError] names the field), and
// stored in Redis once per content, shared by every task that sends it; the
// task carries a reference ("attach://<name>" in its parameters). A worker
// sends it, remembers the file_id Telegram gives for the bot, and sends that
// file_id instead of the bytes the next time. A file_id or URL is passed as
// is.
//
//	r, err := c.SendPhoto(ctx, tu.Photo(tu.ID(42), tu.File(f)).WithCaption("Tom"))
//
// A caller that must store a file before it has the whole call (an HTTP
// server reading a multipart body, whose parts cannot be read twice) picks
// the task id first with [NewTaskID], stores each file with
// [Client.PutFile] under it ([Attachments] and [FileParams] tell which
// parameter, and so which limit, a file has), and queues the call with
// [Client.CallJSON], the files as [File.Stored] and the id as [TaskID].
// The files are then held by the task; when the call is refused, CallJSON
// releases them.
//
// # Validation
//
// Messages are checked before they are queued ([tasks.SendMessage.Validate]:
// text length after entity parsing, chat id, parse mode, entities, reply
// markup), and so is the bot: against [Config.Bots], or, when that is
// empty, against the bot names the running workers register in Redis. The
// error is a [*tasks.ValidationError] naming the field; nothing is queued.
//
// # Options
//
// Every call takes the same [Option] type. [Priority] (or [Critical] and
// [Bulk]) chooses the queue; workers poll critical, default and bulk
// weighted 6:3:1 by default (QUEUES). [SendAt] and [SendIn] schedule a
// message or broadcast, at most [MaxScheduleAhead] ahead; [Deadline] stops a
// message from being sent late, [MaxRetry] sets its retry budget, [Ordered]
// keeps a chat's order, [Bot] names the bot of a call; [BroadcastParallelism], [BroadcastChunkSize] and
// [BroadcastTTL] shape a broadcast. A bad option, or one that does not apply
// to the call, is an [*OptionError] naming it.
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
// [Client.Status] reports a task's [State] (pending, active, scheduled,
// retry, archived or completed) and type, its failed attempts and last
// error, and once sent the [tasks.SendResult] holding Telegram's message_id
// (MessageIDs for a reply), or for a call the [tasks.CallResult] (the
// message ids it created or changed, the file_ids of their media). Sent
// tasks are kept for [Config.Retention] (24h by default).
//
// # Broadcasts
//
// [Client.Broadcast] stores the message and the packed chat ids once, in
// well under a second for a million chats; workers send them in chunks on
// the bulk queue, within the rate limits and leaving room for critical
// messages. [Client.BroadcastStatus] reports how many were sent, failed,
// blocked the bot or are pending, [Client.BroadcastBlocked] lists the chats
// that answered 403, and [Client.CancelBroadcast] stops what was not sent
// yet.
//
// # Errors
//
// Besides validation errors, calls return errors wrapping [ErrUnavailable]
// when Redis cannot be reached (the HTTP API answers 503), [ErrNotFound]
// from Status, a [*DuplicateError], and an [*OptionError] (matching
// [ErrInvalidOption]) for a bad option.
package client
