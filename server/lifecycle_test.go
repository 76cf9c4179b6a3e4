package server

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/internal/leaktest"
	"github.com/telequeue/telequeue/internal/redistest"
)

// TestLifecycleLeavesNothing builds servers that fail validation, never
// start, or start and stop, and checks that each leaves no goroutine and no
// Redis connection behind. It does not run in parallel: it counts the
// process's goroutines.
func TestLifecycleLeavesNothing(t *testing.T) {
	rs := redistest.Start(t)
	probe := rs.Client(t)
	opt := asynq.RedisClientOpt{Addr: rs.Addr()}
	h := asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })
	fast := Config{Redis: opt, SendMessage: h, Concurrency: 4, ShutdownTimeout: time.Second, DrainTimeout: time.Second,
		TaskCheckInterval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	bad := fast
	bad.Handlers = map[string]asynq.Handler{"": h}

	tests := []struct {
		name string
		cfg  Config
		use  func(t *testing.T, s *Server)
	}{
		{"invalid handlers", bad, nil},
		{"never started", fast, func(t *testing.T, s *Server) {
			if err := s.Ping(); err != nil { // opens a connection
				t.Fatal(err)
			}
			s.Shutdown()
		}},
		{"started and shut down", fast, func(t *testing.T, s *Server) {
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			s.Shutdown()
			s.Shutdown() // idempotent
		}},
		{"run until ctx ends", fast, func(t *testing.T, s *Server) {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if err := s.Run(ctx); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			released := leaktest.Check(t, probe)
			s, err := New(tt.cfg)
			if tt.use == nil {
				if err == nil {
					t.Fatal("New accepted an invalid configuration")
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				tt.use(t, s)
			}
			released()
		})
	}
}
