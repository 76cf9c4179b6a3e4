package server

import (
	"context"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

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
			goroutines := settledGoroutines()
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
			waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= goroutines })
			waitFor(t, "Redis connections to close", func() bool {
				list, err := probe.ClientList(context.Background()).Result()
				return err == nil && strings.Count(strings.TrimSpace(list), "\n") == 0 // the probe's own only
			})
		})
	}
}

// settledGoroutines returns the goroutine count once goroutines of earlier
// tests have had a moment to exit.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 20 {
		time.Sleep(10 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("timed out waiting for %s; goroutines:\n%s", what, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
