package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ownTraffic counts the commands and round trips of the bench's own Redis
// client (b.rdb), so that its polling can be taken out of redis-server's
// counters. Commands a new connection sends before its first use (HELLO,
// CLIENT SETINFO) are not seen; the bench's polling reuses one connection.
type ownTraffic struct {
	commands, trips atomic.Int64
}

var _ redis.Hook = (*ownTraffic)(nil)

func (o *ownTraffic) DialHook(next redis.DialHook) redis.DialHook { return next }

func (o *ownTraffic) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		o.commands.Add(1)
		o.trips.Add(1)
		return next(ctx, cmd)
	}
}

func (o *ownTraffic) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		o.commands.Add(int64(len(cmds)))
		o.trips.Add(1)
		return next(ctx, cmds)
	}
}

// costSnap is a run's counters at one instant.
type costSnap struct {
	// processed is asynq's processed counters of the run's queues.
	processed int64
	// commands and reads are redis-server's total_commands_processed
	// (on Redis 7 including the commands scripts run) and
	// total_reads_processed (read events on client connections: one per
	// request, a command or a pipeline, that arrives on its own), less
	// what the bench's own client sent.
	commands, reads int64
	// mallocs is go_memstats_mallocs_total summed over the worker
	// processes; NaN if one of them does not serve it.
	mallocs float64
	// calls are INFO commandstats' calls per command (inside scripts
	// too), for the breakdown in the progress output.
	calls map[string]int64
	// usec is INFO commandstats' time per command.
	usec map[string]int64
}

// costs are a run's Redis commands, Redis round trips and worker
// allocations per message between two snapshots.
type costs struct {
	commands, trips, allocs float64
	// byName is the busiest commands per message, scripts' included
	// (progress output only).
	byName string
	// usec is the Redis time (µs) per message of the busiest commands, a
	// script's including the commands it runs (progress output only).
	usec string
}

// costSnap reads the processed counters and INFO stats in one pipeline, so
// that they describe the same instant, then every process's metrics.
func (b *bench) costSnap(ctx context.Context, g group, queues []string) (costSnap, error) {
	ownCommands, ownTrips := b.own.commands.Load(), b.own.trips.Load()
	pipe := b.rdb.Pipeline()
	gets := make([]*redis.StringCmd, len(queues))
	for i, q := range queues {
		gets[i] = pipe.Get(ctx, "asynq:{"+q+"}:processed")
	}
	info := pipe.Info(ctx, "stats")
	cmdstats := pipe.Info(ctx, "commandstats")
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return costSnap{}, fmt.Errorf("processed counters and INFO stats: %w", err)
	}
	var s costSnap
	for _, c := range gets {
		n, err := c.Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return costSnap{}, err
		}
		s.processed += n
	}
	m := infoFields(info.Val())
	var err1, err2 error
	s.commands, err1 = strconv.ParseInt(m["total_commands_processed"], 10, 64)
	s.reads, err2 = strconv.ParseInt(m["total_reads_processed"], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return costSnap{}, fmt.Errorf("INFO stats: %w", err)
	}
	s.commands -= ownCommands
	s.reads -= ownTrips
	cs := infoFields(cmdstats.Val())
	s.calls, s.usec = commandStat(cs, "calls"), commandStat(cs, "usec")
	s.mallocs = b.mallocs(ctx, g)
	return s, nil
}

// perMessage is the costs between two snapshots divided by the tasks
// processed between them.
func (s costSnap) perMessage(to costSnap) (costs, error) {
	n := float64(to.processed - s.processed)
	if n <= 0 {
		return costs{}, errors.New("no task processed between the two snapshots")
	}
	r := rates(commandCounts{calls: s.calls}, commandCounts{calls: to.calls}, n)
	delete(r.calls, "info") // the snapshots' own
	u := rates(commandCounts{calls: s.usec}, commandCounts{calls: to.usec}, n)
	delete(u.calls, "info")
	return costs{
		commands: float64(to.commands-s.commands) / n,
		trips:    float64(to.reads-s.reads) / n,
		allocs:   (to.mallocs - s.mallocs) / n,
		byName:   r.top(12),
		usec:     u.top(8),
	}, nil
}

func (c costs) String() string {
	return fmt.Sprintf("Redis commands %.1f (%s; µs in them: %s), round trips %.1f, worker allocations %s", c.commands, c.byName, c.usec, c.trips, allocs(c.allocs))
}

// allocs formats allocations per message, "n/a" if unknown.
func allocs(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", v)
}

// mallocs sums go_memstats_mallocs_total over the processes of g, read in
// parallel; NaN (and a progress line) if a process does not serve it.
func (b *bench) mallocs(ctx context.Context, g group) float64 {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	vals := make([]float64, len(g))
	errs := make([]error, len(g))
	var wg sync.WaitGroup
	for i, p := range g {
		wg.Go(func() {
			if p.metrics == "" {
				errs[i] = fmt.Errorf("%s serves no metrics", p.name)
				return
			}
			vals[i], errs[i] = scrapeMallocs(ctx, p.metrics)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.progress(fmt.Sprintf("  allocations unknown: %v", err))
		return math.NaN()
	}
	var sum float64
	for _, v := range vals {
		sum += v
	}
	return sum
}

// scrapeMallocs reads go_memstats_mallocs_total from a Prometheus text
// exposition at url.
func scrapeMallocs(ctx context.Context, url string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", url, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_mallocs_total "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", url, err)
	}
	return 0, fmt.Errorf("%s: no go_memstats_mallocs_total", url)
}
