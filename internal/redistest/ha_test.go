package redistest

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	s := StartSentinel(t, SentinelOptions{Password: "datapw", SentinelPassword: "sentpw"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, err := s.Master(ctx)
	if err != nil || m != s.Nodes[0] {
		t.Fatalf("master = %v, %v; want node 0", m, err)
	}
	fc := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: s.MasterName, SentinelAddrs: s.SentinelAddrs(),
		SentinelPassword: "sentpw", Password: "datapw",
	})
	defer fc.Close()
	if err := fc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := fc.Wait(ctx, 1, time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m.Kill()
	nm, err := s.WaitFailover(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover to %s took %v", nm.Addr(), time.Since(start).Round(time.Millisecond))
	if nm != s.Nodes[1] {
		t.Fatalf("new master %s, want node 1", nm.Addr())
	}
	if got, err := fc.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("after failover: %q, %v", got, err)
	}
}

func TestCluster(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cc := c.Client(t)
	seen := map[string]bool{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		if err := cc.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatal(err)
		}
		addr, _, err := c.NodeOf(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		seen[addr] = true
	}
	if len(seen) != 3 {
		t.Fatalf("keys on %d nodes, want 3", len(seen))
	}
	err := cc.MSet(ctx, "a", 1, "b", 2).Err()
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("cross-slot MSET: %v, want CROSSSLOT", err)
	}

	// MoveSlot hands a's slot, key included, to another node, and
	// NodeOfSlot sees it there.
	from, slot, err := c.NodeOf(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	to := c.Addrs()[0]
	if to == from {
		to = c.Addrs()[1]
	}
	if err := c.MoveSlot(ctx, slot, to); err != nil {
		t.Fatal(err)
	}
	if got, err := c.NodeOfSlot(ctx, slot); err != nil || got != to {
		t.Fatalf("slot %d on %q (%v) after moving it from %s, want %s", slot, got, err, from, to)
	}
	if got, err := cc.Get(ctx, "a").Result(); err != nil || got != "a" {
		t.Fatalf("a after the move: %q, %v", got, err)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	s := StartTLS(t, "--user", "alice", "on", ">pw", "~*", "&*", "+@all", "--user", "default", "off")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	good := redis.NewClient(&redis.Options{Addr: s.Addr(), Username: "alice", Password: "pw",
		TLSConfig: &tls.Config{RootCAs: s.RootCAs(), MinVersion: tls.VersionTLS12}})
	defer good.Close()
	if err := good.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	untrusted := redis.NewClient(&redis.Options{Addr: s.Addr(), Username: "alice", Password: "pw",
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12}, MaxRetries: -1})
	defer untrusted.Close()
	if err := untrusted.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "x509") {
		t.Fatalf("untrusted certificate: %v, want an x509 error", err)
	}
	plain := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer plain.Close()
	if err := plain.Ping(ctx).Err(); err == nil {
		t.Fatal("plain TCP ping to a TLS port succeeded")
	}
	if u := s.URL("alice", "pw"); !strings.HasPrefix(u, "rediss://alice:pw@127.0.0.1:") {
		t.Fatalf("URL %s", u)
	}
}

func TestSentinelReplicaLink(t *testing.T) {
	t.Parallel()
	s := StartSentinel(t, SentinelOptions{ReplicaLink: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m := s.NodeClient(s.Nodes[0])
	defer m.Close()
	r := s.NodeClient(s.Nodes[1])
	defer r.Close()
	if err := m.Set(ctx, "a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := m.Wait(ctx, 1, 5*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT through the link: %d, %v", n, err)
	}
	s.Link.Hold()
	if err := m.Set(ctx, "b", "2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := m.Wait(ctx, 1, 300*time.Millisecond).Result(); err != nil || n != 0 {
		t.Fatalf("WAIT while held: %d, %v; want 0 replicas", n, err)
	}
	s.Link.Cut()
	if n, _ := r.Exists(ctx, "b").Result(); n != 0 {
		t.Fatal("the replica got a write made while the link was held")
	}
	// The replica reconnects through the proxy and catches up.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if n, _ := r.Exists(ctx, "b").Result(); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica did not catch up after the cut")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
