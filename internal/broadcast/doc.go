// Package broadcast keeps a broadcast's state in Redis: its message, its
// recipients in chunks, each chunk's progress, the counters and the list of
// chats that blocked the bot. The client package creates, reads and cancels
// broadcasts through a [Store]; the chunk handler (handlers.BroadcastHandler)
// reads recipients and settles them one by one.
//
// # Design
//
// A broadcast is stored once: the message JSON in a hash, the recipients
// packed 8 bytes each in strings of up to 1000 (one SET per chunk, pipelined
// 64 chunks per round trip). Accepting 1,000,000 recipients takes about 25
// round trips and 8 MB of Redis memory, instead of a million asynq tasks
// (about a kilobyte each).
//
// The chunks are sent by chunk tasks (tasks.TypeBroadcastChunk) on the bulk
// queue, in lanes: the client enqueues the first task of each of Parallelism
// lanes (chunks 0..P-1), and a chunk task that has gone once through its
// recipients enqueues the next chunk of its lane (chunk + P) under a fixed
// task id. So a broadcast never has more than P tasks in asynq, never holds
// more than P senders, and cancellation has at most P tasks to stop. Each
// worker process also runs at most half its senders' worth of chunks
// (handlers.BroadcastConfig.MaxActive), so critical and default messages
// always find a free sender.
//
// A chunk task sends to its recipients one after the other. For each it waits
// for a limiter slot, sends, and records the outcome at once, with a script
// that advances the chunk's cursor and the counters together (see Settling).
// A run stops after a time slice (1 minute) and reschedules itself, giving
// its sender back; after a crash or a retry it resumes after the last
// recipient recorded.
//
// # Sharing the rate limit
//
// The cluster-wide limiter books slots first come, first served. If
// broadcast senders booked slots up to the usual 2 s ahead, a critical
// message would queue behind seconds of broadcast traffic. Broadcast sends
// therefore reserve a slot only when it is at most a lookahead (50 ms) away
// (ratelimit.Limiter.Acquire); a chunk whose slot is further sleeps
// until the slot comes within the lookahead and asks again, queued behind
// the other waiting chunks of its process (one asks per slot, not all). A
// critical or default message reserving meanwhile takes the next free slot,
// behind at most the lookahead of broadcast traffic.
//
// Broadcast sends also use only a share (0.85) of the bot's budget: each
// moves the bot's next slot T/0.85 later instead of T (ratelimit.Within.Share).
// That leaves about 4.5 of Telegram's 30 messages per second to other
// messages, and slack after each broadcast send for the jitter between the
// reserved instant and the moment Telegram sees the request — jitter that,
// at 100% of the budget, draws 429s, each of which pauses the whole bot for
// a second. Before sending, a chunk that slept for its slot checks that no
// 429 pause began meanwhile (ratelimit.Limiter.Paused), so that it does not
// send into one.
//
// # Outcomes
//
//	Telegram confirms           sent
//	403 (blocked, deactivated,  blocked; the chat is appended to the blocked list
//	  kicked)
//	400 and other 4xx           failed
//	400 + migrate_to_chat_id    resent to the new id (twice at most)
//	5xx, timeout, network       the recipient is appended to the next retry pass;
//	                            after 3 retry passes (10 s, 40 s, 160 s later) it
//	                            counts as failed. Three failures in a row are taken
//	                            for an outage: the chunk task fails and is retried
//	                            with backoff instead
//	429                         the limiter pauses the bot or chat; the chunk task is
//	                            rescheduled after retry_after (not a failure) and
//	                            resumes at the same recipient
//	401                         the chunk task is archived with the reason, which the
//	                            broadcast's status shows; run it again from the
//	                            dashboard once the token is fixed: it resumes
//
// # Settling
//
// Each recipient is settled exactly once — sent, failed, blocked, cancelled —
// by a script that advances the chunk's cursor only if it still holds the
// value the caller read (compare and set), and adds to the counters in the
// same step. Two runs of one chunk (a task recovered while its first run
// still works) therefore never count a recipient twice, and a run that loses
// the race re-reads the cursor. A recipient with a transient error is not
// settled: it is appended to the next pass's list in the same step.
//
// The script runs right after Telegram's answer, with its own context, and
// is retried while Redis is unreachable (up to 10 minutes), like the sent
// markers of single messages. A chat can get the message twice only if the
// worker dies, or Redis stays away longer than that, between Telegram's
// confirmation and the script: at most one recipient per chunk running at
// that moment. A transient error that hides a delivery (a timeout after
// Telegram accepted the message) is retried and may also duplicate that
// recipient's message.
//
// settled == total marks the broadcast finished (the time is stored once).
//
// # Cancellation
//
// Cancel marks the broadcast cancelled and, in the same script, settles as
// cancelled every chunk no task has started (its progress becomes "d", so a
// task that starts later finds it done). A running chunk sees the state in
// the reply of its next settle and settles its remaining recipients as
// cancelled; a chunk task waiting in the retry set is moved to pending so
// that it does so at once. At most one message per running chunk can still
// go out after Cancel returns: the one being sent.
//
// # Layout
//
// All keys of one broadcast share the Redis Cluster hash tag {<id>}, so every
// script touches one slot (keys.Broadcast names them). With the prefix
// "telequeue:bc:":
//
//	telequeue:bc:{id}:meta      hash: message JSON, bot, total, chunk size,
//	                            chunks, lanes, state, timestamps, last error
//	                            and the counters sent, failed, blocked,
//	                            cancelled and settled
//	telequeue:bc:{id}:progress  hash: chunk index → "pass:cursor" while the
//	                            chunk runs, "d" once it is done
//	telequeue:bc:{id}:r:<c>     string: chunk c's recipients, 8 bytes each
//	                            (int64, little endian)
//	telequeue:bc:{id}:r:<c>:<p> string: recipients of chunk c to try again in
//	                            retry pass p (a transient error in pass p-1)
//	telequeue:bc:{id}:blocked   string: chats that answered 403, 8 bytes each
//
// A chunk's lists are deleted when it is done. Every key expires with the
// broadcast's TTL (7 days from creation by default); a broadcast still
// sending then stops.
package broadcast
