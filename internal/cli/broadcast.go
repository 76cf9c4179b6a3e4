package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/tasks"
)

const broadcastAbout = `Sends one message to many chats. FILE holds one integer chat id per line
("-" reads standard input; blank lines and lines starting with # are
skipped); TEXT is the message ("-" reads it from standard input unless the
chats come from there).

The command returns once the broadcast is accepted and prints its id. With
--wait it then shows a progress bar (sent, failed, blocked, rate, ETA) on
standard error until every recipient is settled; plain lines every ten
polls when standard error is not a terminal.

  telequeue broadcast --chats users.txt "We have moved: https://example.com/new"
  telequeue broadcast status ID [--wait] [--json]   progress of a broadcast
  telequeue broadcast --cancel ID                   stop what was not sent yet
  telequeue broadcast --blocked ID                  chats that answered 403, one per line

A repeated --key prints the first broadcast's id and queues nothing.`

// broadcastFlags are the flags of "telequeue broadcast".
type broadcastFlags struct {
	chats, bot, parseMode, key string
	cancel, blocked, status    string
	in, interval               time.Duration
	parallelism                int
	wait, asJSON               bool
}

func runBroadcast(ctx context.Context, e *env, args []string) error {
	var f broadcastFlags
	fs := newFlagSet(e, "broadcast", "--chats FILE [flags] TEXT | status [--wait] ID | --cancel ID | --blocked ID", broadcastAbout)
	fs.StringVar(&f.chats, "chats", "", `file with one chat id per line ("-": standard input)`)
	fs.StringVar(&f.bot, "bot", "", `bot name from TELEGRAM_BOTS (default "default")`)
	fs.StringVar(&f.parseMode, "parse-mode", "", "HTML, Markdown or MarkdownV2")
	fs.StringVar(&f.key, "key", "", "idempotency key: a repeat with the same key queues nothing")
	fs.DurationVar(&f.in, "in", 0, "start after this delay, e.g. 10m")
	fs.IntVar(&f.parallelism, "parallelism", 0, fmt.Sprintf("chunks sent at the same time (default %d)", client.DefaultBroadcastParallelism))
	fs.BoolVar(&f.wait, "wait", false, "show progress until every recipient is settled")
	fs.DurationVar(&f.interval, "interval", time.Second, "how often --wait polls the progress")
	fs.StringVar(&f.cancel, "cancel", "", "cancel broadcast `ID`: recipients not sent yet are not sent")
	fs.StringVar(&f.blocked, "blocked", "", "print the chats of broadcast `ID` that answered 403, one per line")
	fs.StringVar(&f.status, "status", "", "show the progress of broadcast `ID` (like: broadcast status ID)")
	fs.BoolVar(&f.asJSON, "json", false, "print the progress as JSON (status and --cancel)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if f.interval <= 0 {
		return usagef("--interval %v: must be positive", f.interval)
	}
	if f.chats == "" && len(pos) == 2 {
		switch pos[0] {
		case "status":
			f.status, pos = pos[1], nil
		case "cancel":
			f.cancel, pos = pos[1], nil
		case "blocked":
			f.blocked, pos = pos[1], nil
		}
	}
	modes := 0
	for _, s := range []string{f.chats, f.cancel, f.blocked, f.status} {
		if s != "" {
			modes++
		}
	}
	switch {
	case modes == 0:
		return usagef("--chats FILE and TEXT are required (or status ID, --cancel ID, --blocked ID)")
	case modes > 1:
		return usagef("use one of --chats, status, --cancel and --blocked")
	case f.chats == "" && len(pos) > 0:
		return usagef("unexpected arguments %q", pos)
	}

	c, err := newClient(e)
	if err != nil {
		return err
	}
	defer c.Close()
	switch {
	case f.cancel != "":
		p, err := c.CancelBroadcast(ctx, f.cancel)
		if err != nil {
			return err
		}
		return printProgress(e, p, f.asJSON)
	case f.blocked != "":
		return printBlocked(ctx, e, c, f.blocked)
	case f.status != "":
		if f.wait {
			p, err := watchBroadcast(ctx, e, c, f.status, f.interval)
			if err != nil {
				return err
			}
			return printProgress(e, p, f.asJSON)
		}
		p, err := c.BroadcastStatus(ctx, f.status)
		if err != nil {
			return err
		}
		return printProgress(e, p, f.asJSON)
	}
	return startBroadcast(ctx, e, c, f, pos)
}

