package handlers_test

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/server"
)

// testBots returns the senders of the test bot for the Bot API at apiURL.
func testBots(t *testing.T, apiURL string, timeout time.Duration) map[string]handlers.Sender {
	t.Helper()
	bots, err := handlers.NewBots(handlers.BotsConfig{Tokens: map[string]string{"default": testToken}, APIURL: apiURL, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return bots
}

// startServer starts a handler server with cfg plus the tests' fast polling
// (20ms, delayed 100ms) and a 2s shutdown, stopped when the test ends. Its
// runs read their fences (server.Config.ReadFences): the fence tests take
// tasks over without stopping a process.
func startServer(t *testing.T, cfg server.Config) {
	t.Helper()
	cfg.ReadFences = true
	cfg.TaskCheckInterval, cfg.DelayedTaskCheckInterval = 20*time.Millisecond, 100*time.Millisecond
	cfg.ShutdownTimeout = 2 * time.Second
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
}

// asynqClients returns an asynq client and inspector for opt, closed when
// the test ends.
func asynqClients(t *testing.T, opt asynq.RedisConnOpt) (*asynq.Client, *asynq.Inspector) {
	t.Helper()
	c, insp := asynq.NewClient(opt), asynq.NewInspector(opt)
	t.Cleanup(func() { _ = c.Close(); _ = insp.Close() })
	return c, insp
}

// waitDrained waits until queue holds no pending, active, scheduled or
// retry task: every task in it has ended (completed or archived), so nothing
// more can be sent from it.
func waitDrained(t *testing.T, insp *asynq.Inspector, queue string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		q, err := insp.GetQueueInfo(queue)
		if err == nil && q.Pending+q.Active+q.Scheduled+q.Retry+q.Aggregating == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %s not drained within %s: %+v (err %v)", queue, within, q, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startSandbox starts the Bot API sandbox with cfg on a free loopback port,
// closed when the test ends, and returns it with its URL.
func startSandbox(t *testing.T, cfg sandbox.Config) (*sandbox.Sandbox, string) {
	t.Helper()
	sb, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	return sb, url
}
