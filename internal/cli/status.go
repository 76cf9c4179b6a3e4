package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/telequeue/telequeue/client"
)

func runStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "status", "[--json] ID", "Shows a task's state (pending, active, scheduled, retry, archived or completed),\n"+
		"queue, failed attempts, last error and, once sent, Telegram's message_id.")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one task ID")
	}
	c, err := newClient(e)
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.Status(ctx, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return printStatus(e, st)
}

// printStatus writes st as aligned "name: value" lines, leaving out what
// does not apply.
func printStatus(e *env, st *client.Status) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 1, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "%s:\t%s\n", name, fmt.Sprintf(format, args...))
	}
	row("id", "%s", st.ID)
	row("state", "%s", st.State)
	if st.Queue != "" {
		row("queue", "%s", st.Queue)
	}
	if st.MaxRetry > 0 {
		row("attempts", "%d failed (max retry %d)", st.Attempts, st.MaxRetry)
	}
	if st.LastError != "" {
		row("last error", "%s (%s)", oneLine(st.LastError), stamp(st.LastFailedAt))
	}
	switch st.State {
	case client.StateScheduled, client.StateRetry, client.StatePending:
		if !st.NextProcessAt.IsZero() {
			row("next attempt", "%s", stamp(st.NextProcessAt))
		}
	}
	if !st.CompletedAt.IsZero() {
		row("completed", "%s", stamp(st.CompletedAt))
	}
	if m := st.Message; m != nil {
		row("bot", "%s", m.BotName())
		row("chat", "%s", m.ChatID.String())
		if st.Reply != nil && len(st.Reply.Parts) > 0 {
			row("parts", "%d (a multi-part reply)", len(st.Reply.Parts))
			row("text", "%s", preview(st.Reply.Parts[0].Text, 60))
		} else {
			row("text", "%s", preview(m.Text, 60))
		}
	}
	if r := st.Result; r != nil {
		row("message_id", "%d", r.MessageID)
		if r.MigratedFrom != 0 {
			row("migrated", "from chat %d to %d", r.MigratedFrom, r.ChatID)
		}
	}
	if len(st.MessageIDs) > 1 {
		row("message_ids", "%s", strings.Trim(fmt.Sprint(st.MessageIDs), "[]"))
	}
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "unknown time"
	}
	return t.Local().Format(time.RFC3339)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// preview shortens s to n characters.
func preview(s string, n int) string {
	s = oneLine(s)
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
