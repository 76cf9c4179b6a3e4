package web

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/internal/ctxwait"
	"github.com/telequeue/telequeue/internal/metrics"
	"github.com/telequeue/telequeue/tasks"
)

// statsTimeout bounds the Redis reads of one /v1/stats request.
const statsTimeout = 10 * time.Second

// QueueStats are the figures of one queue.
type QueueStats struct {
	Queue          string  `json:"queue"`
	Size           int     `json:"size"`
	Pending        int     `json:"pending"`
	Active         int     `json:"active"`
	Scheduled      int     `json:"scheduled"`
	Retry          int     `json:"retry"`
	Archived       int     `json:"archived"`
	Completed      int     `json:"completed"`
	Aggregating    int     `json:"aggregating"`
	LatencySeconds float64 `json:"latency_seconds"`
	Paused         bool    `json:"paused"`
	// ProcessedTotal and FailedTotal are asynq's cumulative counters;
	// ProcessedToday and FailedToday reset at midnight UTC.
	ProcessedTotal int `json:"processed_total"`
	FailedTotal    int `json:"failed_total"`
	ProcessedToday int `json:"processed_today"`
	FailedToday    int `json:"failed_today"`
}

// ServerStats describes one live worker process (an asynq server).
type ServerStats struct {
	ID             string         `json:"id"`
	Host           string         `json:"host"`
	PID            int            `json:"pid"`
	Concurrency    int            `json:"concurrency"`
	Queues         map[string]int `json:"queues"`
	StrictPriority bool           `json:"strict_priority"`
	Status         string         `json:"status"`
	StartedAt      time.Time      `json:"started_at"`
	ActiveWorkers  int            `json:"active_workers"`
}

// Stats is the body of GET /v1/stats.
type Stats struct {
	Queues []QueueStats `json:"queues"`
	// Totals adds up the queues (Queue is "all").
	Totals  QueueStats    `json:"totals"`
	Servers []ServerStats `json:"servers"`
	// TotalWorkers is the concurrency summed over live servers: how many
	// messages can be sent at once; ActiveWorkers how many are being sent.
	TotalWorkers  int       `json:"total_workers"`
	ActiveWorkers int       `json:"active_workers"`
	CollectedAt   time.Time `json:"collected_at"`
}

func (s *Server) getStats(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), statsTimeout)
	defer cancel()
	st, err := collectStats(ctx, s.inspector)
	if err != nil {
		s.serverError(w, r, "stats", err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// collectStats reads the figures of every queue and live server.
func collectStats(ctx context.Context, insp Inspector) (*Stats, error) {
	infos, err := ctxwait.Do(ctx, func() ([]*asynq.QueueInfo, error) { return metrics.QueueInfos(insp, tasks.Queues[:]) })
	if err != nil {
		return nil, fmt.Errorf("queues: %w", err)
	}
	servers, err := ctxwait.Do(ctx, insp.Servers)
	if err != nil {
		return nil, fmt.Errorf("servers: %w", err)
	}
	st := &Stats{Queues: make([]QueueStats, 0, len(infos)), Servers: make([]ServerStats, 0, len(servers)),
		Totals: QueueStats{Queue: "all"}, CollectedAt: time.Now().UTC()}
	for _, q := range infos {
		qs := QueueStats{
			Queue: q.Queue, Size: q.Size, Pending: q.Pending, Active: q.Active, Scheduled: q.Scheduled,
			Retry: q.Retry, Archived: q.Archived, Completed: q.Completed, Aggregating: q.Aggregating,
			LatencySeconds: q.Latency.Seconds(), Paused: q.Paused,
			ProcessedTotal: q.ProcessedTotal, FailedTotal: q.FailedTotal,
			ProcessedToday: q.Processed, FailedToday: q.Failed,
		}
		st.Queues = append(st.Queues, qs)
		t := &st.Totals
		t.Size += qs.Size
		t.Pending += qs.Pending
		t.Active += qs.Active
		t.Scheduled += qs.Scheduled
		t.Retry += qs.Retry
		t.Archived += qs.Archived
		t.Completed += qs.Completed
		t.Aggregating += qs.Aggregating
		t.LatencySeconds = max(t.LatencySeconds, qs.LatencySeconds)
		t.ProcessedTotal += qs.ProcessedTotal
		t.FailedTotal += qs.FailedTotal
		t.ProcessedToday += qs.ProcessedToday
		t.FailedToday += qs.FailedToday
	}
	for _, srv := range servers {
		st.Servers = append(st.Servers, ServerStats{
			ID: srv.ID, Host: srv.Host, PID: srv.PID, Concurrency: srv.Concurrency, Queues: srv.Queues,
			StrictPriority: srv.StrictPriority, Status: srv.Status, StartedAt: srv.Started.UTC(),
			ActiveWorkers: len(srv.ActiveWorkers),
		})
		st.TotalWorkers += srv.Concurrency
		st.ActiveWorkers += len(srv.ActiveWorkers)
	}
	sort.Slice(st.Servers, func(i, j int) bool {
		a, b := st.Servers[i], st.Servers[j]
		if a.Host != b.Host {
			return a.Host < b.Host
		}
		return a.PID < b.PID
	})
	return st, nil
}
