package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"
)

// throughputKind is one kind of throughput run and its results.
type throughputKind struct {
	name  string // in the report
	kind  string // "noop" or "http" (plainworker), "telequeue", "alt"
	procs int
	n     int // tasks of each run
	alt   *alt
	runs  []throughputResult
}

// throughputResult is one throughput run's figures.
type throughputResult struct {
	rate float64 // tasks/s between 10% and 90% of the tasks
	// cpu is per task, over the whole drain (unpause to the last task).
	cpu cpuSnap
	// costs are per task, between 10% and 90% of the tasks, as the rate.
	costs costs
}

func (k *throughputKind) rates() []float64 {
	v := make([]float64, len(k.runs))
	for i, r := range k.runs {
		v[i] = r.rate
	}
	return v
}

// median is the median rate of the runs.
func (k *throughputKind) median() float64 { return median(k.rates()) }

// mean is the mean CPU and costs per task of the runs.
func (k *throughputKind) mean() (cpuSnap, costs) {
	var cs []cpuSnap
	var sum costs
	for _, r := range k.runs {
		cs = append(cs, r.cpu)
		sum.commands += r.costs.commands
		sum.trips += r.costs.trips
		sum.allocs += r.costs.allocs
	}
	n := float64(len(k.runs))
	return meanCPU(cs), costs{commands: sum.commands / n, trips: sum.trips / n, allocs: sum.allocs / n}
}

