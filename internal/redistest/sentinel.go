package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelOptions configure [StartSentinel]. Zero values mean the defaults
// given per field.
type SentinelOptions struct {
	// MasterName is the name the Sentinels monitor; default "telequeue".
	MasterName string
	// Password is the data nodes' requirepass and masterauth, and the
	// Sentinels' auth-pass for them; default none.
	Password string
	// SentinelPassword is the Sentinels' own requirepass (Sentinels use it
	// with each other too); default none.
	SentinelPassword string
	// DownAfter is down-after-milliseconds; default 1s.
	DownAfter time.Duration
	// FailoverTimeout is failover-timeout; default 5s, or 3m with
	// ReplicaLink (after failover-timeout Sentinel "fixes" a replica whose
	// master address is not the master's, i.e. the proxy's).
	FailoverTimeout time.Duration
	// ReplicaLink makes the replica replicate through a [Proxy]
	// ([Sentinel.Link]) so that a test can stall or cut the replication
	// stream.
	ReplicaLink bool
	// Args are extra arguments of both data nodes, e.g. "--appendonly", "yes".
	Args []string
}

// Sentinel is a monitored master with one replica and three Sentinels
// (quorum 2), all on loopback.
type Sentinel struct {
	MasterName string
	// Nodes are the data nodes: Nodes[0] started as the master, Nodes[1] as
	// its replica. After a failover the roles differ; see [Sentinel.Master].
	Nodes []*Proc
	// Sentinels are the three Sentinel processes.
	Sentinels []*Proc
	// Link is the proxy between the replica and the first master, with
	// SentinelOptions.ReplicaLink; else nil.
	Link *Proxy
	opts SentinelOptions
}

// StartSentinel starts a master, a replica and three Sentinels, waits until
// the replica is in sync and every Sentinel knows the replica and the other
// two Sentinels, and stops everything when the test ends.
func StartSentinel(tb testing.TB, opts SentinelOptions) *Sentinel {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := RunSentinel(ctx, tb.TempDir(), opts)
	if s != nil {
		tb.Cleanup(s.Stop)
	}
	if err != nil {
		tb.Fatalf("start sentinel set: %v", err)
	}
	return s
}

