// Package recovery gives the tasks of a worker process that died (SIGKILL,
// OOM kill, a lost machine) to the other workers within seconds, where
// asynq alone takes two minutes: its lease is 30 s and not configurable, and
// its recoverer looks for expired leases once a minute.
//
// # Heartbeat
//
// Every worker process beats every Beat (default 250 ms): one script writes
// the Redis time of the beat into [keys.RecoveryProcs] and the tasks its
// handlers run now (kept in memory by [Process.Begin], no Redis command per
// task) into [keys.RecoveryInflight].
//
// # Recoverer
//
// In the same script as its beat, every process looks for processes whose
// last beat is older than DeadAfter (default 13 s: a process stopped for
// 12 s, by a GC pause or a starved CPU, plus one beat, is still alive); a
// process whose own beat failed waits DeadAfter of good beats before it
// looks, so that a Redis outage does not make everyone look dead. One
// recoverer at a time
// (a short lock) takes each task of a dead process that asynq still holds as
// active back to the head of its queue, as asynq's own Requeue does (the run
// does not count as a failure), and writes the task's fence. A task is
// taken only if its asynq lease stopped being extended around the dead
// process's last beat: asynq's heartbeater extends a live worker's leases
// every 5 s to 30 s ahead, so a task that a live worker runs again is never
// taken from it.
//
// # Fence
//
// A process that was only stopped may wake after its tasks were taken. Its
// handlers read the fence in a round trip they make anyway and return
// [ErrFenced] rather than send (see [QueueFence] and [Fence.Check]), before
// every Bot API call and after any sleep: in every limiter call and in the
// 429-pause check after a reserved slot's sleep; without a limiter, with
// the sent marker's read, before each part of a multi-part reply in the
// write of the part before, and before each recipient of a broadcast chunk
// in the round trip that settles the recipient before, and in a round trip
// of its own after a broadcast's wait for another sender's upload.
//
// asynq's key layout is private; contract_test.go fails when an asynq
// upgrade changes what the take script relies on.
package recovery
