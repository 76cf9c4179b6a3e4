package cli_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telequeue/telequeue/internal/cli"
	"github.com/telequeue/telequeue/internal/redistest"
)

func TestSendJSONL(t *testing.T) {
	t.Parallel()
	vars, s := setup(t)
	const valid = 1000
	bad := map[int]string{ // line number → expected error text
		17:  `unknown_field: invalid field: unknown field`,
		503: `text: text is empty`,
	}
	var in strings.Builder
	texts := map[int]string{} // line → text, for valid lines
	line := 0
	for i := 0; i < valid; {
		line++
		switch {
		case bad[line] != "":
			if strings.Contains(bad[line], "unknown_field") {
				in.WriteString(`{"chat_id":1,"text":"x","unknown_field":true}` + "\n")
			} else {
				in.WriteString(`{"chat_id":1,"text":""}` + "\n")
			}
		case line%100 == 0:
			in.WriteString("   \n") // blank lines are skipped
		default:
			texts[line] = fmt.Sprintf("message %d", i)
			fmt.Fprintf(&in, `{"chat_id":%d,"text":%q}`+"\n", 1000+i, texts[line])
			i++
		}
	}

	start := time.Now()
	r := run(t, vars, in.String(), "send", "--jsonl", "-")
	t.Logf("%d lines in %v", line, time.Since(start))
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	ids := strings.Fields(r.stdout)
	if len(ids) != valid {
		t.Fatalf("%d ids, want %d; stderr:\n%s", len(ids), valid, r.stderr)
	}
	lineErr := regexp.MustCompile(`(?m)^line (\d+): (.*)$`).FindAllStringSubmatch(r.stderr, -1)
	if len(lineErr) != len(bad) {
		t.Fatalf("stderr has %d line errors, want %d:\n%s", len(lineErr), len(bad), r.stderr)
	}
	for _, m := range lineErr {
		n, _ := strconv.Atoi(m[1])
		if want := bad[n]; want == "" || !strings.Contains(m[2], want) {
			t.Errorf("line %s: %q, want an error containing %q", m[1], m[2], want)
		}
	}
	if !strings.Contains(r.stderr, "1000 queued, 0 duplicates, 2 failed, 0 not tried") {
		t.Errorf("stderr lacks the summary:\n%s", r.stderr)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !idRE.MatchString(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	if n, err := s.Client(t).LLen(context.Background(), "asynq:{default}:pending").Result(); err != nil || n != valid {
		t.Errorf("default queue holds %d, %v; want %d", n, err, valid)
	}
	// Ids come in input order: the k-th id is the k-th valid line.
	var validLines []int
	for l := 1; l <= line; l++ {
		if _, ok := texts[l]; ok {
			validLines = append(validLines, l)
		}
	}
	for _, k := range []int{0, 16, 17, 500, valid - 1} {
		if st := statusJSON(t, vars, ids[k]); st.Message == nil || st.Message.Text != texts[validLines[k]] {
			t.Errorf("id %d: %+v, want text %q", k, st.Message, texts[validLines[k]])
		}
	}
}

func TestSendJSONLOptions(t *testing.T) {
	t.Parallel()
	vars, _ := setup(t)
	at := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Second)
	lines := []struct {
		json      string
		wantQueue string
		wantState string
		wantBot   string
		wantMode  string
	}{
		{`{"chat_id":1,"text":"flag defaults"}`, "bulk", "pending", "alerts", "HTML"},
		{`{"chat_id":1,"text":"own priority","priority":"critical"}`, "critical", "pending", "alerts", "HTML"},
		{`{"chat_id":1,"text":"own bot","bot":"news","parse_mode":"MarkdownV2"}`, "bulk", "pending", "news", "MarkdownV2"},
		{`{"chat_id":1,"text":"in","send_in":"2h"}`, "bulk", "scheduled", "alerts", "HTML"},
		{`{"chat_id":1,"text":"in seconds","send_in":7200}`, "bulk", "scheduled", "alerts", "HTML"},
		{`{"chat_id":1,"text":"at","send_at":"` + at.Format(time.RFC3339) + `"}`, "bulk", "scheduled", "alerts", "HTML"},
		{`{"chat_id":1,"text":"keyed","idempotency_key":"k-1"}`, "bulk", "pending", "alerts", "HTML"},
		{`{"idempotency_key":"k-1","chat_id":1,"text":"keyed again"}`, "", "", "", ""}, // duplicate of the line above
	}
	var in strings.Builder
	for _, l := range lines {
		in.WriteString(l.json + "\n")
	}
	r := run(t, vars, in.String(), "send", "--jsonl", "-", "--priority", "bulk", "--bot", "alerts", "--parse-mode", "HTML")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	ids := strings.Fields(r.stdout)
	if len(ids) != len(lines) {
		t.Fatalf("%d ids, want %d:\n%s", len(ids), len(lines), r.stderr)
	}
	if ids[7] != ids[6] || !strings.Contains(r.stderr, `line 8: key "k-1" was already used by task `+ids[6]) {
		t.Errorf("duplicate line: id %s (first %s), stderr %q", ids[7], ids[6], r.stderr)
	}
	for i, l := range lines[:7] {
		st := statusJSON(t, vars, ids[i])
		if st.Queue != l.wantQueue || string(st.State) != l.wantState || st.Message.Bot != l.wantBot || st.Message.ParseMode != l.wantMode {
			t.Errorf("line %d: queue %s, state %s, bot %s, mode %s; want %s %s %s %s", i+1,
				st.Queue, st.State, st.Message.Bot, st.Message.ParseMode, l.wantQueue, l.wantState, l.wantBot, l.wantMode)
		}
		if l.wantState == "scheduled" && (st.NextProcessAt.Before(time.Now().Add(time.Hour)) || st.NextProcessAt.After(at.Add(time.Minute))) {
			t.Errorf("line %d: next process at %v", i+1, st.NextProcessAt)
		}
	}
}

func TestSendJSONLBadLines(t *testing.T) {
	t.Parallel()
	vars, _ := setup(t)
	tests := []struct {
		line string
		want string
	}{
		{`not json`, "malformed payload"},
		{`{"chat_id":1,"text":"x"} {"chat_id":2}`, "trailing data"},
		{`{"chat_id":"alice","text":"x"}`, "chat_id"},
		{`{"chat_id":1,"text":"x","priority":"urgent"}`, `option Priority: "urgent"`},
		{`{"chat_id":1,"text":"x","priority":3}`, "priority: invalid field"},
		{`{"chat_id":1,"text":"x","send_in":"soon"}`, "send_in: invalid field"},
		{`{"chat_id":1,"text":"x","send_at":"tomorrow"}`, "send_at: invalid field"},
		{`{"chat_id":1,"text":"x","idempotency_key":""}`, "option IdempotencyKey: must have"},
		{`{"chat_id":1,"text":"x","idempotency_key":"far","send_at":"9999-12-31T00:00:00Z"}`, "option SendAt: 9999-12-31T00:00:00Z is more than"},
		{`{"chat_id":1,"text":"x","Priority":"bulk"}`, "Priority: invalid field: unknown field"},
		{`{"chat_id":1,"text":"` + strings.Repeat("y", 4097) + `"}`, "text is too long"},
		{`{"chat_id":1,"text":"` + strings.Repeat("y", 1<<20) + `"}`, "longer than"},
	}
	var in strings.Builder
	for _, tt := range tests {
		in.WriteString(tt.line + "\n")
	}
	in.WriteString(`{"chat_id":1,"text":"the one good line"}` + "\n")
	r := run(t, vars, in.String(), "send", "--jsonl", "-")
	if r.code != 1 || len(strings.Fields(r.stdout)) != 1 {
		t.Errorf("exit %d, stdout %q; want 1 and one id", r.code, r.stdout)
	}
	for i, tt := range tests {
		prefix := fmt.Sprintf("line %d: ", i+1)
		found := false
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.HasPrefix(l, prefix) {
				found = true
				if !strings.Contains(l, tt.want) {
					t.Errorf("%s%.80s; want %q", prefix, strings.TrimPrefix(l, prefix), tt.want)
				}
			}
		}
		if !found {
			t.Errorf("no error for line %d (%.40s)", i+1, tt.line)
		}
	}
}

