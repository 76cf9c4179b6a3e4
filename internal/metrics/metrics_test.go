package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/internal/metrics"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/tasks"
)

func newInspector(t *testing.T, srv *redistest.Server) *asynq.Inspector {
	t.Helper()
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: srv.Addr()})
	t.Cleanup(func() { _ = insp.Close() })
	return insp
}

func enqueue(t *testing.T, srv *redistest.Server, queue string, opts ...asynq.Option) *asynq.TaskInfo {
	t.Helper()
	c := asynq.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()})
	defer c.Close()
	task, err := tasks.NewSendMessageTask(&tasks.SendMessage{ChatID: telego.ChatID{ID: 42}, Text: "hello"}, append([]asynq.Option{asynq.Queue(queue)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Enqueue(task)
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return info
}

// gather returns the value of each sample of the named metric, keyed by its
// labels as "name=value,..." in label order.
func gather(t *testing.T, g prometheus.Gatherer, name string) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var parts []string
			for _, l := range m.GetLabel() {
				parts = append(parts, l.GetName()+"="+l.GetValue())
			}
			out[strings.Join(parts, ",")] = value(mf.GetType(), m)
		}
	}
	return out
}

func value(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return m.GetUntyped().GetValue()
}

func TestQueueCollector(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	insp := newInspector(t, srv)

	enqueue(t, srv, tasks.QueueDefault)
	enqueue(t, srv, tasks.QueueDefault)
	enqueue(t, srv, tasks.QueueBulk, asynq.ProcessIn(time.Hour))
	archived := enqueue(t, srv, tasks.QueueDefault)
	if err := insp.ArchiveTask(tasks.QueueDefault, archived.ID); err != nil {
		t.Fatal(err)
	}
	enqueue(t, srv, "custom")
	if err := insp.PauseQueue("custom"); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewQueueCollector(insp))

	tests := []struct {
		metric string
		want   map[string]float64
	}{
		{"telequeue_queue_inspector_up", map[string]float64{"": 1}},
		{"telequeue_queue_size", map[string]float64{
			"queue=default": 3, "queue=bulk": 1, "queue=critical": 0, "queue=custom": 1,
		}},
		{"telequeue_queue_paused", map[string]float64{
			"queue=default": 0, "queue=bulk": 0, "queue=critical": 0, "queue=custom": 1,
		}},
		{"telequeue_tasks_processed_total", map[string]float64{
			"queue=default": 0, "queue=bulk": 0, "queue=critical": 0, "queue=custom": 0,
		}},
		{"telequeue_tasks_failed_total", map[string]float64{
			"queue=default": 0, "queue=bulk": 0, "queue=critical": 0, "queue=custom": 0,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.metric, func(t *testing.T) {
			got := gather(t, reg, tt.metric)
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("%s{%s} = %v, want %v (all: %v)", tt.metric, k, got[k], want, got)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("%s has %d series, want %d: %v", tt.metric, len(got), len(tt.want), got)
			}
		})
	}

	states := gather(t, reg, "telequeue_queue_tasks")
	for k, want := range map[string]float64{
		"queue=default,state=pending":  2,
		"queue=default,state=archived": 1,
		"queue=bulk,state=scheduled":   1,
		"queue=bulk,state=pending":     0,
		"queue=critical,state=retry":   0,
	} {
		if states[k] != want {
			t.Errorf("telequeue_queue_tasks{%s} = %v, want %v", k, states[k], want)
		}
	}
	if lat := gather(t, reg, "telequeue_queue_latency_seconds")["queue=default"]; lat < 0 || lat > 60 {
		t.Errorf("latency of default = %v s, want between 0 and 60", lat)
	}
}

func TestQueueCollectorRedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	insp := newInspector(t, srv)
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewQueueCollector(insp))

	srv.Kill()
	if got := gather(t, reg, "telequeue_queue_inspector_up")[""]; got != 0 {
		t.Fatalf("inspector_up with Redis down = %v, want 0", got)
	}
	if n := len(gather(t, reg, "telequeue_queue_size")); n != 0 {
		t.Errorf("queue_size series with Redis down = %d, want 0", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if got := gather(t, reg, "telequeue_queue_inspector_up")[""]; got != 1 {
		t.Fatalf("inspector_up after Redis came back = %v, want 1", got)
	}
}

func TestSenderMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	m := metrics.NewSenderMetrics(reg)
	var obs handlers.Observer = m

	obs.Sent("default", handlers.OutcomeSent, 120*time.Millisecond)
	obs.Sent("default", handlers.OutcomeSent, 80*time.Millisecond)
	obs.Sent("default", handlers.OutcomeRateLimited, 50*time.Millisecond)
	obs.Sent("alerts", handlers.OutcomePermanent, 70*time.Millisecond)
	obs.Sent("alerts", handlers.OutcomeDeduplicated, 0)
	obs.RateLimitWait("default", 500*time.Millisecond, false)
	obs.RateLimitWait("default", 30*time.Second, true)
	obs.RateLimitWait("default", time.Second, false)
	obs.Retry("alerts")

	tests := []struct {
		metric string
		want   map[string]float64
	}{
		{"telequeue_sends_total", map[string]float64{
			"bot=default,outcome=sent":         2,
			"bot=default,outcome=rate_limited": 1,
			"bot=alerts,outcome=permanent":     1,
			"bot=alerts,outcome=deduplicated":  1,
		}},
		// Histograms: sample counts. A deduplicated send made no request.
		{"telequeue_telegram_request_seconds", map[string]float64{"bot=default": 3, "bot=alerts": 1}},
		{"telequeue_telegram_429_total", map[string]float64{"bot=default": 1}},
		{"telequeue_rate_limit_waits_total", map[string]float64{
			"bot=default,rescheduled=false": 2,
			"bot=default,rescheduled=true":  1,
		}},
		{"telequeue_rate_limit_wait_seconds", map[string]float64{
			"bot=default,rescheduled=false": 2,
			"bot=default,rescheduled=true":  1,
		}},
		{"telequeue_retries_total", map[string]float64{"bot=alerts": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.metric, func(t *testing.T) {
			got := gather(t, reg, tt.metric)
			if len(got) != len(tt.want) {
				t.Errorf("%s = %v, want %v", tt.metric, got, tt.want)
			}
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("%s{%s} = %v, want %v", tt.metric, k, got[k], want)
				}
			}
		})
	}

	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP telequeue_rate_limit_wait_seconds Length of the rate limiter's delays.
# TYPE telequeue_rate_limit_wait_seconds histogram
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="true",le="0.01"} 0
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="true",le="0.05"} 0
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="true",le="0.1"} 0
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="true",le="0.25"} 0
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="true",le="0.5"} 0
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="true",le="1"} 0
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="true",le="2"} 0
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="true",le="5"} 0
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="true",le="10"} 0
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="true",le="30"} 1
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="true",le="60"} 1
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="true",le="300"} 1
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="true",le="+Inf"} 1
telequeue_rate_limit_wait_seconds_sum{bot="default",rescheduled="true"} 30
telequeue_rate_limit_wait_seconds_count{bot="default",rescheduled="true"} 1
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="false",le="0.01"} 0
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="false",le="0.05"} 0
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="false",le="0.1"} 0
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="false",le="0.25"} 0
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="false",le="0.5"} 1
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="false",le="1"} 2
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="false",le="2"} 2
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="false",le="5"} 2
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="false",le="10"} 2
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="false",le="30"} 2
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="false",le="60"} 2
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="false",le="300"} 2
telequeue_rate_limit_wait_seconds_bucket{bot="default",rescheduled="false",le="+Inf"} 2
telequeue_rate_limit_wait_seconds_sum{bot="default",rescheduled="false"} 1.5
telequeue_rate_limit_wait_seconds_count{bot="default",rescheduled="false"} 2
`), "telequeue_rate_limit_wait_seconds"); err != nil {
		t.Error(err)
	}
}

func TestNewSenderMetricsTwice(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	a := metrics.NewSenderMetrics(reg)
	b := metrics.NewSenderMetrics(reg) // must not panic; shares a's series
	a.Retry("default")
	b.Retry("default")
	if got := gather(t, reg, "telequeue_retries_total")["bot=default"]; got != 2 {
		t.Errorf("retries_total = %v, want 2", got)
	}
	metrics.NewSenderMetrics(nil).Retry("default") // unregistered: no panic
}

func TestHandler(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	insp := newInspector(t, srv)
	enqueue(t, srv, tasks.QueueCritical)

	reg := metrics.NewRegistry()
	reg.MustRegister(metrics.NewQueueCollector(insp))
	metrics.NewSenderMetrics(reg).Sent("default", handlers.OutcomeSent, time.Second)

	ts := httptest.NewServer(metrics.Handler(reg))
	defer ts.Close()
	resp, err := http.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`telequeue_queue_tasks{queue="critical",state="pending"} 1`,
		`telequeue_sends_total{bot="default",outcome="sent"} 1`,
		`telequeue_telegram_request_seconds_count{bot="default"} 1`,
		"go_goroutines",
		"process_cpu_seconds_total",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
