package server

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
)

func TestWarmPool(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	errBoom := errors.New("boom")
	tests := []struct {
		name      string
		f         func() error
		wantErr   error
		wantPanic any
	}{
		{"nil error", func() error { return nil }, nil, nil},
		{"error passes through", func() error { return errBoom }, errBoom, nil},
		{"panic is re-raised with its value", func() error { panic("kaput") }, nil, "kaput"},
	}
	p := newWarmPool(2, log)
	p.start()
	defer p.stop()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			got := func() (v any) {
				defer func() { v = recover() }()
				err = p.run(tt.f)
				return nil
			}()
			if got != tt.wantPanic {
				t.Fatalf("panic %v, want %v", got, tt.wantPanic)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestWarmPoolNeverWaits runs more calls at once than the pool has
// goroutines: the extra ones run on their callers instead of queueing.
func TestWarmPoolNeverWaits(t *testing.T) {
	p := newWarmPool(2, slog.New(slog.NewTextHandler(io.Discard, nil)))
	p.start()
	const n = 8
	var started sync.WaitGroup
	started.Add(n)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_ = p.run(func() error {
				started.Done()
				<-release
				return nil
			})
		})
	}
	started.Wait() // would hang if calls beyond the pool's 2 goroutines queued
	close(release)
	wg.Wait()

	p.stop()
	p.stop() // idempotent
	ran := false
	if err := p.run(func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("after stop: ran %v, err %v", ran, err)
	}
}
