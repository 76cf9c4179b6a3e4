package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// measureThroughput runs the baselines and telequeue -repeat times each,
// interleaved, and reports the medians. It sets b.maxRate for the half-load
// latency run.
func (b *bench) measureThroughput(ctx context.Context) error {
	var noop, plainHTTP, e2e6, e2e1 []float64
	altRates := make([][]float64, len(b.opts.alts))
	cpus := map[*[]float64][]cpuSnap{}
	for r := range b.opts.repeat {
		type kind struct {
			name  string
			procs int
			n     int
			into  *[]float64
			alt   *alt
		}
		kinds := []kind{
			{"noop", 6, b.size.ceiling, &noop, nil},
			{"http", 6, b.size.ceiling, &plainHTTP, nil},
			{"telequeue", 6, b.size.ceiling, &e2e6, nil},
			{"telequeue", 1, b.size.oneProcess, &e2e1, nil},
		}
		for i := range b.opts.alts {
			kinds = append(kinds, kind{"alt", 6, b.size.ceiling, &altRates[i], &b.opts.alts[i]})
		}
		for _, k := range kinds {
			name := k.name
			if k.alt != nil {
				name = "alt " + k.alt.label
			}
			b.progress(fmt.Sprintf("throughput %d/%d: %s, %d processes × 10, %d tasks", r+1, b.opts.repeat, name, k.procs, k.n))
			v, c, err := b.throughputRun(ctx, k.name, k.procs, k.n, r, k.alt)
			if err != nil {
				return err
			}
			b.progress(fmt.Sprintf("  %.0f tasks/s; CPU per task: %s; load average %s", v, c, loadavg()))
			*k.into = append(*k.into, v)
			cpus[k.into] = append(cpus[k.into], c)
		}
	}
	med := func(v []float64) float64 {
		s := slices.Clone(v)
		slices.Sort(s)
		return s[len(s)/2]
	}
	runs := func(v []float64) string {
		if len(v) == 1 {
			return ""
		}
		var p []string
		for _, x := range v {
			p = append(p, fmt.Sprintf("%.0f", x))
		}
		return " (runs " + strings.Join(p, ", ") + ")"
	}
	const sec = "throughput"
	b.maxRate = med(e2e6)
	b.report.add(sec, "ceiling: plain asynq no-op, 6 × 10", fmt.Sprintf("%.0f tasks/s%s", med(noop), runs(noop)), "", nil)
	b.report.add(sec, "plain asynq + same HTTP send, 6 × 10", fmt.Sprintf("%.0f msgs/s%s", med(plainHTTP), runs(plainHTTP)), "", nil)
	ok := b.maxRate >= targetThroughput
	b.report.add(sec, "telequeue end to end, 6 × 10, limits off", fmt.Sprintf("%.0f msgs/s%s", b.maxRate, runs(e2e6)), "≥ 4000 msgs/s", &ok)
	b.report.add(sec, "telequeue end to end, 1 × 10, limits off", fmt.Sprintf("%.0f msgs/s%s", med(e2e1), runs(e2e1)), "", nil)
	ratio := b.maxRate / med(plainHTTP)
	ok = ratio >= targetPlainRatio
	b.report.add(sec, "6 × 10 ÷ plain asynq + same HTTP send", fmt.Sprintf("%.2f", ratio), "≥ 0.70", &ok)
	b.report.add(sec, "6 × 10 ÷ ceiling (no-op)", fmt.Sprintf("%.2f", b.maxRate/med(noop)), "", nil)
	b.report.add(sec, "1 × 10 ÷ ceiling (no-op, 6 × 10)", fmt.Sprintf("%.2f", med(e2e1)/med(noop)), "", nil)
	type named struct {
		name string
		v    *[]float64
	}
	all := []named{{"no-op", &noop}, {"plain + HTTP", &plainHTTP}, {"telequeue 6 × 10", &e2e6}, {"telequeue 1 × 10", &e2e1}}
	for i, a := range b.opts.alts {
		v := altRates[i]
		b.report.add(sec, fmt.Sprintf("alt %q, 6 × 10, limits off", a.label), fmt.Sprintf("%.0f msgs/s%s", med(v), runs(v)), "", nil)
		b.report.add(sec, fmt.Sprintf("alt %q ÷ plain asynq + same HTTP send", a.label), fmt.Sprintf("%.2f", med(v)/med(plainHTTP)), "", nil)
		all = append(all, named{"alt " + a.label, &altRates[i]})
	}
	for _, k := range all {
		if len(cpus[k.v]) == 0 {
			continue
		}
		var sum cpuSnap
		for _, c := range cpus[k.v] {
			sum.workers += c.workers
			sum.redis += c.redis
			sum.bench += c.bench
		}
		n := time.Duration(len(cpus[k.v]))
		avg := cpuSnap{sum.workers / n, sum.redis / n, sum.bench / n}
		b.report.add(sec, "  CPU per task, "+k.name, avg.String(), "", nil)
	}
	return nil
}

