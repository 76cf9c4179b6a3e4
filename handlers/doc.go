// Package handlers holds the asynq handlers that call Telegram.
//
// [SendMessageHandler] processes [tasks.TypeSendMessage] tasks: it decodes and
// validates the payload, waits for a slot from the cluster-wide [Limiter],
// calls sendMessage with telego's types (see [NewBots]), and sorts the
// outcome into the state the task ends in:
//
//	success                      completed; Telegram's message_id is the task's result
//	429 Too Many Requests        rescheduled after retry_after, not counted as a failure
//	                             (see [IsFailure]); the Limiter pauses the bot or chat
//	400 + migrate_to_chat_id     resent at once to the new supergroup id
//	400, 403                     archived at once (asynq.SkipRetry) with Telegram's description,
//	                             except an edit's "message is not modified" (completed, not
//	                             modified) and a delete's "message to delete not found"
//	                             (completed, already gone): see classifyCall
//	401                          archived, logged as a configuration error
//	5xx, timeout, network        retried with exponential backoff and jitter (see [RetryDelay])
//	invalid payload, unknown bot archived at once, with the field and the reason
//	payload "v" newer than this  retried (see [ErrNewerPayload]): an upgraded worker sends it
//	build reads
//
// Multi-part replies and broadcasts classify Telegram's answers by the same
// rules (a broadcast records a recipient's permanent failure and goes on
// with the next one instead of archiving its chunk), and every task type
// decodes its payload by the same rules.
//
// A task rescheduled without counting a failure returns a [Rescheduled]
// error, which [IsFailure] and [RetryDelay] read: [*TooManyRequestsError] (a
// 429), [*LimiterWaitError] (the limiter had no slot soon enough),
// [*WaitingError] (an ordered message waiting for its turn) or
// [*SnoozeError] (a broadcast chunk pausing).
//
// Error texts returned to asynq are stored in Redis and shown in the dashboard.
// They are built here from Telegram's description or a short transport
// summary, never from telego's error text, which can contain the request URL
// and so the bot token.
//
// Before a send, the handler looks for the task's "sent" marker (read in the
// round trip in which asynq dequeued the task, see [Prefetch], or else in
// that of its first limiter call); right after Telegram confirms, it writes
// one, together with the task's result (in the round trip in which asynq
// completes the task, see [Completions]). A task that runs again after a
// crash or a Redis outage, but whose message was already delivered,
// completes without sending again.
//
// Rate-limit waits: a wait for the bot's budget is reserved and slept in the
// handler; a wait the chat sets (its own limit, a group's per-minute limit, a
// paused chat) is slept without a reservation by at most
// [Config.ChatWaiters] sends at a time, and anything longer than the
// limiter's MaxWait is rescheduled without counting a failure. A chat's wait
// is not reserved because a reservation books one instant in every budget:
// a message reserved a second ahead for its chat's sake would idle the
// bot's whole budget for that second.
//
// [TaskHandlers] adds the handlers built on it: [SendMessagesHandler] sends a
// multi-part reply part by part and resumes after the last part sent, and
// [OrderedHandler] runs ordered messages and replies one at a time per chat,
// in enqueue order (design in internal/ordering).
//
// [BroadcastHandler] sends one chunk of a broadcast's recipients, recording
// each recipient's outcome in Redis as soon as Telegram answers, and hands
// over to the next chunk of its lane; it reserves only a short lookahead and
// a share of the bot's budget so that other messages are not starved (design
// in internal/broadcast).
package handlers