func TestSendJSONLInterrupted(t *testing.T) {
	t.Parallel()
	vars, _ := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr strings.Builder
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	code := cli.Main(ctx, []string{"send", "--jsonl", "-"}, lookup, strings.NewReader(`{"chat_id":1,"text":"x"}`+"\n"), &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("exit %d, stderr %q; want 1 and interrupted", code, stderr.String())
	}
}

// BenchmarkSendJSONL measures "telequeue send --jsonl -" end to end: b.N
// lines through cli.Main into a local redis-server.
func BenchmarkSendJSONL(b *testing.B) {
	s := redistest.Start(b)
	vars := map[string]string{"REDIS_URL": s.URL()}
	var in strings.Builder
	for i := range b.N {
		fmt.Fprintf(&in, `{"chat_id":%d,"text":"Your order %d has shipped","parse_mode":"HTML"}`+"\n", i+1, i)
	}
	b.ResetTimer()
	r := run(b, vars, in.String(), "send", "--jsonl", "-")
	b.StopTimer()
	if r.code != 0 {
		b.Fatalf("exit %d: %.500s", r.code, r.stderr)
	}
	if n := strings.Count(r.stdout, "\n"); n != b.N {
		b.Fatalf("%d ids, want %d", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func TestSendJSONLSameKeyFirstLineWins(t *testing.T) {
	t.Parallel()
	vars, s := setup(t)
	var in strings.Builder
	for i := range 200 {
		fmt.Fprintf(&in, `{"chat_id":1,"text":"copy %d","idempotency_key":"k-%d"}`+"\n", i, i%3)
	}
	r := run(t, vars, in.String(), "send", "--jsonl", "-")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	ids := strings.Fields(r.stdout)
	if len(ids) != 200 {
		t.Fatalf("%d ids, want 200", len(ids))
	}
	for i, id := range ids {
		if id != ids[i%3] {
			t.Fatalf("line %d printed %s, want the id of line %d, %s", i+1, id, i%3+1, ids[i%3])
		}
	}
	if n := strings.Count(r.stderr, "already used"); n != 197 {
		t.Errorf("%d duplicate notes, want 197", n)
	}
	for k := range 3 {
		if st := statusJSON(t, vars, ids[k]); st.Message.Text != fmt.Sprintf("copy %d", k) {
			t.Errorf("key k-%d queued %q, want the first line's text", k, st.Message.Text)
		}
	}
	if n, _ := s.Client(t).LLen(context.Background(), "asynq:{default}:pending").Result(); n != 3 {
		t.Errorf("%d tasks queued, want 3", n)
	}
}
