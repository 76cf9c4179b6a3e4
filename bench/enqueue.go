package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// measureEnqueue times the client (1 and 100 producers, SendBatch) and the
// telequeue CLI with a JSONL file, with no worker running.
func (b *bench) measureEnqueue(ctx context.Context) error {
	c, err := b.newClient()
	if err != nil {
		return err
	}
	defer c.Close()
	const sec = "enqueue"

	// One producer, one message at a time.
	if err := b.flush(ctx); err != nil {
		return err
	}
	n := b.size.enqueueOne
	msgs := messages(n, 1_000_000, "e")
	b.progress(fmt.Sprintf("enqueue: client.SendMessage, 1 producer, %d messages", n))
	start := time.Now()
	for _, m := range msgs {
		if _, err := c.SendMessage(ctx, m); err != nil {
			return err
		}
	}
	b.report.add(sec, "client.SendMessage, 1 producer", rate(n, time.Since(start)), "", nil)

	// 100 producers.
	if err := b.flush(ctx); err != nil {
		return err
	}
	n = b.size.enqueueMany
	msgs = messages(n, 1_000_000, "e")
	b.progress(fmt.Sprintf("enqueue: client.SendMessage, 100 producers, %d messages", n))
	var next atomic.Int64
	errs := make(chan error, 100)
	start = time.Now()
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if _, err := c.SendMessage(ctx, msgs[i]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	b.report.add(sec, "client.SendMessage, 100 producers", rate(n, elapsed), "", nil)

	// SendBatch.
	if err := b.flush(ctx); err != nil {
		return err
	}
	b.progress(fmt.Sprintf("enqueue: client.SendBatch, %d messages", n))
	start = time.Now()
	if err := enqueueMany(ctx, c, msgs); err != nil {
		return err
	}
	b.report.add(sec, "client.SendBatch (32 in flight)", rate(n, time.Since(start)), "", nil)

	// telequeue send --jsonl.
	if err := b.flush(ctx); err != nil {
		return err
	}
	n = b.size.jsonl
	path := filepath.Join(b.tmp, "messages.jsonl")
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "{\"chat_id\":%d,\"text\":%q}\n", 1_000_000+i, text150("j"+strconv.Itoa(i)))
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		return err
	}
	b.progress(fmt.Sprintf("enqueue: telequeue send --jsonl, %d lines", n))
	elapsed, err = b.runJSONL(ctx, []string{path})
	if err != nil {
		return err
	}
	if err := b.checkQueued(ctx, n); err != nil {
		return err
	}
	b.report.add(sec, fmt.Sprintf("telequeue send --jsonl, %d lines (whole command)", n), rate(n, elapsed), "", nil)

	// 100 telequeue send --jsonl commands at once, n/100 lines each.
	if err := b.flush(ctx); err != nil {
		return err
	}
	const producers = 100
	lines := strings.SplitAfter(strings.TrimSuffix(sb.String(), "\n"), "\n")
	paths := make([]string, producers)
	for p := range producers {
		paths[p] = filepath.Join(b.tmp, fmt.Sprintf("messages-%d.jsonl", p))
		lo, hi := p*len(lines)/producers, (p+1)*len(lines)/producers
		if err := os.WriteFile(paths[p], []byte(strings.Join(lines[lo:hi], "")), 0o644); err != nil {
			return err
		}
	}
	b.progress(fmt.Sprintf("enqueue: %d telequeue send --jsonl commands at once, %d lines in all", producers, n))
	elapsed, err = b.runJSONL(ctx, paths)
	if err != nil {
		return err
	}
	if err := b.checkQueued(ctx, n); err != nil {
		return err
	}
	b.report.add(sec, fmt.Sprintf("%d telequeue send --jsonl at once, %d lines each (whole commands)", producers, n/producers), rate(n, elapsed), "", nil)
	return b.flush(ctx)
}

// runJSONL runs one "telequeue send --jsonl FILE" per path, all at once, and
// returns the time until the last one exited.
func (b *bench) runJSONL(ctx context.Context, paths []string) (time.Duration, error) {
	cmds := make([]*exec.Cmd, len(paths))
	stderrs := make([]*strings.Builder, len(paths))
	for i, path := range paths {
		cmd := exec.CommandContext(ctx, filepath.Join(b.bin, "telequeue"), "send", "--jsonl", path)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "REDIS_URL=" + b.redis.URL(),
			// The bot list of a producer that runs before any worker does.
			"TELEGRAM_BOT_TOKEN=" + botToken}
		stderrs[i] = &strings.Builder{}
		cmd.Stdout, cmd.Stderr = nil, stderrs[i] // task ids are discarded
		cmds[i] = cmd
	}
	start := time.Now()
	for i, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			for _, c := range cmds[:i] {
				_ = c.Process.Kill()
				_ = c.Wait()
			}
			return 0, fmt.Errorf("telequeue send --jsonl: %w", err)
		}
	}
	var first error
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil && first == nil {
			first = fmt.Errorf("telequeue send --jsonl %s: %w: %s", paths[i], err, stderrs[i].String())
		}
	}
	return time.Since(start), first
}

// checkQueued checks that the default queue holds n pending tasks.
func (b *bench) checkQueued(ctx context.Context, n int) error {
	queued, err := b.pending(ctx, queue)
	if err != nil {
		return err
	}
	if int(queued) != n {
		return fmt.Errorf("telequeue send --jsonl queued %d of %d lines", queued, n)
	}
	return nil
}

func rate(n int, d time.Duration) string {
	return fmt.Sprintf("%.0f msgs/s", float64(n)/d.Seconds())
}
