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

// ServerStats describes one live worker process: its asynq server, and the
// callback lane's beside it (a second asynq server in the same process that
// serves tasks.QueueCallbacks alone).
type ServerStats struct {
	ID          string `json:"id"`
	Host        string `json:"host"`
	PID         int    `json:"pid"`
	Concurrency int    `json:"concurrency"`
	// CallbackConcurrency is the process's senders of callback answers.
	CallbackConcurrency int            `json:"callback_concurrency,omitempty"`
	Queues              map[string]int `json:"queues"`
	StrictPriority      bool           `json:"strict_priority"`
	Status              string         `json:"status"`
	StartedAt           time.Time      `json:"started_at"`
	ActiveWorkers       int            `json:"active_workers"`
}

// Stats is the body of GET /v1/stats.
type Stats struct {
	Queues []QueueStats `json:"queues"`
	// Totals adds up the queues (Queue is "all").
	Totals  QueueStats    `json:"totals"`
	Servers []ServerStats `json:"servers"`
	// TotalWorkers is the concurrency summed over live worker processes:
	// how many messages and calls can be sent at once; ActiveWorkers how
	// many are being sent. CallbackWorkers are the callback lanes' senders
	// besides them.
	TotalWorkers    int       `json:"total_workers"`
	CallbackWorkers int       `json:"callback_workers,omitempty"`
	ActiveWorkers   int       `json:"active_workers"`
	CollectedAt     time.Time `json:"collected_at"`
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
	infos, err := ctxwait.Do(ctx, func() ([]*asynq.QueueInfo, error) {
		return metrics.QueueInfos(insp, tasks.Queues[:])
	})
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
	// One entry per process: a callback lane joins its process's server.
	type proc struct {
		host string
		pid  int
	}
	byProc := map[proc]int{} // index in st.Servers
	lane := func(srv *asynq.ServerInfo) bool {
		_, ok := srv.Queues[tasks.QueueCallbacks]
		return ok && len(srv.Queues) == 1
	}
	// Main servers first, so that a lane finds its process's entry.
	sort.SliceStable(servers, func(i, j int) bool { return !lane(servers[i]) && lane(servers[j]) })
	for _, srv := range servers {
		st.ActiveWorkers += len(srv.ActiveWorkers)
		if i, ok := byProc[proc{srv.Host, srv.PID}]; ok && lane(srv) {
			st.Servers[i].CallbackConcurrency += srv.Concurrency
			st.Servers[i].ActiveWorkers += len(srv.ActiveWorkers)
			st.CallbackWorkers += srv.Concurrency
			continue
		}
		byProc[proc{srv.Host, srv.PID}] = len(st.Servers)
		st.Servers = append(st.Servers, ServerStats{
			ID: srv.ID, Host: srv.Host, PID: srv.PID, Concurrency: srv.Concurrency, Queues: srv.Queues,
			StrictPriority: srv.StrictPriority, Status: srv.Status, StartedAt: srv.Started.UTC(),
			ActiveWorkers: len(srv.ActiveWorkers),
		})
		st.TotalWorkers += srv.Concurrency
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
