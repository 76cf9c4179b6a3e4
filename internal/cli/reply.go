package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/telequeue/telequeue/tasks"
)

// sendReply queues a multi-part reply: TEXT split into parts (--split), or
// one part per TEXT argument (--parts). It prints the task id on stdout and
// the number of parts on stderr.
func sendReply(ctx context.Context, e *env, f sendFlags, pos []string) error {
	switch {
	case f.split && f.parts:
		return usagef("use --split or --parts, not both")
	case f.chat == "":
		return usagef("--chat is required")
	case len(pos) == 0:
		return usagef("TEXT is required")
	}
	chat, err := parseChat(f.chat)
	if err != nil {
		return err
	}
	if len(pos) == 1 && pos[0] == "-" {
		b, err := io.ReadAll(io.LimitReader(e.stdin, maxTextInput))
		if err != nil {
			return fmt.Errorf("read text: %w", err)
		}
		pos = []string{strings.TrimRight(string(b), "\n")}
	}
	var parts []*tasks.SendMessage
	if f.split {
		m := &tasks.SendMessage{Bot: f.bot, ChatID: chat, Text: strings.Join(pos, " "), ParseMode: f.parseMode}
		if parts, err = tasks.SplitMessage(m, 0); err != nil {
			return err
		}
	} else {
		for _, text := range pos {
			parts = append(parts, &tasks.SendMessage{Bot: f.bot, Text: text, ParseMode: f.parseMode})
		}
	}

	c, err := newClient(e)
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.SendReply(ctx, chat, parts, f.options()...)
	if dup, err := reportDuplicate(e, "send", "task", err); dup || err != nil {
		return flagError(err)
	}
	fmt.Fprintf(e.stderr, "telequeue send: queued one reply of %d parts\n", len(parts))
	_, err = fmt.Fprintln(e.stdout, r.ID)
	return err
}

// isOrdered reports whether a JSONL line is delivered in its chat's order:
// with --ordered, or with "ordered": true on the line.
func (d *lineDefaults) isOrdered(line []byte) bool {
	if d.ordered {
		return true
	}
	if !bytes.Contains(line, []byte(`"ordered"`)) {
		return false
	}
	var l struct {
		Ordered bool `json:"ordered"`
	}
	return json.Unmarshal(line, &l) == nil && l.Ordered
}
