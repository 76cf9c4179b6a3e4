// Package metrics exports telequeue's Prometheus metrics.
//
// # Queue metrics
//
// [NewQueueCollector] returns a collector that reads asynq's Inspector on
// every scrape, so that any process (web, a worker) can export the state of
// the shared queues without keeping its own counters:
//
//	telequeue_queue_size{queue}                     tasks in the queue (pending+active+scheduled+retry+aggregating+archived)
//	telequeue_queue_tasks{queue,state}              tasks by state: pending, active, scheduled, retry, archived, completed, aggregating
//	telequeue_queue_latency_seconds{queue}          age of the oldest pending task
//	telequeue_queue_paused{queue}                   1 while the queue is paused
//	telequeue_queue_memory_usage_approx_bytes{queue} Redis memory of the queue (sampled by asynq)
//	telequeue_tasks_processed_total{queue}          tasks processed, succeeded or failed (asynq's cumulative counter)
//	telequeue_tasks_failed_total{queue}             tasks whose handler failed (asynq's cumulative counter)
//	telequeue_queue_inspector_up                    1 when the last scrape could read Redis, else 0
//	telequeue_workers{status}                       live worker processes: active, or stopped (draining)
//	telequeue_worker_slots{state}                   their senders: total, and busy with a task
//
// [NewBroadcastCollector] returns one that reads the broadcasts created in the
// last 24 hours (at most 50):
//
//	telequeue_broadcast_recipients{id,bot,state}    recipients by state: sent, failed, blocked, cancelled, pending
//
// # Sender metrics
//
// [SenderMetrics] implements handlers.Observer; worker processes record every
// Bot API call with it:
//
//	telequeue_sends_total{bot,outcome}                    Bot API calls by outcome (sent, rate_limited, permanent, ...)
//	telequeue_telegram_request_seconds{bot}               Bot API latency (histogram)
//	telequeue_telegram_429_total{bot}                     429 Too Many Requests answers
//	telequeue_rate_limit_waits_total{bot,rescheduled}     sends delayed by the cluster-wide rate limiter
//	telequeue_rate_limit_wait_seconds{bot,rescheduled}    length of those delays (histogram)
//	telequeue_retries_total{bot}                          transient failures that will be retried
//
// [Handler] serves a registry in the Prometheus text format; [NewRegistry]
// returns one with the Go runtime and process collectors already registered.
package metrics
