package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// info returns the fields of one INFO section.
func (b *bench) info(ctx context.Context, section string) (map[string]string, error) {
	s, err := b.rdb.Info(ctx, section).Result()
	if err != nil {
		return nil, fmt.Errorf("INFO %s: %w", section, err)
	}
	return infoFields(s), nil
}

// infoFields parses the reply of INFO into its fields.
func infoFields(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m
}

func (b *bench) usedMemory(ctx context.Context) (int64, error) {
	m, err := b.info(ctx, "memory")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(m["used_memory"], 10, 64)
}

// commandCounts is a snapshot of Redis's command counters.
type commandCounts struct {
	// total is total_commands_processed: commands received from clients.
	total int64
	// calls are the calls per command from INFO commandstats, including
	// the commands Lua scripts run.
	calls map[string]int64
}

func (b *bench) commandCounts(ctx context.Context) (commandCounts, error) {
	st, err := b.info(ctx, "stats")
	if err != nil {
		return commandCounts{}, err
	}
	total, err := strconv.ParseInt(st["total_commands_processed"], 10, 64)
	if err != nil {
		return commandCounts{}, fmt.Errorf("total_commands_processed: %w", err)
	}
	cs, err := b.info(ctx, "commandstats")
	if err != nil {
		return commandCounts{}, err
	}
	return commandCounts{total: total, calls: commandStat(cs, "calls")}, nil
}

// commandStat reads one figure per command out of INFO commandstats:
// "calls", or "usec" (the time spent in it; a script's includes the
// commands it runs).
func commandStat(cs map[string]string, field string) map[string]int64 {
	stat := map[string]int64{}
	for k, v := range cs {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		for _, f := range strings.Split(v, ",") {
			if n, ok := strings.CutPrefix(f, field+"="); ok {
				stat[name], _ = strconv.ParseInt(n, 10, 64)
			}
		}
	}
	return stat
}

// commandRates are commands per second between two snapshots, without the
// INFO commands the snapshots themselves issued.
type commandRates struct {
	// client counts the commands clients sent (a script call counts
	// once), from MONITOR.
	client float64
	// all is total_commands_processed, which on Redis 7 also counts the
	// commands scripts run.
	all   float64
	calls map[string]float64 // per command, including those inside scripts
}

func rates(a, b commandCounts, seconds float64) commandRates {
	r := commandRates{calls: map[string]float64{}}
	r.all = float64(b.total-a.total-2) / seconds // the two INFO calls of snapshot a
	for name, n := range b.calls {
		d := n - a.calls[name]
		if name == "info" {
			d -= 2
		}
		if d > 0 {
			r.calls[name] = float64(d) / seconds
		}
	}
	return r
}

// monitor counts the commands clients send to Redis for d with MONITOR;
// commands run by scripts, which MONITOR marks "lua", are left out.
func (b *bench) monitor(ctx context.Context, d time.Duration) (int, error) {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", b.redis.Addr())
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		return 0, err
	}
	rd := bufio.NewReader(conn)
	if line, err := rd.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
		return 0, fmt.Errorf("MONITOR: %q %v", line, err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		return 0, err
	}
	n := 0
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return n, nil
			}
			return n, err
		}
		if !strings.Contains(line, " lua] ") {
			n++
		}
	}
}

// top lists the busiest commands, e.g. "evalsha 150.2/s, ...".
func (r commandRates) top(n int) string {
	type kv struct {
		k string
		v float64
	}
	var s []kv
	for k, v := range r.calls {
		s = append(s, kv{k, v})
	}
	sort.Slice(s, func(i, j int) bool { return s[i].v > s[j].v })
	var parts []string
	for i, e := range s {
		if i == n {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.1f", e.k, e.v))
	}
	return strings.Join(parts, ", ")
}

// flush empties Redis and the sandbox between measurements. Only call it
// while no worker runs.
func (b *bench) flush(ctx context.Context) error {
	if err := b.rdb.FlushAll(ctx).Err(); err != nil {
		return fmt.Errorf("FLUSHALL: %w", err)
	}
	b.sb.Reset()
	return nil
}

// processed reads asynq's counter of processed tasks of a queue.
func (b *bench) processed(ctx context.Context, queue string) (int64, error) {
	n, err := b.rdb.Get(ctx, "asynq:{"+queue+"}:processed").Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

// pending is the length of a queue's pending list.
func (b *bench) pending(ctx context.Context, queue string) (int64, error) {
	return b.rdb.LLen(ctx, "asynq:{"+queue+"}:pending").Result()
}
