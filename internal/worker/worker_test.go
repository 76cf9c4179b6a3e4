package worker

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/leaktest"
	"github.com/telequeue/telequeue/internal/redistest"
)

// TestCloseLeavesNothing checks that a worker that never runs, and one that
// runs until its context ends, leave no goroutine and no Redis connection
// behind. It does not run in parallel: it counts the process's goroutines.
func TestCloseLeavesNothing(t *testing.T) {
	rs := redistest.Start(t)
	probe := rs.Client(t)
	env := map[string]string{
		"REDIS_URL":          rs.URL(),
		"TELEGRAM_BOT_TOKEN": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawX",
		"TELEGRAM_API_URL":   "http://127.0.0.1:1",
		"SHUTDOWN_TIMEOUT":   "1s",
		"METRICS_PORT":       "0",
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, true)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		use  func(t *testing.T, w *Worker)
	}{
		{"closed without running", func(t *testing.T, w *Worker) {
			if err := w.Server.Ping(); err != nil { // opens a connection
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		}},
		{"run until ctx ends", func(t *testing.T, w *Worker) {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			if err := w.Run(ctx); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			released := leaktest.Check(t, probe)
			w, err := New(cfg, slog.New(slog.DiscardHandler), Deps{})
			if err != nil {
				t.Fatal(err)
			}
			tt.use(t, w)
			released()
		})
	}
}
