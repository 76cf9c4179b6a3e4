package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/tasks"
)

// Limits of the JSONL pipeline.
const (
	// jsonlWorkers is how many enqueues run at once. Each is one Redis round
	// trip, so concurrency hides latency; beyond ~32 Redis is the limit.
	jsonlWorkers = 32
	// jsonlWindow bounds the lines read ahead of the oldest unreported one,
	// and so memory, whatever the input size.
	jsonlWindow = 4096
	// maxLineBytes is the longest line accepted; a message is at most 4096
	// characters of text plus markup and entities.
	maxLineBytes = 1 << 20
)

// errNotTried marks lines skipped because the run stopped.
var errNotTried = errors.New("not tried")

// job is one non-blank input line on its way through the pipeline.
type job struct {
	line    int // 1-based line number
	msg     *tasks.SendMessage
	opts    []client.Option
	call    *tasks.Call // a line of another method than sendMessage
	copts   callOptions // call's options
	key     string      // the line's idempotency key, if any
	after   *job        // an earlier line with the same key, enqueued first
	prev    *job        // the previous ordered line to the same chat, enqueued first
	receipt *client.Receipt
	err     error
	done    chan struct{} // closed once receipt or err is set
}

// sendJSONL queues one message per line. One goroutine reads and parses
// lines, jsonlWorkers goroutines enqueue them, and this goroutine reports
// them in input order as each finishes; at most jsonlWindow lines are in
// flight. A Redis outage or an interrupt stops the run.
func sendJSONL(ctx context.Context, e *env, f sendFlags) error {
	in, err := openInput(e, f.jsonl)
	if err != nil {
		return err
	}
	defer in.Close()
	c, err := newClient(e)
	if err != nil {
		return err
	}
	defer c.Close()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defaults := lineDefaults{bot: f.bot, parseMode: f.parseMode, opts: f.options(), ordered: f.ordered,
		call: callDefaults{bot: f.bot, opts: callOptions{priority: f.priority, sendIn: f.in}}}
	order := make(chan *job, jsonlWindow)
	work := make(chan *job, jsonlWorkers)

	var readErr error
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(order)
		defer close(work)
		readErr = readLines(ctx, in, defaults, order, work)
	}()

	var wg sync.WaitGroup
	for range jsonlWorkers {
		wg.Go(func() {
			for j := range work {
				enqueue(ctx, c, j, cancel)
			}
		})
	}

	s := report(e, order)
	wg.Wait()
	<-readDone
	if readErr != nil {
		fmt.Fprintf(e.stderr, "telequeue send: read %s: %v\n", f.jsonl, readErr)
		s.failed++
	}
	if cause := context.Cause(ctx); cause != nil {
		if errors.Is(cause, context.Canceled) {
			fmt.Fprintln(e.stderr, "telequeue send: interrupted")
		} else {
			fmt.Fprintf(e.stderr, "telequeue send: stopped: %v\n", cause)
		}
		s.stopped = true
	}
	if s.failed+s.notTried == 0 && !s.stopped {
		return nil
	}
	fmt.Fprintf(e.stderr, "telequeue send: %d queued, %d duplicates, %d failed, %d not tried\n", s.queued, s.duplicates, s.failed, s.notTried)
	return errReported
}

// enqueue sends one parsed line; the first Redis outage stops the run, as
// every further line would wait for Redis and fail.
func enqueue(ctx context.Context, c *client.Client, j *job, stop context.CancelCauseFunc) {
	defer close(j.done)
	if j.after != nil {
		// The earlier line with this key goes first, so that it, not this
		// one, is the one queued. It was handed out to a worker before
		// this one, so the wait ends.
		<-j.after.done
	}
	if j.prev != nil {
		// Ordered lines of a chat are queued in file order.
		<-j.prev.done
	}
	if cause := context.Cause(ctx); cause != nil {
		j.err = fmt.Errorf("%w: %w", errNotTried, cause)
		return
	}
	if j.call != nil {
		j.receipt, j.err = sendCall(ctx, c, j.call, j.copts)
	} else {
		j.receipt, j.err = c.SendMessage(ctx, j.msg, j.opts...)
	}
	switch {
	case errors.Is(j.err, client.ErrUnavailable):
		stop(j.err)
	case j.err != nil && ctx.Err() != nil && errors.Is(j.err, ctx.Err()):
		// Cut short by the stop; the client made sure it was not queued.
		j.err = fmt.Errorf("%w: %w", errNotTried, j.err)
	}
}

