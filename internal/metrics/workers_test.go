package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/telequeue/telequeue/internal/metrics"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/tasks"
)

// TestQueueCollectorWorkers checks the live-worker gauges against a real
// asynq server: one process with 3 senders, one of them busy; none once it
// has shut down.
func TestQueueCollectorWorkers(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	insp := newInspector(t, srv)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewQueueCollector(insp))

	if got := gather(t, reg, "telequeue_workers"); got["status=active"] != 0 || len(got) != 2 {
		t.Fatalf("before any worker: telequeue_workers = %v, want active 0 and stopped 0", got)
	}

	started := make(chan struct{})
	release := make(chan struct{})
	server := asynq.NewServer(asynq.RedisClientOpt{Addr: srv.Addr()}, asynq.Config{
		Concurrency: 3, Queues: map[string]int{tasks.QueueDefault: 1},
		TaskCheckInterval: 20 * time.Millisecond,
		Logger:            quietLogger{}, LogLevel: asynq.FatalLevel,
	})
	mux := asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		close(started)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	if err := server.Start(mux); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			close(release)
			server.Shutdown()
		}
	}()
	enqueue(t, srv, tasks.QueueDefault)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the task did not start")
	}
	// asynq's heartbeater writes the server's record at start and its
	// workers every 5 s: wait for the busy sender to show.
	deadline := time.Now().Add(15 * time.Second)
	for {
		w := gather(t, reg, "telequeue_workers")
		s := gather(t, reg, "telequeue_worker_slots")
		if w["status=active"] == 1 && s["state=total"] == 3 && s["state=busy"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with one busy worker of 3: telequeue_workers = %v, telequeue_worker_slots = %v", w, s)
		}
		time.Sleep(100 * time.Millisecond)
	}

	close(release)
	server.Shutdown()
	stopped = true
	if got := gather(t, reg, "telequeue_workers"); got["status=active"] != 0 {
		t.Errorf("after shutdown: telequeue_workers = %v, want active 0", got)
	}
}

type quietLogger struct{}

func (quietLogger) Debug(...any) {}
func (quietLogger) Info(...any)  {}
func (quietLogger) Warn(...any)  {}
func (quietLogger) Error(...any) {}
func (quietLogger) Fatal(...any) {}

// TestSenderMetricsInit: every counter series of a bot exists at 0 from the
// start, so that increase() sees the first 429 (the alert "any 429").
func TestSenderMetricsInit(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	metrics.NewSenderMetrics(reg).Init([]string{"default", "alerts"})
	for _, tt := range []struct {
		metric string
		series int
	}{
		{"telequeue_telegram_429_total", 2},
		{"telequeue_retries_total", 2},
		{"telequeue_sends_total", 16}, // 8 outcomes × 2 bots
		{"telequeue_rate_limit_waits_total", 4},
	} {
		got := gather(t, reg, tt.metric)
		if len(got) != tt.series {
			t.Errorf("%s has %d series, want %d at 0: %v", tt.metric, len(got), tt.series, got)
		}
		for k, v := range got {
			if v != 0 {
				t.Errorf("%s{%s} = %v, want 0", tt.metric, k, v)
			}
		}
	}
}
