package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/tasks"
)

// measureLatencyAndIdle starts six workers and measures the idle and
// half-load latency, then the Redis commands they send while idle.
func (b *bench) measureLatencyAndIdle(ctx context.Context) error {
	if err := b.flush(ctx); err != nil {
		return err
	}
	b.progress("latency: starting 6 workers")
	g, err := b.startWorkers(ctx, 6, limitsOff, b.taskCheck, "", nil)
	if err != nil {
		return err
	}
	defer g.stop()
	c, err := b.newClient()
	if err != nil {
		return err
	}
	defer c.Close()
	time.Sleep(time.Second)

	if b.want("latency") {
		b.progress(fmt.Sprintf("latency: idle, %d messages one at a time", b.size.idleSamples))
		d, err := b.idleLatency(ctx, c, b.size.idleSamples)
		if err != nil {
			return err
		}
		ok50, ok99 := d.q(0.5) <= targetIdleP50, d.q(0.99) <= targetIdleP99
		b.report.add("latency", fmt.Sprintf("idle, 6 × 10: p50 (%d messages)", len(d)), ms(d.q(0.5)), "≤ 30 ms", &ok50)
		b.report.add("latency", "idle, 6 × 10: p99", ms(d.q(0.99)), "≤ 150 ms", &ok99)
		b.report.add("latency", "idle, 6 × 10: mean / max", ms(d.mean())+" / "+ms(d.q(1)), "", nil)

		r := b.maxRate / 2
		if r == 0 {
			r = targetThroughput / 2
		}
		b.progress(fmt.Sprintf("latency: at %.0f msgs/s for %v", r, b.size.loadFor))
		d, got, err := b.loadLatency(ctx, c, r, b.size.loadFor)
		if err != nil {
			return err
		}
		b.report.add("latency", fmt.Sprintf("at half load (%.0f msgs/s offered, %.0f achieved): p50", r, got), ms(d.q(0.5)), "", nil)
		b.report.add("latency", "at half load: p99", ms(d.q(0.99)), "", nil)
		b.report.add("latency", "at half load: mean / max", ms(d.mean())+" / "+ms(d.q(1)), "", nil)
	}

	if b.want("idle") {
		b.progress(fmt.Sprintf("idle: Redis commands over %v with 6 idle workers", b.size.idleFor))
		time.Sleep(2 * time.Second)
		r, err := b.idleCommands(ctx, b.size.idleFor)
		if err != nil {
			return err
		}
		ok := r.client/6 <= targetIdleCommands
		b.report.add("idle", "Redis commands/s from 6 idle workers (MONITOR)", fmt.Sprintf("%.0f /s", r.client), "", nil)
		b.report.add("idle", "  per process", fmt.Sprintf("%.1f /s", r.client/6), "≤ 200 /s", &ok)
		b.report.add("idle", "  per process, counting commands inside scripts", fmt.Sprintf("%.1f /s", r.all/6), "", nil)
		b.report.add("idle", "  busiest (all processes, incl. inside scripts)", r.top(5), "", nil)
	}
	return g.alive()
}

// idleCommands measures the commands Redis receives during d: from
// clients with MONITOR, all of them with INFO.
func (b *bench) idleCommands(ctx context.Context, d time.Duration) (commandRates, error) {
	a, err := b.commandCounts(ctx)
	if err != nil {
		return commandRates{}, err
	}
	start := time.Now()
	n, err := b.monitor(ctx, d)
	if err != nil {
		return commandRates{}, err
	}
	z, err := b.commandCounts(ctx)
	if err != nil {
		return commandRates{}, err
	}
	r := rates(a, z, time.Since(start).Seconds())
	r.client = float64(n) / d.Seconds()
	return r, nil
}

// idleLatency sends n messages one at a time, each once the previous one was
// delivered and a random pause of 20–120 ms has passed (so that enqueues fall
// at random points of the workers' polling cycles), and returns the
// enqueue→delivery times.
func (b *bench) idleLatency(ctx context.Context, c *client.Client, n int) (dist, error) {
	b.sb.Reset()
	for i := range n {
		m := &tasks.SendMessage{ChatID: telego.ChatID{ID: 5_000_000 + int64(i)}, Text: stampText(time.Now())}
		if _, err := c.SendMessage(ctx, m); err != nil {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := b.sb.WaitFor(wctx, i+1)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("message %d not delivered within 10s", i)
		}
		pause := 20*time.Millisecond + rand.N(100*time.Millisecond)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
	}
	return b.latencies(n)
}

// loadLatency offers r messages per second for d from 32 producers, each
// message stamped when its enqueue starts, and returns the enqueue→delivery
// times and the rate achieved.
func (b *bench) loadLatency(ctx context.Context, c *client.Client, r float64, d time.Duration) (dist, float64, error) {
	b.sb.Reset()
	n := int(r * d.Seconds())
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	start := time.Now().Add(10 * time.Millisecond)
	for range 32 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if int(i) >= n {
					return
				}
				due := start.Add(time.Duration(float64(i) / r * float64(time.Second)))
				if w := time.Until(due); w > 0 {
					time.Sleep(w)
				}
				m := &tasks.SendMessage{ChatID: telego.ChatID{ID: 6_000_000 + i}, Text: stampText(time.Now())}
				if _, err := c.SendMessage(ctx, m); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	offered := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return nil, 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := b.sb.WaitFor(wctx, n); err != nil {
		return nil, 0, fmt.Errorf("delivered %d of %d", b.sb.Count(), n)
	}
	lat, err := b.latencies(n)
	return lat, float64(n) / offered.Seconds(), err
}

// latencies reads the enqueue stamps of the sandbox's messages.
func (b *bench) latencies(n int) (dist, error) {
	msgs := b.sb.Messages()
	if len(msgs) != n {
		return nil, fmt.Errorf("sandbox has %d messages, want %d", len(msgs), n)
	}
	out := make([]time.Duration, 0, n)
	for _, m := range msgs {
		t, ok := parseStamp(m.Text)
		if !ok {
			return nil, fmt.Errorf("message without a stamp: %q", m.Text)
		}
		out = append(out, m.At.Sub(t))
	}
	return newDist(out), nil
}
