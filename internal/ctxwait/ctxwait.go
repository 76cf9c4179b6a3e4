// Package ctxwait bounds calls that take no context by a context.
package ctxwait

import "context"

// Do runs f, which cannot take a context (asynq's Inspector), and stops
// waiting when ctx ends; f then finishes in the background, bounded by the
// Redis client's own timeouts.
func Do[T any](ctx context.Context, f func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}
