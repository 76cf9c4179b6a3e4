package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/internal/events"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/webhook"
	"github.com/telequeue/telequeue/tasks"
)

const secret = "whsec-0123456789abcdef"

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"1-0","outcome":"blocked"}`)
	good := webhook.Sign([]byte(secret), now, body)
	other := webhook.Sign([]byte("another-secret-0123"), now, body)
	tests := []struct {
		name   string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", good, body, now, nil},
		{"valid, 4 minutes later", good, body, now.Add(4 * time.Minute), nil},
		{"one of two signatures valid (secret rotation)", other + "," + strings.Split(good, ",")[1], body, now, nil},
		{"other secret", other, body, now, webhook.ErrBadSignature},
		{"body changed", good, []byte(`{"id":"1-0","outcome":"sent"}`), now, webhook.ErrBadSignature},
		{"replayed 6 minutes later", good, body, now.Add(6 * time.Minute), webhook.ErrTooOld},
		{"timestamp in the future", good, body, now.Add(-6 * time.Minute), webhook.ErrTooOld},
		{"no signature", "t=1800000000", body, now, webhook.ErrMalformed},
		{"no timestamp", strings.Split(good, ",")[1], body, now, webhook.ErrMalformed},
		{"garbage", "hello", body, now, webhook.ErrMalformed},
		{"bad hex", "t=1800000000,v1=zz", body, now, webhook.ErrMalformed},
		{"timestamp changed", strings.Replace(good, "t=1800000000", "t=1800000001", 1), body, now, webhook.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := webhook.Verify([]byte(secret), tt.header, tt.body, tt.now, webhook.DefaultTolerance)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestConfigNeverEchoesTheURL(t *testing.T) {
	t.Parallel()
	cfg := webhook.Config{URL: "ftp://user:hunter2@example.test/x", Secret: "short"}
	err := cfg.Validate()
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "WEBHOOK_SECRET") {
		t.Errorf("Validate = %v", err)
	}
}

// receiver is a real HTTP receiver that verifies every request and fails
// the first failures[event id] attempts with 500.
type receiver struct {
	mu        sync.Mutex
	failures  map[string]int
	delivered map[string]int // event id -> 2xx answers
	attempts  map[string]int
	bad       int // requests that failed verification
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if webhook.Verify([]byte(secret), r.Header.Get(webhook.SignatureHeader), body, time.Now(), webhook.DefaultTolerance) != nil {
		rc.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var e tasks.Event
	if json.Unmarshal(body, &e) != nil || e.ID != r.Header.Get(webhook.EventIDHeader) {
		rc.bad++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.attempts[e.TaskID]++
	if rc.failures[e.TaskID] > 0 {
		rc.failures[e.TaskID]--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	rc.delivered[e.TaskID]++
}

// TestDeliveries runs the dispatcher, an asynq server with the handler and a
// receiver: filtered events are delivered once each, signed; a receiver
// error is retried; a delivery that never succeeds is archived with the
// status, and its text holds neither the URL nor the secret.
func TestDeliveries(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	rdb := rs.Client(t)
	opt := asynq.RedisClientOpt{Addr: rs.Addr()}
	rc := &receiver{failures: map[string]int{"flaky": 2, "dead": 1000}, delivered: map[string]int{}, attempts: map[string]int{}}
	ts := httptest.NewServer(rc)
	defer ts.Close()
	cfg := webhook.Config{
		URL: ts.URL + "/hook?token=s3cr3t-query", Secret: secret, MaxRetry: 2,
		Events: []tasks.Outcome{tasks.OutcomeBlocked, tasks.OutcomeArchived},
	}

	enq := asynq.NewClient(opt)
	defer enq.Close()
	d, err := webhook.NewDispatcher(rdb, enq, cfg, "test-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dispatched := make(chan struct{})
	go func() { _ = d.Run(ctx); close(dispatched) }()

	h, err := webhook.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency: 4, Queues: map[string]int{tasks.QueueWebhooks: 1},
		TaskCheckInterval: 20 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond,
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return 0 },
		LogLevel:       asynq.FatalLevel,
	})
	mux := asynq.NewServeMux()
	mux.Handle(tasks.TypeWebhook, h)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()

	// The dispatcher's group starts at new events: wait for it to exist.
	waitFor(t, func() bool {
		groups, _ := rdb.XInfoGroups(ctx, events.Stream).Result()
		return len(groups) == 1
	})
	w := events.NewWriter(rdb, 0)
	for _, e := range []tasks.Event{
		{Outcome: tasks.OutcomeSent, TaskID: "sent"},
		{Outcome: tasks.OutcomeBlocked, TaskID: "blocked", ErrorCode: 403},
		{Outcome: tasks.OutcomeArchived, TaskID: "flaky"},
		{Outcome: tasks.OutcomeArchived, TaskID: "dead"},
	} {
		e.Method, e.Bot, e.Chat = "sendMessage", "default", "42"
		if err := w.Append(ctx, &e); err != nil {
			t.Fatal(err)
		}
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	waitFor(t, func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		archived, _ := insp.ListArchivedTasks(tasks.QueueWebhooks)
		return rc.delivered["blocked"] == 1 && rc.delivered["flaky"] == 1 && len(archived) == 1
	})
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.bad != 0 || rc.attempts["sent"] != 0 || rc.attempts["flaky"] != 3 || rc.attempts["dead"] != 3 {
		t.Errorf("bad requests %d, attempts %v: want 0 bad, sent filtered out, flaky 3, dead 3 (1 + MaxRetry 2)", rc.bad, rc.attempts)
	}
	archived, err := insp.ListArchivedTasks(tasks.QueueWebhooks)
	if err != nil || len(archived) != 1 {
		t.Fatalf("archived: %v, %v", archived, err)
	}
	if msg := archived[0].LastErr; msg != "webhook: the receiver answered 500" {
		t.Errorf("archived with %q", msg)
	}
	pending, err := rdb.XPending(ctx, events.Stream, webhook.Group).Result()
	if err != nil || pending.Count != 0 {
		t.Errorf("events pending in the dispatchers' group: %+v, %v", pending, err)
	}
	cancel()
	select {
	case <-dispatched:
	case <-time.After(10 * time.Second):
		t.Error("the dispatcher did not stop with its context")
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