func startBroadcast(ctx context.Context, e *env, c *client.Client, f broadcastFlags, pos []string) error {
	if f.in < 0 {
		return usagef("--in %v: must not be negative", f.in)
	}
	text := strings.Join(pos, " ")
	switch {
	case len(pos) == 1 && pos[0] == "-":
		if f.chats == "-" {
			return usagef(`TEXT and --chats cannot both come from standard input`)
		}
		b, err := io.ReadAll(io.LimitReader(e.stdin, maxTextInput))
		if err != nil {
			return fmt.Errorf("read text: %w", err)
		}
		text = strings.TrimRight(string(b), "\n")
	case len(pos) == 0:
		return usagef("TEXT is required")
	}
	ids, err := readChats(e, f.chats)
	if err != nil {
		return err
	}
	var opts []client.Option
	if f.key != "" {
		opts = append(opts, client.IdempotencyKey(f.key))
	}
	if f.in > 0 {
		opts = append(opts, client.SendIn(f.in))
	}
	if f.parallelism != 0 {
		opts = append(opts, client.BroadcastParallelism(f.parallelism))
	}
	m := &tasks.SendMessage{Bot: f.bot, Text: text, ParseMode: f.parseMode}
	r, err := c.Broadcast(ctx, m, ids, opts...)
	if dup, err := reportDuplicate(e, "broadcast", "broadcast", err); dup || err != nil {
		return flagError(err)
	}
	fmt.Fprintln(e.stdout, r.ID)
	if r.Duplicates > 0 {
		fmt.Fprintf(e.stderr, "telequeue broadcast: %d repeated chat ids dropped; %d chats\n", r.Duplicates, r.Total)
	}
	if !f.wait {
		return nil
	}
	p, err := watchBroadcast(ctx, e, c, r.ID, f.interval)
	if err != nil {
		return err
	}
	if f.asJSON {
		return printProgress(e, p, true)
	}
	return nil
}

// maxChatLine bounds one line of a chats file.
const maxChatLine = 4096

// readChats reads one chat id per line; "-" is standard input.
func readChats(e *env, name string) ([]int64, error) {
	var r io.Reader = e.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxChatLine)
	var ids []int64
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, err := strconv.ParseInt(line, 10, 64)
		if err == nil {
			err = tasks.ValidateBroadcastChat(id)
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %q is not a chat id: want one integer chat id per line", name, n, preview(line, 40))
		}
		ids = append(ids, id)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: no chat ids", name)
	}
	return ids, nil
}

// printBlocked writes the blocked chats, one per line, page by page.
func printBlocked(ctx context.Context, e *env, c *client.Client, id string) error {
	const page = 100_000
	w := bufio.NewWriter(e.stdout)
	for offset := 0; ; offset += page {
		ids, err := c.BroadcastBlocked(ctx, id, offset, page)
		if err != nil {
			return err
		}
		for _, chat := range ids {
			w.WriteString(strconv.FormatInt(chat, 10))
			w.WriteByte('\n')
		}
		if len(ids) < page {
			return w.Flush()
		}
	}
}

// printProgress writes p as aligned "name: value" lines, or as JSON.
func printProgress(e *env, p *client.BroadcastProgress, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 1, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "%s:\t%s\n", name, fmt.Sprintf(format, args...))
	}
	row("id", "%s", p.ID)
	row("state", "%s", p.State)
	row("bot", "%s", p.Bot)
	row("total", "%d", p.Total)
	row("sent", "%d", p.Sent)
	row("failed", "%d", p.Failed)
	row("blocked", "%d", p.Blocked)
	row("cancelled", "%d", p.Cancelled)
	row("pending", "%d", p.Pending)
	row("created", "%s", stamp(p.CreatedAt))
	if !p.StartAt.IsZero() {
		row("starts", "%s", stamp(p.StartAt))
	}
	if p.Done() {
		row("finished", "%s", stamp(p.FinishedAt))
	}
	if p.LastError != "" {
		row("last error", "%s", oneLine(p.LastError))
	}
	return tw.Flush()
}

