// Package workertest runs telequeue's worker, wired from configuration as
// cmd/worker wires it (internal/worker), inside a test.
package workertest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/worker"
)

// testSettings returns the settings Start applies unless env sets them.
func testSettings() map[string]string {
	return map[string]string{
		"WORKER_CONCURRENCY":          "4",
		"TASK_CHECK_INTERVAL":         "20ms",
		"DELAYED_TASK_CHECK_INTERVAL": "100ms",
		"SHUTDOWN_TIMEOUT":            "2s",
		"TELEGRAM_RATE_GLOBAL":        "0",
		"TELEGRAM_RATE_CHAT":          "0",
		"TELEGRAM_RATE_GROUP":         "0",
		"TELEGRAM_RATE_PAID":          "0",
	}
}

// Start runs a worker configured by env (the variables cmd/worker reads, on
// top of test settings: 4 senders, 20ms polling, limits off) until the test
// ends. env must set REDIS_URL and a bot.
func Start(t testing.TB, env map[string]string) {
	t.Helper()
	fast := testSettings()
	lookup := func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		v, ok := fast[k]
		return v, ok
	}
	Run(t, lookup)
}

// Run runs a worker configured by lookup alone, as cmd/worker reads its
// environment (unset variables take the configuration's defaults), until
// the test ends.
func Run(t testing.TB, lookup func(string) (string, bool)) {
	t.Helper()
	cfg, err := config.Load(lookup, true)
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(cfg, slog.New(slog.DiscardHandler), worker.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
}
