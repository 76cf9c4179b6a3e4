// Package faulttest proves telequeue's delivery guarantees under the faults
// production brings. Its tests start real processes — the cmd/worker and
// cmd/web binaries and redis-server — send messages through them to the Bot
// API sandbox, inject a fault, and count: every accepted message delivered,
// duplicates counted and bounded.
//
//   - TestWorkerSIGKILL: two of six workers killed (-9) mid-load while
//     Redis stops answering them. With the records riding asynq's
//     completion (the default), no task with a marker is taken back or
//     sent twice; with COMPLETION_RIDES=false the kill comes just after
//     sends of theirs were confirmed and recorded but not yet done, with
//     and without sent markers: with them none of those is sent again,
//     without them each is.
//   - TestWorkerSIGTERM: a deploy; in-flight sends finish, the rest waits
//     for the next worker; and a send that outlives SHUTDOWN_TIMEOUT.
//   - TestRedisOutage: redis-server killed (-9) and restarted from its AOF
//     while workers and web keep running.
//   - TestHostileInput: payloads and requests built to break things.
//   - TestFastRecoveryKill, TestFastRecoveryKillOrdered,
//     TestFastRecoveryKillBroadcast: two of six workers killed (-9) under
//     plain, ordered and broadcast work; what they had in flight is sent by
//     another worker within 15 s of the kill. FAULT_ROUNDS sets how many
//     kill rounds each runs (default 2; the README's figures are of 5).
//   - TestFastRecoverySIGSTOP, TestFastRecoverySIGSTOPBroadcast: a worker
//     stopped 12 s mid-send, or mid-chunk, is not taken for dead; one
//     stopped past RECOVERY_DEAD_AFTER is fenced when it wakes.
//
// The tests run in the full suite, `go test ./...` (they need
// redis-server on PATH), each in bounded time, and are skipped with -short.
// They log their measurements (run with -v to see them). The package has no non-test code besides this comment.
package faulttest
