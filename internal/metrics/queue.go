package metrics

import (
	"fmt"
	"log/slog"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/telequeue/telequeue/tasks"
)

// QueueInspector is the part of *asynq.Inspector the queue collector reads.
type QueueInspector interface {
	Queues() ([]string, error)
	GetQueueInfo(queue string) (*asynq.QueueInfo, error)
	Servers() ([]*asynq.ServerInfo, error)
}

var _ QueueInspector = (*asynq.Inspector)(nil)

const namespace = "telequeue"

var (
	queueSizeDesc = prometheus.NewDesc(namespace+"_queue_size",
		"Tasks in the queue: pending, active, scheduled, retry, aggregating and archived.",
		[]string{"queue"}, nil)
	queueTasksDesc = prometheus.NewDesc(namespace+"_queue_tasks",
		"Tasks in the queue by state.",
		[]string{"queue", "state"}, nil)
	queueLatencyDesc = prometheus.NewDesc(namespace+"_queue_latency_seconds",
		"Age of the oldest pending task of the queue.",
		[]string{"queue"}, nil)
	queuePausedDesc = prometheus.NewDesc(namespace+"_queue_paused",
		"1 while the queue is paused, else 0.",
		[]string{"queue"}, nil)
	queueMemoryDesc = prometheus.NewDesc(namespace+"_queue_memory_usage_approx_bytes",
		"Approximate Redis memory used by the queue and its tasks (sampled by asynq).",
		[]string{"queue"}, nil)
	processedDesc = prometheus.NewDesc(namespace+"_tasks_processed_total",
		"Tasks processed by the queue's workers, succeeded or failed.",
		[]string{"queue"}, nil)
	failedDesc = prometheus.NewDesc(namespace+"_tasks_failed_total",
		"Tasks whose handler returned a failure.",
		[]string{"queue"}, nil)
	upDesc = prometheus.NewDesc(namespace+"_queue_inspector_up",
		"1 when the last scrape could read the queues from Redis, else 0.",
		nil, nil)
	workersDesc = prometheus.NewDesc(namespace+"_workers",
		"Live worker processes (asynq servers whose heartbeat is fresh), by status: active, or stopped (no longer fetching, e.g. draining for a deploy).",
		[]string{"status"}, nil)
	workerSlotsDesc = prometheus.NewDesc(namespace+"_worker_slots",
		"Senders (concurrency) of the live worker processes, and how many are busy with a task.",
		[]string{"state"}, nil)
)

// QueueCollector exports the state of asynq's queues, read from Redis on
// every scrape. Build it with [NewQueueCollector].
type QueueCollector struct {
	inspector QueueInspector
	known     []string
	logger    *slog.Logger
}

var _ prometheus.Collector = (*QueueCollector)(nil)

// NewQueueCollector returns a collector reading inspector (an
// *asynq.Inspector) on each scrape. telequeue's queues (critical, default,
// bulk) are always reported, with zeros until their first task; other queues
// are reported once asynq knows them. The caller closes the inspector.
func NewQueueCollector(inspector QueueInspector) *QueueCollector {
	return &QueueCollector{inspector: inspector, known: tasks.Queues[:], logger: slog.New(slog.DiscardHandler)}
}

// WithLogger makes the collector log Redis errors met during scrapes.
func (c *QueueCollector) WithLogger(l *slog.Logger) *QueueCollector {
	if l != nil {
		c.logger = l
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		queueSizeDesc, queueTasksDesc, queueLatencyDesc, queuePausedDesc,
		queueMemoryDesc, processedDesc, failedDesc, upDesc,
		workersDesc, workerSlotsDesc,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. When Redis cannot be read it
// reports telequeue_queue_inspector_up 0 and no queue series, so that the
// rest of the scrape still succeeds.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	infos, err := QueueInfos(c.inspector, c.known)
	if err != nil {
		c.logger.Warn("metrics: cannot read queues", "err", err)
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
	c.collectWorkers(ch)
	for _, q := range infos {
		gauge := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{q.Queue}, labels...)...)
		}
		gauge(queueSizeDesc, float64(q.Size))
		for _, s := range []struct {
			state string
			n     int
		}{
			{"pending", q.Pending}, {"active", q.Active}, {"scheduled", q.Scheduled},
			{"retry", q.Retry}, {"archived", q.Archived}, {"completed", q.Completed},
			{"aggregating", q.Aggregating},
		} {
			gauge(queueTasksDesc, float64(s.n), s.state)
		}
		gauge(queueLatencyDesc, q.Latency.Seconds())
		paused := 0.0
		if q.Paused {
			paused = 1
		}
		gauge(queuePausedDesc, paused)
		gauge(queueMemoryDesc, float64(q.MemoryUsage))
		ch <- prometheus.MustNewConstMetric(processedDesc, prometheus.CounterValue, float64(q.ProcessedTotal), q.Queue)
		ch <- prometheus.MustNewConstMetric(failedDesc, prometheus.CounterValue, float64(q.FailedTotal), q.Queue)
	}
}

// QueueInfos reads the queues asynq knows plus the always-present ones in
// known (zero-valued until they exist), in that order: known first, then the
// others as asynq lists them.
func QueueInfos(inspector QueueInspector, known []string) ([]*asynq.QueueInfo, error) {
	names, err := inspector.Queues()
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	exists := make(map[string]bool, len(names))
	for _, n := range names {
		exists[n] = true
	}
	order := append([]string(nil), known...)
	seen := make(map[string]bool, len(known))
	for _, n := range known {
		seen[n] = true
	}
	for _, n := range names {
		if !seen[n] {
			order = append(order, n)
			seen[n] = true
		}
	}
	infos := make([]*asynq.QueueInfo, 0, len(order))
	for _, n := range order {
		if !exists[n] {
			infos = append(infos, &asynq.QueueInfo{Queue: n})
			continue
		}
		info, err := inspector.GetQueueInfo(n)
		if err != nil {
			return nil, fmt.Errorf("queue %s: %w", n, err)
		}
		infos = append(infos, info)
	}
	return infos, nil
}

// collectWorkers reports the live worker processes: asynq's server records,
// which each server refreshes every 5 s and which expire 10 s after the last
// refresh, so a killed worker drops out within about 10 s.
func (c *QueueCollector) collectWorkers(ch chan<- prometheus.Metric) {
	servers, err := c.inspector.Servers()
	if err != nil {
		c.logger.Warn("metrics: cannot read worker servers", "err", err)
		return
	}
	status := map[string]float64{"active": 0, "stopped": 0}
	var slots, busy float64
	for _, s := range servers {
		status[s.Status]++
		slots += float64(s.Concurrency)
		busy += float64(len(s.ActiveWorkers))
	}
	for st, n := range status {
		ch <- prometheus.MustNewConstMetric(workersDesc, prometheus.GaugeValue, n, st)
	}
	ch <- prometheus.MustNewConstMetric(workerSlotsDesc, prometheus.GaugeValue, slots, "total")
	ch <- prometheus.MustNewConstMetric(workerSlotsDesc, prometheus.GaugeValue, busy, "busy")
}