// throughputRun starts procs processes of kind ("noop" and "http": the plain
// asynq baseline; "telequeue": cmd/worker), pauses the queue, enqueues n
// tasks, unpauses it and measures.
func (b *bench) throughputRun(ctx context.Context, kind string, procs, n, rep int, alt *alt) (float64, cpuSnap, error) {
	if err := b.flush(ctx); err != nil {
		return 0, cpuSnap{}, err
	}
	var g group
	var err error
	if kind == "telequeue" || kind == "alt" {
		dir := ""
		if b.opts.profile != "" && procs == 6 {
			dir = filepath.Join(b.opts.profile, fmt.Sprintf("run%d", rep+1))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return 0, cpuSnap{}, err
			}
		}
		g, err = b.startWorkers(ctx, procs, limitsOff, b.taskCheck, dir, alt)
	} else {
		g, err = b.startPlain(ctx, procs, kind)
	}
	if err != nil {
		return 0, cpuSnap{}, err
	}
	defer g.stop()
	if err := b.insp.PauseQueue(queue); err != nil {
		return 0, cpuSnap{}, err
	}
	if kind == "telequeue" || kind == "alt" {
		c, err := b.newClient()
		if err != nil {
			return 0, cpuSnap{}, err
		}
		err = enqueueMany(ctx, c, messages(n, 1_000_000, "m"))
		_ = c.Close()
		if err != nil {
			return 0, cpuSnap{}, err
		}
	} else if err := b.enqueuePlain(ctx, n); err != nil {
		return 0, cpuSnap{}, err
	}
	before, err := b.cpu(ctx, g)
	if err != nil {
		return 0, cpuSnap{}, err
	}
	v, err := b.drain(ctx, g, n)
	if err != nil {
		return 0, cpuSnap{}, err
	}
	after, err := b.cpu(ctx, g)
	if err != nil {
		return 0, cpuSnap{}, err
	}
	if kind != "noop" {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := b.sb.WaitFor(wctx, n); err != nil {
			return 0, cpuSnap{}, fmt.Errorf("sandbox received %d of %d messages", b.sb.Count(), n)
		}
		if st := b.sb.Stats(); st.Delivered != n || st.Requests != n {
			return 0, cpuSnap{}, fmt.Errorf("sandbox: %d requests, %d delivered, want %d", st.Requests, st.Delivered, n)
		}
	}
	return v, before.perMessage(after, n), nil
}

// drain unpauses the queue and returns the processed rate between 10% and
// 90% of n tasks.
func (b *bench) drain(ctx context.Context, g group, n int) (float64, error) {
	return b.drainQueues(ctx, g, n, queue)
}

// drainQueues unpauses queues and returns the rate of tasks processed in
// them all between 10% and 90% of n tasks.
func (b *bench) drainQueues(ctx context.Context, g group, n int, queues ...string) (float64, error) {
	processed := func() (int64, error) {
		var sum int64
		for _, q := range queues {
			p, err := b.processed(ctx, q)
			if err != nil {
				return 0, err
			}
			sum += p
		}
		return sum, nil
	}
	p0, err := processed()
	if err != nil {
		return 0, err
	}
	for _, q := range queues {
		if err := b.insp.UnpauseQueue(q); err != nil {
			return 0, err
		}
	}
	lo, hi := p0+int64(n/10), p0+int64(n*9/10)
	var t10, t90 time.Time
	deadline := time.Now().Add(60*time.Second + time.Duration(n)*time.Millisecond)
	for {
		p, err := processed()
		if err != nil {
			return 0, err
		}
		now := time.Now()
		if t10.IsZero() && p >= lo {
			t10 = now
		}
		if t90.IsZero() && p >= hi {
			t90 = now
		}
		if p >= p0+int64(n) {
			break
		}
		if err := g.alive(); err != nil {
			return 0, err
		}
		if now.After(deadline) {
			return 0, fmt.Errorf("processed %d of %d tasks before the deadline", p-p0, n)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	for _, q := range queues {
		failed, err := b.rdb.Get(ctx, "asynq:{"+q+"}:failed").Int64()
		if err == nil && failed > 0 {
			return 0, fmt.Errorf("%d tasks failed in queue %s", failed, q)
		}
	}
	return float64(hi-lo) / t90.Sub(t10).Seconds(), nil
}
