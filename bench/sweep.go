package main

import (
	"context"
	"fmt"
	"time"
)

// sweepIntervals are the TASK_CHECK_INTERVAL candidates of -sweep.
var sweepIntervals = []time.Duration{time.Second, 100 * time.Millisecond, 50 * time.Millisecond,
	25 * time.Millisecond, 20 * time.Millisecond, 10 * time.Millisecond}

// measureSweep measures, for each candidate TASK_CHECK_INTERVAL, the idle
// Redis load and the idle latency with 6 workers and with 1.
func (b *bench) measureSweep(ctx context.Context) error {
	samples, idleFor := 100, 6*time.Second
	if b.opts.quick {
		samples, idleFor = 30, 3*time.Second
	}
	c, err := b.newClient()
	if err != nil {
		return err
	}
	defer c.Close()
	for _, iv := range sweepIntervals {
		for _, procs := range []int{6, 1} {
			if err := b.flush(ctx); err != nil {
				return err
			}
			b.progress(fmt.Sprintf("sweep: TASK_CHECK_INTERVAL=%v, %d workers", iv, procs))
			g, err := b.startWorkers(ctx, procs, limitsOff, iv, "", nil)
			if err != nil {
				return err
			}
			time.Sleep(2 * time.Second)
			r, err := b.idleCommands(ctx, idleFor)
			if err != nil {
				g.stop()
				return err
			}
			d, err := b.idleLatency(ctx, c, samples)
			g.stop()
			if err != nil {
				return err
			}
			b.report.add("sweep", fmt.Sprintf("TASK_CHECK_INTERVAL=%v, %d × 10", iv, procs),
				fmt.Sprintf("%.0f cmds/s per process (%.0f incl. scripts); idle latency p50 %s, p99 %s, max %s",
					r.client/float64(procs), r.all/float64(procs), ms(d.q(0.5)), ms(d.q(0.99)), ms(d.q(1))), "", nil)
		}
	}
	return nil
}