type summary struct {
	queued, duplicates, failed, notTried int
	stopped                              bool
}

// report prints each line's outcome in input order: its task id on stdout,
// or "line N: error" on stderr.
func report(e *env, order <-chan *job) summary {
	out := bufio.NewWriterSize(e.stdout, 64<<10)
	defer out.Flush()
	var s summary
	for {
		var (
			j  *job
			ok bool
		)
		select {
		case j, ok = <-order:
		default:
			// Nothing ready yet: show what we have (slow or interactive input).
			_ = out.Flush()
			j, ok = <-order
		}
		if !ok {
			return s
		}
		<-j.done
		var dup *client.DuplicateError
		switch {
		case j.err == nil:
			s.queued++
			fmt.Fprintln(out, j.receipt.ID)
		case errors.As(j.err, &dup):
			// The key did its job: the message is queued, by an earlier run.
			s.duplicates++
			fmt.Fprintln(out, dup.ID)
			fmt.Fprintf(e.stderr, "line %d: key %q was already used by task %s: not queued again\n", j.line, dup.Key, dup.ID)
		case errors.Is(j.err, errNotTried):
			s.notTried++
		default:
			s.failed++
			fmt.Fprintf(e.stderr, "line %d: %v\n", j.line, j.err)
		}
	}
}

// readLines reads in line by line, parses each non-blank line, and queues it
// on order (always, to keep the input order) and on work (if it parsed).
func readLines(ctx context.Context, in io.Reader, d lineDefaults, order, work chan<- *job) error {
	br := bufio.NewReaderSize(in, 64<<10)
	var buf []byte
	// Lines with an idempotency key still in flight, by key.
	keyed := map[string]*job{}
	// The last ordered line of each chat.
	ordered := map[tasks.OrderKey]*job{}
	for n := 1; ; n++ {
		if ctx.Err() != nil {
			return nil
		}
		line, tooLong, err := readLine(br, buf[:0])
		buf = line
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 || tooLong {
			j := &job{line: n, done: make(chan struct{})}
			m, isCall, err := isCallLine(trimmed)
			switch {
			case tooLong:
				j.err = fmt.Errorf("line is longer than %d bytes", maxLineBytes)
			case err != nil:
				j.err = err
			case isCall && m.Name != "sendMessage":
				j.call, j.copts, j.err = d.parseCall(m, trimmed)
				j.key = j.copts.key
			default:
				j.msg, j.opts, j.key, j.err = d.parse(trimmed)
			}
			if j.key != "" && j.err == nil {
				j.after = keyed[j.key]
				keyed[j.key] = j
				if len(keyed) > 2*jsonlWindow {
					forgetDone(keyed)
				}
			}
			if j.err == nil && j.msg != nil && d.isOrdered(trimmed) {
				k := tasks.OrderKeyOf(j.msg.BotName(), j.msg.ChatID.String())
				j.prev = ordered[k]
				ordered[k] = j
				if len(ordered) > 2*jsonlWindow {
					forgetDone(ordered)
				}
			}
			order <- j
			if j.err != nil {
				close(j.done)
			} else {
				work <- j
			}
		}
		if err != nil { // io.EOF
			return nil
		}
	}
}

// forgetDone removes finished jobs from keyed.
func forgetDone[K comparable](keyed map[K]*job) {
	for k, j := range keyed {
		select {
		case <-j.done:
			delete(keyed, k)
		default:
		}
	}
}