// measureThroughput runs the baselines and telequeue -repeat times each,
// interleaved, and reports the medians. It sets b.maxRate for the half-load
// latency run.
func (b *bench) measureThroughput(ctx context.Context) error {
	noop := &throughputKind{name: "no-op", kind: "noop", procs: 6, n: b.size.ceiling}
	plain6 := &throughputKind{name: "plain + HTTP 6 × 10", kind: "http", procs: 6, n: b.size.ceiling}
	tq6 := &throughputKind{name: "telequeue 6 × 10", kind: "telequeue", procs: 6, n: b.size.ceiling}
	plain1 := &throughputKind{name: "plain + HTTP 1 × 10", kind: "http", procs: 1, n: b.size.oneProcess}
	tq1 := &throughputKind{name: "telequeue 1 × 10", kind: "telequeue", procs: 1, n: b.size.oneProcess}
	kinds := []*throughputKind{noop, plain6, tq6, plain1, tq1}
	var alts []*throughputKind
	for i := range b.opts.alts {
		a := &b.opts.alts[i]
		alts = append(alts, &throughputKind{name: "alt " + a.label, kind: "alt", procs: 6, n: b.size.ceiling, alt: a})
	}
	kinds = append(kinds, alts...)
	for r := range b.opts.repeat {
		for _, k := range kinds {
			b.progress(fmt.Sprintf("throughput %d/%d: %s, %d processes × 10, %d tasks", r+1, b.opts.repeat, k.name, k.procs, k.n))
			res, err := b.throughputRun(ctx, k.kind, k.procs, k.n, r, k.alt)
			if err != nil {
				return err
			}
			b.progress(fmt.Sprintf("  %.0f tasks/s; CPU per task: %s; %s; load average %s", res.rate, res.cpu, res.costs, loadavg()))
			k.runs = append(k.runs, res)
		}
	}
	runs := func(k *throughputKind) string { return runList(k.rates()) }
	const sec = "throughput"
	b.maxRate = tq6.median()
	b.report.add(sec, "ceiling: plain asynq no-op, 6 × 10", fmt.Sprintf("%.0f tasks/s%s", noop.median(), runs(noop)), "", nil)
	b.report.add(sec, "plain asynq + same HTTP send, 6 × 10", fmt.Sprintf("%.0f msgs/s%s", plain6.median(), runs(plain6)), "", nil)
	ok := b.maxRate >= targetThroughput
	b.report.add(sec, "telequeue end to end, 6 × 10, limits off", fmt.Sprintf("%.0f msgs/s%s", b.maxRate, runs(tq6)), "≥ 4000 msgs/s", &ok)
	b.report.add(sec, "plain asynq + same HTTP send, 1 × 10", fmt.Sprintf("%.0f msgs/s%s", plain1.median(), runs(plain1)), "", nil)
	b.report.add(sec, "telequeue end to end, 1 × 10, limits off", fmt.Sprintf("%.0f msgs/s%s", tq1.median(), runs(tq1)), "", nil)
	ratio := b.maxRate / plain6.median()
	ok = ratio >= targetPlainRatio
	b.report.add(sec, "6 × 10 ÷ plain asynq + same HTTP send", fmt.Sprintf("%.2f", ratio), fmt.Sprintf("≥ %.2f", targetPlainRatio), &ok)
	b.report.add(sec, "1 × 10 ÷ plain asynq + same HTTP send, 1 × 10", fmt.Sprintf("%.2f", tq1.median()/plain1.median()), "", nil)
	cpuRatio := func(tq, plain *throughputKind) float64 {
		t, _ := tq.mean()
		p, _ := plain.mean()
		return float64(t.workers) / float64(p.workers)
	}
	ratio = cpuRatio(tq6, plain6)
	ok = ratio <= targetWorkerCPURatio
	b.report.add(sec, "worker CPU per message, 6 × 10 ÷ plain + HTTP", fmt.Sprintf("%.2f", ratio), fmt.Sprintf("≤ %.2f", targetWorkerCPURatio), &ok)
	b.report.add(sec, "worker CPU per message, 1 × 10 ÷ plain + HTTP 1 × 10", fmt.Sprintf("%.2f", cpuRatio(tq1, plain1)), "", nil)
	b.report.add(sec, "6 × 10 ÷ ceiling (no-op)", fmt.Sprintf("%.2f", b.maxRate/noop.median()), "", nil)
	b.report.add(sec, "1 × 10 ÷ ceiling (no-op, 6 × 10)", fmt.Sprintf("%.2f", tq1.median()/noop.median()), "", nil)
	for _, k := range alts {
		b.report.add(sec, fmt.Sprintf("alt %q, 6 × 10, limits off", k.alt.label), fmt.Sprintf("%.0f msgs/s%s", k.median(), runs(k)), "", nil)
		b.report.add(sec, fmt.Sprintf("alt %q ÷ plain asynq + same HTTP send", k.alt.label), fmt.Sprintf("%.2f", k.median()/plain6.median()), "", nil)
	}
	figures := []struct {
		name  string
		value func(cpuSnap, costs) string
	}{
		{"CPU per task", func(c cpuSnap, _ costs) string { return c.String() }},
		{"Redis commands per task", func(_ cpuSnap, c costs) string { return fmt.Sprintf("%.1f", c.commands) }},
		{"Redis round trips per task", func(_ cpuSnap, c costs) string { return fmt.Sprintf("%.1f", c.trips) }},
		{"allocations per task in the workers", func(_ cpuSnap, c costs) string { return allocs(c.allocs) }},
	}
	for _, f := range figures {
		for _, k := range kinds {
			b.report.add(sec, "  "+f.name+", "+k.name, f.value(k.mean()), "", nil)
		}
	}
	b.report.tables = append(b.report.tables, sideBySide(plain1, tq1, plain6, tq6, alts))
	return nil
}

// sideBySide is a Markdown table of telequeue beside plain asynq + the same
// HTTP send at each size (issue 13 §2), with telequeue ÷ plain.
func sideBySide(plain1, tq1, plain6, tq6 *throughputKind, alts []*throughputKind) string {
	var w strings.Builder
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	fmt.Fprintln(&w, "Side by side (msgs/s: median of the runs; the rest: mean per message; CPU over the whole drain, the rest between 10% and 90% of the tasks):")
	fmt.Fprintln(&w)
	fmt.Fprintln(&w, "| kind | msgs/s | worker CPU µs/msg | Redis CPU µs/msg | Redis commands/msg | Redis round trips/msg | allocs/msg (workers) |")
	fmt.Fprintln(&w, "|---|---:|---:|---:|---:|---:|---:|")
	line := func(k *throughputKind) {
		c, x := k.mean()
		fmt.Fprintf(&w, "| %s | %.0f | %.0f | %.0f | %.1f | %.1f | %s |\n", k.name, k.median(), us(c.workers), us(c.redis), x.commands, x.trips, allocs(x.allocs))
	}
	ratio := func(name string, tq, plain *throughputKind) {
		tc, tx := tq.mean()
		pc, px := plain.mean()
		fmt.Fprintf(&w, "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", name, tq.median()/plain.median(),
			us(tc.workers)/us(pc.workers), us(tc.redis)/us(pc.redis), tx.commands/px.commands, tx.trips/px.trips, tx.allocs/px.allocs)
	}
	line(plain1)
	line(tq1)
	ratio("telequeue ÷ plain, 1 × 10", tq1, plain1)
	line(plain6)
	line(tq6)
	ratio("telequeue ÷ plain, 6 × 10", tq6, plain6)
	for _, k := range alts {
		line(k)
		ratio(k.name+" ÷ plain, 6 × 10", k, plain6)
	}
	fmt.Fprintf(&w, "\nTargets (issue 13), 6 × 10: msgs/s ratio ≥ %.2f, worker CPU per message ratio ≤ %.2f.\n", targetPlainRatio, targetWorkerCPURatio)
	return w.String()
}

