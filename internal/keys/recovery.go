package keys

// The fast crash recovery's keys (internal/recovery). Its bookkeeping shares
// the hash tag {recovery}, so that its scripts work on Redis Cluster; a
// fence shares its task's queue slot (asynq's keys are tagged {<queue>}),
// so that the script that takes a task back writes it atomically.

// RecoveryProcs is a sorted set from worker process id to the Redis time,
// in Unix milliseconds, of its last heartbeat.
const RecoveryProcs = Prefix + "{recovery}:procs"

// RecoveryLock is held (SET NX PX) by the one recoverer that takes a dead
// process's tasks back at a time.
const RecoveryLock = Prefix + "{recovery}:lock"

// RecoveryInflight holds the tasks a worker process runs now, as its last
// heartbeat wrote them.
func RecoveryInflight(proc string) string { return Prefix + "{recovery}:inflight:" + proc }

// Fence names the process a task was taken back from: that process must not
// send the task any more. It lives in the queue's slot.
func Fence(queue, taskID string) string { return Prefix + "fence:{" + queue + "}:" + taskID }