// progressSample is one poll of a watched broadcast.
type progressSample struct {
	at      time.Time
	settled int
}

// rateWindow is how far back the rate of --wait looks.
const rateWindow = 15 * time.Second

// watchBroadcast polls the broadcast every interval and draws its progress
// on stderr until every recipient is settled. On a terminal it redraws one
// line; otherwise it prints a line every ten polls (and the last one).
func watchBroadcast(ctx context.Context, e *env, c *client.Client, id string, interval time.Duration) (*client.BroadcastProgress, error) {
	tty := isTerminal(e.stderr)
	var samples []progressSample
	lastLine := time.Time{}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		p, err := c.BroadcastStatus(ctx, id)
		if err != nil {
			if tty {
				fmt.Fprintln(e.stderr)
			}
			return nil, err
		}
		now := time.Now()
		settled := p.Total - p.Pending
		samples = append(samples, progressSample{now, settled})
		for len(samples) > 2 && now.Sub(samples[1].at) >= rateWindow {
			samples = samples[1:]
		}
		line := progressLine(p, rate(samples))
		switch {
		case tty:
			fmt.Fprintf(e.stderr, "\r%s\x1b[K", line)
			if p.Done() {
				fmt.Fprintln(e.stderr)
			}
		case p.Done() || now.Sub(lastLine) >= 10*interval:
			fmt.Fprintln(e.stderr, line)
			lastLine = now
		}
		if p.Done() {
			return p, nil
		}
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(e.stderr)
			}
			fmt.Fprintf(e.stderr, "telequeue broadcast: stopped watching; the broadcast goes on (telequeue broadcast status %s --wait)\n", id)
			return nil, ctx.Err()
		case <-ticker.C:
		}
	}
}

// rate is recipients settled per second over the samples.
func rate(s []progressSample) float64 {
	if len(s) < 2 {
		return 0
	}
	first, last := s[0], s[len(s)-1]
	d := last.at.Sub(first.at).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(last.settled-first.settled) / d
}

// barWidth is the number of cells of the progress bar.
const barWidth = 24

// progressLine renders "[#####-----]  42.0% 4200/10000 sent 4100 failed 10
// blocked 90 · 31.0/s · ETA 3m07s".
func progressLine(p *client.BroadcastProgress, perSec float64) string {
	settled := p.Total - p.Pending
	frac := 0.0
	if p.Total > 0 {
		frac = float64(settled) / float64(p.Total)
	}
	cells := int(frac * barWidth)
	var b strings.Builder
	b.WriteByte('[')
	b.WriteString(strings.Repeat("#", cells))
	b.WriteString(strings.Repeat("-", barWidth-cells))
	fmt.Fprintf(&b, "] %5.1f%% %d/%d  sent %d  failed %d  blocked %d", frac*100, settled, p.Total, p.Sent, p.Failed, p.Blocked)
	if p.Cancelled > 0 || p.State == client.BroadcastCancelled {
		fmt.Fprintf(&b, "  cancelled %d", p.Cancelled)
	}
	switch {
	case p.Done():
		fmt.Fprintf(&b, "  · %s in %s", p.State, p.FinishedAt.Sub(firstNonZero(p.StartAt, p.CreatedAt)).Round(time.Second))
	case p.State == client.BroadcastScheduled:
		fmt.Fprintf(&b, "  · starts %s", p.StartAt.Local().Format(time.TimeOnly))
	case perSec > 0:
		eta := time.Duration(float64(p.Pending) / perSec * float64(time.Second))
		fmt.Fprintf(&b, "  · %.1f/s · ETA %s", perSec, eta.Round(time.Second))
	default:
		b.WriteString("  · waiting")
	}
	if p.LastError != "" && !p.Done() {
		fmt.Fprintf(&b, "  · last error: %s", preview(p.LastError, 60))
	}
	return b.String()
}

func firstNonZero(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
