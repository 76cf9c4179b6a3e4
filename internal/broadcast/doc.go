// Package broadcast keeps a broadcast's state in Redis: its message, its
// recipients in chunks, each chunk's progress, the counters and the list of
// chats that blocked the bot. The client package creates, reads and cancels
// broadcasts through a [Store]; the chunk handler (handlers.BroadcastHandler)
// reads recipients and settles them one by one.
//
// # Layout
//
// All keys of one broadcast share the Redis Cluster hash tag {<id>}, so every
// script touches one slot. With the prefix "telequeue:bc:":
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
// A million recipients take about 8 MB while pending; a chunk's lists are
// deleted when it is done. Every key expires after the broadcast's TTL.
//
// # Settling
//
// Each recipient is settled exactly once — sent, failed, blocked, cancelled —
// by a script that advances the chunk's cursor only if it still holds the
// value the caller read (compare and set), and adds to the counters in the
// same step. Two runs of one chunk (a task recovered while its first run
// still works) therefore never count a recipient twice, and a run that loses
// the race re-reads the cursor. A recipient with a transient error is not
// settled: it is appended to the next pass's list.
//
// settled == total marks the broadcast finished (the time is stored once).
package broadcast
