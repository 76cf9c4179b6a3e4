package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestProxyHoldReplies: with replies held a client's write lands in Redis,
// but the client hears nothing until Release.
func TestProxyHoldReplies(t *testing.T) {
	t.Parallel()
	s := Start(t)
	direct := s.Client(t)
	p, err := NewProxy(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	via := redis.NewClient(&redis.Options{Addr: p.Addr(), ReadTimeout: -1, PoolSize: 1})
	defer via.Close()
	if err := via.Ping(ctx).Err(); err != nil { // the connection, dialled before the hold
		t.Fatal(err)
	}

	p.HoldReplies()
	answered := make(chan error, 1)
	go func() { answered <- via.Set(ctx, "k", "v", 0).Err() }()
	for {
		if v, err := direct.Get(ctx, "k").Result(); err == nil && v == "v" {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the write did not reach Redis while replies were held")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-answered:
		t.Fatalf("the client got an answer (%v) while replies were held", err)
	default:
	}
	p.Release()
	if err := <-answered; err != nil {
		t.Fatalf("after Release: %v", err)
	}
}
