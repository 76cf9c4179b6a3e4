// Package ordering delivers ordered messages one at a time, in enqueue order,
// per bot and chat, on top of asynq, which has no per-key ordering (asynq
// issue #1090; its groups aggregate tasks, they do not serialize them).
//
// # Semantics
//
// Like an SQS FIFO message group: the messages enqueued with the ordered
// option for one (bot, chat) are delivered in the order the enqueue calls
// returned, one in flight at a time, whatever the number of worker processes
// and whatever 429s, 5xx answers, timeouts and retries happen on the way. A
// message that fails for good is archived (with its reason, in the dashboard
// like any archived task) and the next one proceeds. Unordered messages are
// not involved and keep full parallelism; ordered messages of different
// chats run in parallel.
//
// # Design
//
// Every ordered message is an ordinary asynq task (its own id, queue,
// retries, result, Status, dashboard entry) of the type
// tasks.TypeSendMessageOrdered or tasks.TypeSendMessagesOrdered. Next to it,
// each chat has an order in Redis: a sorted set of the ids of its
// outstanding ordered tasks, scored by a per-chat sequence number, and a
// hash with each task's queue and registration time. The head of the order
// (lowest sequence number) is the only task of the chat allowed to send.
//
//  1. Enqueue (client). One Lua script increments the chat's sequence and
//     adds the task id: registration happens before the call returns, so the
//     sequence is the order in which calls returned (two calls that overlap
//     have no order to keep). Then the task is enqueued. The head is
//     enqueued as due; any other task is enqueued *parked*: scheduled
//     for a fallback time, ParkBase × position (15 s per position, at most
//     ParkMax, 5 min), so that it takes no worker slot while it waits. If
//     the head finished between the two steps, nobody could wake the parked
//     task, so the client then checks whether its task became the head and
//     wakes it (below). If the enqueue fails, the id is withdrawn again.
//
//  2. Turn (worker). Before sending, the handler checks in one script that
//     its task is the head. If not, it parks again: it returns an error that
//     asynq reschedules after the park delay without counting a failure
//     (IsFailure is false), so its retries are not used up; the task's
//     last error reads "ordered: waiting for its turn behind …".
//
//  3. Done (worker). When the head's outcome is final — sent, or failing
//     for good (a permanent Telegram error, or the last retry failed), which
//     asynq archives — the handler removes it from the order and wakes the
//     next head at once with Inspector.RunTask, which moves a parked task
//     to pending: the chat's next message starts within one worker poll
//     (TASK_CHECK_INTERVAL), not after a scheduled delay, and without
//     asynq's whole-second retry granularity. A transient failure or a 429
//     leaves the head in place: it is retried with its backoff, and the
//     messages behind it wait (strict order).
//
// A wake is a RunTask only for a parked task (scheduled, or retry with the
// park error), so the backoff of a task retrying after a failure is never
// cut short, and an archived task is never revived. A wake that finds the
// next task still active (it is that moment returning its own park error)
// retries for up to WakeWait (2 s).
//
// # Nothing blocks forever
//
// A head can stop being worked on without telling its order: deleted or
// archived from the dashboard, archived by asynq's recoverer after a crash
// with no retries left, past its Deadline, or registered by a client that
// died before enqueuing it. Whenever the next task runs (woken, or when its
// park delay ends) it inspects the head: a head that is archived or
// completed is removed at once; a head whose task does not exist is removed
// once it was registered more than Grace (1 min) ago, which leaves a client
// time to finish enqueuing it. A waiting chat therefore resumes at the
// latest after the park delay of its next message (≤ ParkMax, 5 min) plus
// asynq's forwarder interval. A crashed worker holding the head leaves the
// head "active" until asynq's recoverer retries it (it runs every minute and
// takes leases expired for 30 s, so 1–2 min after the crash); the chat
// resumes then, in order.
//
// A task that runs while it is not in its order (an archived message re-run
// from the dashboard, or a task whose registration was given up as vanished
// and that turned up later) joins the end of the order, like a new message,
// unless its "sent" marker shows that it was already delivered.
//
// # Throughput and cost
//
// Ordered delivery is one message at a time per chat by definition, and
// Telegram allows about one message per second per chat anyway
// (TELEGRAM_RATE_CHAT). Per message it costs three scripts on the chat's
// keys (register, turn, done) and a wake (asynq's GetTaskInfo and RunTask,
// a few round trips); a message parked at enqueue takes no worker slot, and
// one that is not woken costs a short handler run per park delay. Measured
// without rate limits, a chat's next message starts about 20 ms after the
// previous one was sent (3 servers, TASK_CHECK_INTERVAL 20 ms); an idle
// worker polls every TASK_CHECK_INTERVAL (1 s by default), which bounds the
// hand-over on an otherwise idle system. The chat's keys expire
// KeyTTL (7 days) after their last use and are deleted when the order
// empties.
//
// # Keys
//
// See keys.Order: telequeue:ord:{<bot>:<chat>}:q (sorted set) and
// telequeue:ord:{<bot>:<chat>}:m (hash). Both carry the same Redis Cluster
// hash tag, so each script touches one slot.
//
// # Caveats
//
//   - An ordered message cannot be scheduled (SendAt/SendIn): it would hold
//     up its chat until then. The client refuses the combination.
//   - A message whose reply from Telegram was lost (timeout after delivery)
//     is sent again by its retry, at-least-once as every message; the
//     duplicate comes right after the original, before the next message.
//   - A re-run of an archived message that has no retries left and has to
//     wait behind others is archived again by asynq when it parks (asynq
//     archives any error once retries are exhausted); re-run it when the
//     chat is idle, or raise its MaxRetry.
//   - An enqueue cut short by the caller's context may still land in Redis
//     after the client withdrew its registration; that message then joins
//     the end of the order when a worker sees it.
package ordering
