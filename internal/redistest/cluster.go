package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of masters without replicas on loopback.
type Cluster struct {
	Nodes []*Proc
}

// StartCluster starts a cluster of n masters (at least 3, as redis-cli
// requires), each with extra arguments args, and stops it when the test ends.
func StartCluster(tb testing.TB, n int, args ...string) *Cluster {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := RunCluster(ctx, tb.TempDir(), n, args...)
	if c != nil {
		tb.Cleanup(c.Stop)
	}
	if err != nil {
		tb.Fatalf("start cluster: %v", err)
	}
	return c
}

// RunCluster is [StartCluster] without a test: files go under dir and the
// caller calls Stop (also after an error, to end what was started).
//
// Each node's cluster bus listens on a port of its own picked like the data
// port (cluster-port, Redis >= 7), not on port+10000, so two free ports are
// all a node needs.
func RunCluster(ctx context.Context, dir string, n int, args ...string) (*Cluster, error) {
	if n < 3 {
		return nil, fmt.Errorf("redistest: a cluster needs at least 3 masters, not %d", n)
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		return nil, fmt.Errorf("redistest: redis-cli not found (install the redis-tools package): %w", err)
	}
	c := &Cluster{}
	for i := 0; i < n; i++ {
		d := filepath.Join(dir, "node"+strconv.Itoa(i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return c, err
		}
		log := filepath.Join(d, "redis.log")
		p, err := startProc(ctx, procSpec{dir: d, log: log, args: func(port int) []string {
			bus, _ := FreePort()
			_ = os.Remove(filepath.Join(d, "nodes.conf"))
			a := []string{
				"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", d,
				"--save", "", "--appendonly", "no", "--logfile", log,
				"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-port", strconv.Itoa(bus), "--cluster-node-timeout", "2000",
			}
			return append(a, args...)
		}})
		if err != nil {
			return c, fmt.Errorf("cluster node %d: %w", i, err)
		}
		c.Nodes = append(c.Nodes, p)
	}
	cmdArgs := append([]string{"--cluster", "create"}, c.Addrs()...)
	cmdArgs = append(cmdArgs, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.CommandContext(ctx, "redis-cli", cmdArgs...).CombinedOutput()
	if err != nil {
		return c, fmt.Errorf("redis-cli --cluster create: %w: %s", err, lastLines(out, 10))
	}
	if err := c.waitOK(ctx); err != nil {
		return c, err
	}
	return c, nil
}

// waitOK waits until every node reports cluster_state:ok and knows all
// nodes.
func (c *Cluster) waitOK(ctx context.Context) error {
	want := "cluster_known_nodes:" + strconv.Itoa(len(c.Nodes))
	for _, p := range c.Nodes {
		rc := redis.NewClient(&redis.Options{Addr: p.Addr(), MaxRetries: -1})
		for {
			info, err := rc.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, want) {
				break
			}
			if err := sleep(ctx, 50*time.Millisecond); err != nil {
				_ = rc.Close()
				return fmt.Errorf("redistest: cluster node %s not ok: %w", p.Addr(), err)
			}
		}
		_ = rc.Close()
	}
	return nil
}

// Addrs returns the nodes' host:port addresses.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, p := range c.Nodes {
		addrs[i] = p.Addr()
	}
	return addrs
}

// Client returns a cluster client, closed when the test ends.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	tb.Cleanup(func() { _ = cc.Close() })
	return cc
}

// NodeOf returns the address of the master that serves key's hash slot, and
// the slot.
func (c *Cluster) NodeOf(ctx context.Context, key string) (addr string, slot int64, err error) {
	rc := redis.NewClient(&redis.Options{Addr: c.Nodes[0].Addr()})
	defer rc.Close()
	slot, err = rc.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return "", 0, err
	}
	addr, err = slotOwner(ctx, rc, slot)
	return addr, slot, err
}

// MoveSlot moves a hash slot, with its keys, to the node at addr, the way
// redis-cli --cluster reshard does (IMPORTING/MIGRATING, MIGRATE, SETSLOT
// NODE), and waits until every node agrees. Operators do this to put a busy
// queue on a node of its own.
func (c *Cluster) MoveSlot(ctx context.Context, slot int64, addr string) error {
	from, err := c.NodeOfSlot(ctx, slot)
	if err != nil {
		return err
	}
	if from == addr {
		return nil
	}
	clients := map[string]*redis.Client{}
	ids := map[string]string{}
	for _, p := range c.Nodes {
		rc := redis.NewClient(&redis.Options{Addr: p.Addr()})
		defer rc.Close()
		id, err := rc.Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			return err
		}
		clients[p.Addr()], ids[p.Addr()] = rc, id
	}
	src, dst := clients[from], clients[addr]
	if dst == nil {
		return fmt.Errorf("redistest: %s is not a node of the cluster", addr)
	}
	if err := dst.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", ids[from]).Err(); err != nil {
		return fmt.Errorf("redistest: setslot importing: %w", err)
	}
	if err := src.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", ids[addr]).Err(); err != nil {
		return fmt.Errorf("redistest: setslot migrating: %w", err)
	}
	host, port, _ := strings.Cut(addr, ":")
	for {
		keys, err := src.ClusterGetKeysInSlot(ctx, int(slot), 100).Result()
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		if err := src.Do(ctx, args...).Err(); err != nil {
			return fmt.Errorf("redistest: migrate: %w", err)
		}
	}
	// The target first, then the source, then the rest (as redis-cli does).
	order := []string{addr, from}
	for a := range clients {
		if a != addr && a != from {
			order = append(order, a)
		}
	}
	for _, a := range order {
		if err := clients[a].Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", ids[addr]).Err(); err != nil {
			return fmt.Errorf("redistest: setslot node on %s: %w", a, err)
		}
	}
	for _, p := range c.Nodes {
		for {
			got, err := slotOwner(ctx, clients[p.Addr()], slot)
			if err == nil && got == addr {
				break
			}
			if err := sleep(ctx, 20*time.Millisecond); err != nil {
				return fmt.Errorf("redistest: %s does not see slot %d on %s: %w", p.Addr(), slot, addr, err)
			}
		}
	}
	return nil
}

// NodeOfSlot returns the address of the master serving slot, as node 0
// sees it.
func (c *Cluster) NodeOfSlot(ctx context.Context, slot int64) (string, error) {
	rc := redis.NewClient(&redis.Options{Addr: c.Nodes[0].Addr()})
	defer rc.Close()
	return slotOwner(ctx, rc, slot)
}

func slotOwner(ctx context.Context, rc *redis.Client, slot int64) (string, error) {
	shards, err := rc.ClusterShards(ctx).Result()
	if err != nil {
		return "", err
	}
	for _, sh := range shards {
		serves := false
		for _, r := range sh.Slots {
			serves = serves || (r.Start <= slot && slot <= r.End)
		}
		if !serves {
			continue
		}
		for _, n := range sh.Nodes {
			if n.Role != "master" {
				continue
			}
			port := n.Port
			if port == 0 {
				port = n.TLSPort
			}
			return net.JoinHostPort(n.IP, strconv.FormatInt(port, 10)), nil
		}
	}
	return "", fmt.Errorf("slot %d not served", slot)
}

// Stop stops every node.
func (c *Cluster) Stop() {
	for _, p := range c.Nodes {
		p.Kill()
	}
}
