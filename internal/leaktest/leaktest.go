// Package leaktest checks that a component releases what it took: its
// goroutines and its Redis connections.
package leaktest

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Check returns a function to call once the component is closed: it fails t
// unless the goroutine count falls back to what it was when Check was
// called, and, with probe set, unless probe's own connection is the only
// one the Redis server still has; each within 5 seconds.
func Check(t *testing.T, probe *redis.Client) (done func()) {
	t.Helper()
	goroutines := settled()
	return func() {
		t.Helper()
		WaitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= goroutines })
		if probe == nil {
			return
		}
		WaitFor(t, "Redis connections to close", func() bool {
			list, err := probe.ClientList(context.Background()).Result()
			return err == nil && strings.Count(strings.TrimSpace(list), "\n") == 0 // the probe's own only
		})
	}
}

// settled returns the goroutine count once goroutines of earlier tests have
// had a moment to exit.
func settled() int {
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

// WaitFor polls cond for up to 5s, and fails t with every goroutine's
// stack if it does not hold by then.
func WaitFor(t *testing.T, what string, cond func() bool) {
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
