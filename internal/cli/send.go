package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/tasks"
)

const sendAbout = `Queues one message and prints its task id, or with --jsonl one message per
line of FILE ("-" reads standard input) and one id per queued line.

TEXT is the message text (several arguments are joined with spaces; "-" reads
it from standard input). A repeated --key prints the first task's id and
queues nothing.

JSONL lines are sendMessage payloads as the worker takes them, e.g.
  {"chat_id": 42, "text": "hi", "parse_mode": "HTML"}
  {"chat_id": "@news", "text": "v2", "bot": "alerts", "priority": "bulk",
   "idempotency_key": "release-v2", "send_in": "10m"}
plus optional per-line "priority", "idempotency_key", "send_in" (a duration
such as "90s", or seconds), "send_at" (RFC 3339) and "ordered" (true: the
line's message is delivered in its chat's order, see --ordered; lines of one
chat are queued in file order). Unknown fields are errors. --bot,
--parse-mode, --priority and --in apply to lines that do not set their own;
--ordered orders every line.

--ordered delivers the message after every ordered message queued before it
to the same bot and chat, one at a time (not with --in). --split queues a
long TEXT as one multi-part reply, cut into parts of at most 4096 characters
at paragraph, line and word boundaries (plain text or --parse-mode HTML);
--parts queues each TEXT argument as one part of a reply. A reply is one
task: its parts arrive in order, and a retry resumes after the last part
sent. A bad line is reported as "line N: ..." on standard error and
the others are still queued; the exit status is then 1.`

// maxTextInput bounds TEXT read from standard input.
const maxTextInput = 1 << 20

// sendFlags are the flags of "telequeue send".
type sendFlags struct {
	chat, bot, priority, key, parseMode, jsonl string
	in                                         time.Duration
	ordered, split, parts                      bool
}

func runSend(ctx context.Context, e *env, args []string) error {
	var f sendFlags
	fs := newFlagSet(e, "send", "--chat ID [flags] TEXT | --jsonl FILE|-", sendAbout)
	fs.StringVar(&f.chat, "chat", "", "chat: an integer id or @channelusername")
	fs.StringVar(&f.bot, "bot", "", `bot name from TELEGRAM_BOTS (default "default")`)
	fs.StringVar(&f.priority, "priority", "", `critical, default or bulk (default "default")`)
	fs.StringVar(&f.key, "key", "", "idempotency key: a repeat with the same key queues nothing")
	fs.DurationVar(&f.in, "in", 0, "send after this delay, e.g. 10s or 2h")
	fs.StringVar(&f.parseMode, "parse-mode", "", "HTML, Markdown or MarkdownV2")
	fs.StringVar(&f.jsonl, "jsonl", "", `queue one message per JSON line of FILE ("-": standard input)`)
	fs.BoolVar(&f.ordered, "ordered", false, "deliver in the chat's order, after the ordered messages queued before")
	fs.BoolVar(&f.split, "split", false, "split a long TEXT into a multi-part reply of 4096-character parts")
	fs.BoolVar(&f.parts, "parts", false, "queue each TEXT argument as one part of a multi-part reply")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if f.priority != "" && !client.Priority(f.priority).Valid() {
		return usagef("--priority %q: use critical, default or bulk", f.priority)
	}
	if f.in < 0 {
		return usagef("--in %v: must not be negative", f.in)
	}
	if f.jsonl != "" {
		if f.split || f.parts {
			return usagef("--split and --parts take TEXT, not --jsonl")
		}
		if f.chat != "" || f.key != "" || len(pos) > 0 {
			return usagef("--jsonl takes the chat, text and key from each line: drop --chat, --key and TEXT")
		}
		return sendJSONL(ctx, e, f)
	}
	if f.split || f.parts {
		return sendReply(ctx, e, f, pos)
	}
	return sendOne(ctx, e, f, pos)
}

func sendOne(ctx context.Context, e *env, f sendFlags, pos []string) error {
	if f.chat == "" {
		return usagef("--chat is required")
	}
	chat, err := parseChat(f.chat)
	if err != nil {
		return err
	}
	text := strings.Join(pos, " ")
	switch {
	case len(pos) == 1 && pos[0] == "-":
		b, err := io.ReadAll(io.LimitReader(e.stdin, maxTextInput))
		if err != nil {
			return fmt.Errorf("read text: %w", err)
		}
		text = strings.TrimRight(string(b), "\n")
	case len(pos) == 0:
		return usagef("TEXT is required")
	}
	m := &tasks.SendMessage{Bot: f.bot, ChatID: chat, Text: text, ParseMode: f.parseMode}

	c, err := newClient(e)
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.SendMessage(ctx, m, f.options()...)
	if dup, err := reportDuplicate(e, "send", "task", err); dup || err != nil {
		return flagError(err)
	}
	_, err = fmt.Fprintln(e.stdout, r.ID)
	return err
}

// options are the client options the flags ask for.
func (f *sendFlags) options() []client.Option {
	var opts []client.Option
	if f.priority != "" {
		opts = append(opts, client.Priority(f.priority))
	}
	if f.key != "" {
		opts = append(opts, client.IdempotencyKey(f.key))
	}
	if f.in > 0 {
		opts = append(opts, client.SendIn(f.in))
	}
	if f.ordered {
		opts = append(opts, client.Ordered())
	}
	return opts
}

// parseChat reads an integer chat id or an @username.
func parseChat(s string) (telego.ChatID, error) {
	if strings.HasPrefix(s, "@") {
		return telego.ChatID{Username: s}, nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id == 0 {
		return telego.ChatID{}, usagef("--chat %q: want an integer chat id or @channelusername", s)
	}
	return telego.ChatID{ID: id}, nil
}

// openInput opens a --jsonl argument: a file, or standard input for "-".
func openInput(e *env, name string) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(e.stdin), nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}
