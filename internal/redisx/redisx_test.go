package redisx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestUnreachable(t *testing.T) {
	t.Parallel()
	opErr := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name                     string
		err                      error
		unreachable, recoverable bool
	}{
		{"nil", nil, false, false},
		{"dial refused", opErr, true, true},
		{"wrapped dial refused", fmt.Errorf("enqueue: %w", opErr), true, true},
		{"EOF", io.EOF, true, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true, true},
		{"reset", syscall.ECONNRESET, true, true},
		{"broken pipe", syscall.EPIPE, true, true},
		{"closed connection", net.ErrClosed, true, true},
		{"pool timeout", redis.ErrPoolTimeout, true, true},
		{"refused, type lost", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), true, true},
		{"i/o timeout, type lost", errors.New("read tcp: i/o timeout"), true, true},
		{"loading", errors.New("LOADING Redis is loading the dataset in memory"), true, true},
		{"masterdown", errors.New("MASTERDOWN Link with MASTER is down"), true, true},
		{"readonly replica", errors.New("READONLY You can't write against a read only replica."), true, true},
		{"clusterdown", errors.New("CLUSTERDOWN The cluster is down"), true, true},
		{"tryagain", errors.New("TRYAGAIN Multiple keys request during rehashing"), true, true},
		{"closed client", redis.ErrClosed, true, false},
		{"closed client, wrapped", fmt.Errorf("x: %w", redis.ErrClosed), true, false},
		{"closed client, type lost", errors.New("redis: client is closed"), true, false},
		{"caller canceled", context.Canceled, false, false},
		{"caller deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), false, false},
		{"nil reply", redis.Nil, false, false},
		{"script error", errors.New("ERR Error running script"), false, false},
		{"wrong type", errors.New("WRONGTYPE Operation against a key holding the wrong kind of value"), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Unreachable(tt.err); got != tt.unreachable {
				t.Errorf("Unreachable(%v) = %v, want %v", tt.err, got, tt.unreachable)
			}
			if got := Recoverable(tt.err); got != tt.recoverable {
				t.Errorf("Recoverable(%v) = %v, want %v", tt.err, got, tt.recoverable)
			}
		})
	}
}

func TestUntilAnswers(t *testing.T) {
	t.Parallel()
	down := errors.New("connection refused")
	tests := []struct {
		name  string
		errs  []error // op's answers, in order; nil after the last
		calls int
		want  error
	}{
		{"answers at once", nil, 1, nil},
		{"answers after an outage", []error{down, down}, 3, nil},
		{"a reply that will not change", []error{down, redis.Nil}, 2, redis.Nil},
		{"closed client", []error{redis.ErrClosed}, 1, redis.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			err := UntilAnswers(context.Background(), func() error {
				calls++
				if calls <= len(tt.errs) {
					return tt.errs[calls-1]
				}
				return nil
			})
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) || calls != tt.calls {
				t.Fatalf("err %v after %d calls, want %v after %d", err, calls, tt.want, tt.calls)
			}
		})
	}
	t.Run("context ends", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		err := UntilAnswers(ctx, func() error { return down })
		if !errors.Is(err, down) || ctx.Err() == nil {
			t.Fatalf("err %v, ctx %v", err, ctx.Err())
		}
	})
}

func TestInsist(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	down := errors.New("connection refused")
	final := errors.New("ERR wrong")
	tests := []struct {
		name  string
		retry func(error) bool
		errs  []error
		calls int
		want  error
	}{
		{"written at once", nil, nil, 1, nil},
		{"written after failures", nil, []error{final, down}, 3, nil},
		{"not worth retrying", Recoverable, []error{down, final}, 2, final},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			err := Insist(context.Background(), log, "x", "y", nil, tt.retry, func(context.Context) error {
				calls++
				if calls <= len(tt.errs) {
					return tt.errs[calls-1]
				}
				return nil
			})
			if err != tt.want || calls != tt.calls {
				t.Fatalf("err %v after %d calls, want %v after %d", err, calls, tt.want, tt.calls)
			}
		})
	}
}

func TestOneValue(t *testing.T) {
	ctx := context.Background()
	cmd := func(vals []any, err error) *redis.SliceCmd {
		c := redis.NewSliceCmd(ctx, "mget", "k")
		c.SetVal(vals)
		c.SetErr(err)
		return c
	}
	boom := errors.New("boom")
	tests := []struct {
		name    string
		cmd     *redis.SliceCmd
		want    string
		ok      bool
		wantErr error
	}{
		{"value", cmd([]any{"v"}, nil), "v", true, nil},
		{"missing key", cmd([]any{nil}, nil), "", false, nil},
		{"error", cmd(nil, boom), "", false, boom},
		{"two values", cmd([]any{"a", "b"}, nil), "", false, errors.New("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok, err := OneValue(tt.cmd)
			if v != tt.want || ok != tt.ok || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("OneValue = %q, %v, %v; want %q, %v, error %v", v, ok, err, tt.want, tt.ok, tt.wantErr)
			}
		})
	}
}