// readLine appends the next line of br (without its newline) to buf. A line
// longer than maxLineBytes is consumed and reported as tooLong.
func readLine(br *bufio.Reader, buf []byte) (line []byte, tooLong bool, err error) {
	for {
		frag, err := br.ReadSlice('\n')
		if len(buf)+len(frag) <= maxLineBytes+1 {
			buf = append(buf, frag...)
		} else {
			tooLong = true
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimSuffix(buf, []byte("\n")), tooLong, err
	}
}

// lineDefaults are the flags that apply to lines that do not say otherwise.
type lineDefaults struct {
	bot, parseMode string
	opts           []client.Option
	ordered        bool         // --ordered
	call           callDefaults // for lines of other methods
}

// lineOptionKeys are the per-line keys that are not payload fields.
var lineOptionKeys = [...]string{"priority", "idempotency_key", "send_in", "send_at", "ordered", "method"}

// parse decodes one line: the payload, strictly (unknown fields are errors),
// and the per-line options, which are removed from the object first. key is
// the line's idempotency key.
func (d *lineDefaults) parse(line []byte) (m *tasks.SendMessage, opts []client.Option, key string, err error) {
	opts = d.opts
	payload := line
	if hasLineOptions(line) {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(line, &fields); err != nil {
			return nil, nil, "", fmt.Errorf("%w: %v", tasks.ErrMalformedPayload, err)
		}
		var lineOpts []client.Option
		lineOpts, key, err = takeLineOptions(fields)
		if err != nil {
			return nil, nil, "", err
		}
		// Line options come last: the last option of a kind wins.
		opts = append(append([]client.Option(nil), d.opts...), lineOpts...)
		if payload, err = json.Marshal(fields); err != nil {
			return nil, nil, "", fmt.Errorf("%w: %v", tasks.ErrMalformedPayload, err)
		}
	}
	m, err = tasks.ParseSendMessage(payload)
	if err != nil {
		return nil, nil, "", err
	}
	if m.Bot == "" {
		m.Bot = d.bot
	}
	if m.ParseMode == "" && len(m.Entities) == 0 {
		m.ParseMode = d.parseMode
	}
	return m, opts, key, nil
}

// hasLineOptions is a fast check for lines that need the slow path. A key
// escaped in JSON (\u0070riority) is missed, and then refused as an unknown
// field of the payload: strict either way.
func hasLineOptions(line []byte) bool {
	for _, k := range lineOptionKeys {
		if bytes.Contains(line, []byte(`"`+k+`"`)) {
			return true
		}
	}
	return false
}

// takeLineOptions removes the per-line keys from fields and returns them as
// client options, and the idempotency key.
func takeLineOptions(fields map[string]json.RawMessage) (opts []client.Option, idemKey string, err error) {
	for _, k := range lineOptionKeys {
		raw, ok := fields[k]
		if !ok {
			continue
		}
		delete(fields, k)
		switch k {
		case "priority":
			var p string
			if err = json.Unmarshal(raw, &p); err == nil {
				opts = append(opts, client.Priority(p))
			}
		case "idempotency_key":
			if err = json.Unmarshal(raw, &idemKey); err == nil {
				opts = append(opts, client.IdempotencyKey(idemKey))
			}
		case "send_in":
			var d time.Duration
			if d, err = parseSendIn(raw); err == nil {
				opts = append(opts, client.SendIn(d))
			}
		case "send_at":
			var at time.Time
			if err = json.Unmarshal(raw, &at); err == nil {
				opts = append(opts, client.SendAt(at))
			}
		case "ordered":
			var ordered bool
			if err = json.Unmarshal(raw, &ordered); err == nil && ordered {
				opts = append(opts, client.Ordered())
			}
		case "method":
			// Lines of other methods are calls (see isCallLine).
			var m string
			if err = json.Unmarshal(raw, &m); err == nil && m != "sendMessage" {
				err = errors.New("not sendMessage")
			}
		}
		if err != nil {
			return nil, "", &tasks.ValidationError{Field: k, Err: tasks.ErrInvalidField, Detail: lineOptionHelp(k)}
		}
	}
	return opts, idemKey, nil
}

func lineOptionHelp(key string) string {
	switch key {
	case "priority":
		return `want a string: "critical", "default" or "bulk"`
	case "send_in":
		return `want a duration such as "90s" or "2h", or a number of seconds`
	case "send_at":
		return `want an RFC 3339 time such as "2030-01-02T15:04:05Z"`
	case "ordered":
		return "want true or false"
	case "method":
		return "want the name of a Bot API method telequeue queues, e.g. sendPhoto"
	}
	return "want a string"
}

// parseSendIn reads "90s"-style durations and plain numbers of seconds.
func parseSendIn(raw json.RawMessage) (time.Duration, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return 0, errors.New("bad duration")
		}
		return d, nil
	}
	secs, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || secs < 0 || secs > 1e9 {
		return 0, errors.New("bad number of seconds")
	}
	return time.Duration(secs * float64(time.Second)), nil
}