// throughputRun starts procs processes of kind ("noop" and "http": the plain
// asynq baseline; "telequeue": cmd/worker), pauses the queue, enqueues n
// tasks, unpauses it and measures.
func (b *bench) throughputRun(ctx context.Context, kind string, procs, n, rep int, alt *alt) (throughputResult, error) {
	var res throughputResult
	if err := b.flush(ctx); err != nil {
		return res, err
	}
	var g group
	var err error
	dir := ""
	if b.opts.profile != "" && procs == 6 {
		dir = filepath.Join(b.opts.profile, fmt.Sprintf("run%d", rep+1))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return res, err
		}
	}
	if kind == "telequeue" || kind == "alt" {
		g, err = b.startWorkers(ctx, procs, limitsOff, b.taskCheck, dir, alt)
	} else {
		g, err = b.startPlain(ctx, procs, kind, dir)
	}
	if err != nil {
		return res, err
	}
	defer g.stop()
	if err := b.insp.PauseQueue(queue); err != nil {
		return res, err
	}
	if kind == "telequeue" || kind == "alt" {
		c, err := b.newClient()
		if err != nil {
			return res, err
		}
		err = enqueueMany(ctx, c, messages(n, 1_000_000, "m"))
		_ = c.Close()
		if err != nil {
			return res, err
		}
	} else if err := b.enqueuePlain(ctx, n); err != nil {
		return res, err
	}
	before, err := b.cpu(ctx, g)
	if err != nil {
		return res, err
	}
	if dir != "" {
		// The bench process's own: the sandbox's work for this kind.
		f, err := os.Create(filepath.Join(dir, "bench-"+kind+".pprof"))
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
		defer pprof.StopCPUProfile()
	}
	var snaps []costSnap
	mark := func(ctx context.Context) error {
		s, err := b.costSnap(ctx, g, []string{queue})
		snaps = append(snaps, s)
		return err
	}
	if res.rate, err = b.drainQueues(ctx, g, n, mark, queue); err != nil {
		return res, err
	}
	after, err := b.cpu(ctx, g)
	if err != nil {
		return res, err
	}
	res.cpu = before.perMessage(after, n)
	if res.costs, err = snaps[0].perMessage(snaps[1]); err != nil {
		return res, err
	}
	if kind != "noop" {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := b.sb.WaitFor(wctx, n); err != nil {
			return res, fmt.Errorf("sandbox received %d of %d messages", b.sb.Count(), n)
		}
		if st := b.sb.Stats(); st.Delivered != n || st.Requests != n {
			return res, fmt.Errorf("sandbox: %d requests, %d delivered, want %d", st.Requests, st.Delivered, n)
		}
	}
	return res, nil
}

// drainQueues unpauses queues and returns the rate of tasks processed in
// them all between 10% and 90% of n tasks. If mark is not nil, it is
// called once at each of those two instants.
func (b *bench) drainQueues(ctx context.Context, g group, n int, mark func(context.Context) error, queues ...string) (float64, error) {
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
	if mark == nil {
		mark = func(context.Context) error { return nil }
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
			if err := mark(ctx); err != nil {
				return 0, err
			}
		}
		if t90.IsZero() && p >= hi {
			t90 = now
			if err := mark(ctx); err != nil {
				return 0, err
			}
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