// RunSentinel is [StartSentinel] without a test: files go under dir, and
// the caller calls Stop. On error the processes already started are
// returned so that Stop can end them.
func RunSentinel(ctx context.Context, dir string, opts SentinelOptions) (*Sentinel, error) {
	if opts.MasterName == "" {
		opts.MasterName = "telequeue"
	}
	if opts.DownAfter == 0 {
		opts.DownAfter = time.Second
	}
	switch {
	case opts.FailoverTimeout != 0:
	case opts.ReplicaLink:
		opts.FailoverTimeout = 3 * time.Minute
	default:
		opts.FailoverTimeout = 5 * time.Second
	}
	s := &Sentinel{MasterName: opts.MasterName, opts: opts}
	var masterPort int // what the replica replicates from
	for i := 0; i < 2; i++ {
		d := filepath.Join(dir, "node"+strconv.Itoa(i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return s, err
		}
		log := filepath.Join(d, "redis.log")
		mp := masterPort
		n, err := startProc(ctx, procSpec{dir: d, log: log, args: func(port int) []string {
			a := []string{
				"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", d,
				"--save", "", "--appendonly", "no", "--logfile", log,
			}
			if opts.Password != "" {
				a = append(a, "--requirepass", opts.Password, "--masterauth", opts.Password)
			}
			if i > 0 {
				a = append(a, "--replicaof", "127.0.0.1", strconv.Itoa(mp))
			}
			return append(a, opts.Args...)
		}})
		if err != nil {
			return s, fmt.Errorf("data node %d: %w", i, err)
		}
		s.Nodes = append(s.Nodes, n)
		if i == 0 {
			masterPort = n.Port
			if opts.ReplicaLink {
				link, err := NewProxy(n.Addr())
				if err != nil {
					return s, err
				}
				s.Link = link
				masterPort = link.Port()
			}
		}
	}
	for i := 0; i < 3; i++ {
		d := filepath.Join(dir, "sentinel"+strconv.Itoa(i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return s, err
		}
		conf := filepath.Join(d, "sentinel.conf")
		log := filepath.Join(d, "sentinel.log")
		p, err := startProc(ctx, procSpec{dir: d, log: log, args: func(port int) []string {
			// Sentinel needs a config file it can rewrite; it must be the
			// first argument.
			var b strings.Builder
			fmt.Fprintf(&b, "port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n", port, d, log)
			fmt.Fprintf(&b, "sentinel monitor %s 127.0.0.1 %d 2\n", opts.MasterName, s.Nodes[0].Port)
			fmt.Fprintf(&b, "sentinel down-after-milliseconds %s %d\n", opts.MasterName, opts.DownAfter.Milliseconds())
			fmt.Fprintf(&b, "sentinel failover-timeout %s %d\n", opts.MasterName, opts.FailoverTimeout.Milliseconds())
			fmt.Fprintf(&b, "sentinel parallel-syncs %s 1\n", opts.MasterName)
			if opts.Password != "" {
				fmt.Fprintf(&b, "sentinel auth-pass %s %s\n", opts.MasterName, opts.Password)
			}
			if opts.SentinelPassword != "" {
				fmt.Fprintf(&b, "requirepass %s\n", opts.SentinelPassword)
			}
			_ = os.WriteFile(conf, []byte(b.String()), 0o600)
			return []string{conf, "--sentinel"}
		}})
		if err != nil {
			return s, fmt.Errorf("sentinel %d: %w", i, err)
		}
		s.Sentinels = append(s.Sentinels, p)
	}
	if err := s.waitSettled(ctx); err != nil {
		return s, err
	}
	return s, nil
}

// waitSettled waits until the replica's link is up and each Sentinel sees
// one replica and two other Sentinels: before that a failover cannot happen.
func (s *Sentinel) waitSettled(ctx context.Context) error {
	replica := s.NodeClient(s.Nodes[1])
	defer replica.Close()
	for {
		info, err := replica.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			break
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("replica not in sync: %w", err)
		}
	}
	for _, p := range s.Sentinels {
		sc := s.SentinelClient(p)
		for {
			m, err := sc.Master(ctx, s.MasterName).Result()
			if err == nil && m["num-slaves"] == "1" && m["num-other-sentinels"] == "2" {
				break
			}
			if err := sleep(ctx, 100*time.Millisecond); err != nil {
				_ = sc.Close()
				return fmt.Errorf("sentinel on %s not settled (%v, %v): %w", p.Addr(), m, err, ctx.Err())
			}
		}
		_ = sc.Close()
	}
	return nil
}

// SentinelAddrs returns the Sentinels' host:port addresses.
func (s *Sentinel) SentinelAddrs() []string {
	addrs := make([]string, len(s.Sentinels))
	for i, p := range s.Sentinels {
		addrs[i] = p.Addr()
	}
	return addrs
}

// SentinelClient returns a client of one Sentinel; the caller closes it.
func (s *Sentinel) SentinelClient(p *Proc) *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{Addr: p.Addr(), Password: s.opts.SentinelPassword, MaxRetries: -1})
}

// NodeClient returns a client of one data node; the caller closes it.
func (s *Sentinel) NodeClient(p *Proc) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: p.Addr(), Password: s.opts.Password, MaxRetries: -1})
}

// MasterAddr asks the Sentinels, in turn, which address the master has.
func (s *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	var lastErr error
	for _, p := range s.Sentinels {
		if !p.Running() {
			continue
		}
		sc := s.SentinelClient(p)
		addr, err := sc.GetMasterAddrByName(ctx, s.MasterName).Result()
		_ = sc.Close()
		if err == nil && len(addr) == 2 {
			return addr[0] + ":" + addr[1], nil
		}
		lastErr = err
	}
	return "", fmt.Errorf("redistest: no sentinel knows the master: %v", lastErr)
}

// Master returns the data node the Sentinels name as master.
func (s *Sentinel) Master(ctx context.Context) (*Proc, error) {
	addr, err := s.MasterAddr(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range s.Nodes {
		if n.Addr() == addr {
			return n, nil
		}
	}
	return nil, fmt.Errorf("redistest: sentinels name unknown master %s", addr)
}

// WaitFailover waits until the Sentinels name a master other than old and
// that node reports role:master; it returns the new master.
func (s *Sentinel) WaitFailover(ctx context.Context, old *Proc) (*Proc, error) {
	for {
		m, err := s.Master(ctx)
		if err == nil && m != old {
			c := s.NodeClient(m)
			info, err := c.Info(ctx, "replication").Result()
			_ = c.Close()
			if err == nil && strings.Contains(info, "role:master") {
				return m, nil
			}
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return nil, fmt.Errorf("redistest: no failover away from %s: %w", old.Addr(), err)
		}
	}
}

// Stop stops every process (and the link).
func (s *Sentinel) Stop() {
	if s.Link != nil {
		s.Link.Close()
	}
	for _, p := range s.Sentinels {
		p.Kill()
	}
	for _, n := range s.Nodes {
		n.Kill()
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
