package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/botreg"
	"github.com/telequeue/telequeue/internal/cli"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redistest"
)

// quietRedis drops go-redis's own log lines (dial failures while a test
// stops Redis on purpose).
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quietRedis{})
	os.Exit(m.Run())
}

type result struct {
	code           int
	stdout, stderr string
}

// run calls cli.Main as the shell would, with vars as the environment.
func run(t testing.TB, vars map[string]string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr strings.Builder
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	code := cli.Main(ctx, args, lookup, strings.NewReader(stdin), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// setup starts a redis-server and returns the environment pointing at it.
func setup(t *testing.T, extra ...string) (map[string]string, *redistest.Server) {
	t.Helper()
	s := redistest.Start(t)
	vars := map[string]string{"REDIS_URL": s.URL()}
	// No TELEGRAM_BOTS: the command checks bot names against the registry
	// running workers keep, as a producer deployed apart from them does.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := botreg.Announce(ctx, s.Client(t), []string{"default", "alerts", "news"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		vars[extra[i]] = extra[i+1]
	}
	return vars, s
}

var idRE = regexp.MustCompile(`^[a-z2-7]{26}$`)

func mustID(t *testing.T, r result) string {
	t.Helper()
	id := strings.TrimSpace(r.stdout)
	if r.code != 0 || !idRE.MatchString(id) {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and one task id", r.code, r.stdout, r.stderr)
	}
	return id
}

func statusJSON(t *testing.T, vars map[string]string, id string) client.Status {
	t.Helper()
	r := run(t, vars, "", "status", "--json", id)
	if r.code != 0 {
		t.Fatalf("status --json %s: exit %d: %s", id, r.code, r.stderr)
	}
	var st client.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status --json output %q: %v", r.stdout, err)
	}
	return st
}

func TestSendThenStatus(t *testing.T) {
	t.Parallel()
	vars, _ := setup(t)
	tests := []struct {
		name      string
		args      []string
		stdin     string
		wantQueue string
		wantState string
		wantChat  string
		wantText  string
	}{
		{"plain", []string{"--chat", "42", "hello"}, "", "default", "pending", "42", "hello"},
		{"words joined", []string{"--chat", "42", "hello", "there"}, "", "default", "pending", "42", "hello there"},
		{"flags after text", []string{"hi", "--chat", "-1001234567890", "--priority", "critical"}, "", "critical", "pending", "-1001234567890", "hi"},
		{"channel, bulk", []string{"--chat", "@telequeue_news", "--priority", "bulk", "release"}, "", "bulk", "pending", "@telequeue_news", "release"},
		{"scheduled", []string{"--chat", "42", "--in", "10m", "later"}, "", "default", "scheduled", "42", "later"},
		{"html", []string{"--chat", "42", "--parse-mode", "HTML", "<b>bold</b>"}, "", "default", "pending", "42", "<b>bold</b>"},
		{"text from stdin", []string{"--chat", "42", "-"}, "line one\nline two\n", "default", "pending", "42", "line one\nline two"},
		{"dash text after --", []string{"--chat", "42", "--", "-5 degrees"}, "", "default", "pending", "42", "-5 degrees"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := mustID(t, run(t, vars, tt.stdin, append([]string{"send"}, tt.args...)...))
			st := statusJSON(t, vars, id)
			if st.ID != id || st.Queue != tt.wantQueue || string(st.State) != tt.wantState || st.Message == nil ||
				st.Message.ChatID.String() != tt.wantChat || st.Message.Text != tt.wantText {
				t.Errorf("status %+v; want queue %s, state %s, chat %s, text %q", st, tt.wantQueue, tt.wantState, tt.wantChat, tt.wantText)
			}

			r := run(t, vars, "", "status", id)
			for _, want := range []string{"id:", id, "state:", tt.wantState, "queue:", tt.wantQueue, "attempts:", "0 failed"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("status output lacks %q:\n%s", want, r.stdout)
				}
			}
		})
	}
}

func TestSendIdempotencyKey(t *testing.T) {
	t.Parallel()
	vars, _ := setup(t)
	first := mustID(t, run(t, vars, "", "send", "--chat", "42", "--key", "order-7", "shipped"))
	r := run(t, vars, "", "send", "--chat", "42", "--key", "order-7", "shipped")
	if got := mustID(t, r); got != first {
		t.Errorf("repeat printed %s, want the first id %s", got, first)
	}
	if !strings.Contains(r.stderr, "already used") {
		t.Errorf("stderr %q: want a note that the key was used", r.stderr)
	}
}

func TestStatusOfSentTask(t *testing.T) {
	t.Parallel()
	vars, s := setup(t)
	ctx := context.Background()
	id := "q4dnl5wslbppj6rb7k3cq2bf2u"
	if err := s.Client(t).Set(ctx, keys.Sent(id), `{"message_id":4242,"chat_id":42}`, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	r := run(t, vars, "", "status", id)
	if r.code != 0 || !strings.Contains(r.stdout, "completed") || !strings.Contains(r.stdout, "message_id: 4242") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, vars, "", "status", "nosuchtask")
	if r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("unknown id: exit %d, stderr %q; want 1 and not found", r.code, r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0"} // never reached
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"no command", nil, 2, "Usage:"},
		{"unknown command", []string{"sned"}, 2, `unknown command "sned"`},
		{"unknown flag", []string{"send", "--chta", "42", "hi"}, 2, "flag provided but not defined: -chta"},
		{"unknown priority", []string{"send", "--chat", "42", "--priority", "urgent", "hi"}, 2, `--priority "urgent"`},
		{"bad duration", []string{"send", "--chat", "42", "--in", "soon", "hi"}, 2, "invalid value"},
		{"negative delay", []string{"send", "--chat", "42", "--in", "-1s", "hi"}, 2, "must not be negative"},
		{"delay of 2562047h", []string{"send", "--chat", "42", "--in", "2562047h", "hi"}, 2, "--in: 2562047h0m0s is more than 8784h0m0s ahead"},
		{"no chat", []string{"send", "hi"}, 2, "--chat is required"},
		{"bad chat", []string{"send", "--chat", "alice", "hi"}, 2, `--chat "alice"`},
		{"no text", []string{"send", "--chat", "42"}, 2, "TEXT is required"},
		{"jsonl and chat", []string{"send", "--jsonl", "-", "--chat", "42"}, 2, "--jsonl takes"},
		{"status without id", []string{"status"}, 2, "exactly one task ID"},
		{"dev with arguments", []string{"dev", "now"}, 2, "no arguments"},
		{"help for unknown", []string{"help", "nope"}, 2, `unknown command "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, vars, "", tt.args...)
			if r.code != tt.wantCode || !strings.Contains(r.stderr, tt.wantStderr) || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", r.code, r.stdout, r.stderr, tt.wantCode, tt.wantStderr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"help"}, []string{"telequeue send", "telequeue status", "telequeue dev", "REDIS_URL"}},
		{[]string{"--help"}, []string{"telequeue send"}},
		{[]string{"help", "send"}, []string{"-jsonl", "-priority", "idempotency_key", "send_in"}},
		{[]string{"help", "status"}, []string{"-json"}},
	}
	for _, tt := range tests {
		r := run(t, nil, "", tt.args...)
		if r.code != 0 {
			t.Errorf("%v: exit %d: %s", tt.args, r.code, r.stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%v: output lacks %q:\n%s", tt.args, w, r.stdout)
			}
		}
	}
	if r := run(t, nil, "", "send", "-h"); r.code != 0 || !strings.Contains(r.stderr, "Usage: telequeue send") {
		t.Errorf("send -h: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"send without REDIS_URL", map[string]string{}, []string{"send", "--chat", "42", "hi"}, "REDIS_URL is required"},
		{"status without REDIS_URL", map[string]string{}, []string{"status", "abc"}, "REDIS_URL is required"},
		{"jsonl without REDIS_URL", map[string]string{}, []string{"send", "--jsonl", "-"}, "REDIS_URL is required"},
		{"bad REDIS_URL", map[string]string{"REDIS_URL": "http://x"}, []string{"status", "abc"}, "REDIS_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.vars, "", tt.args...)
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, tt.want)
			}
		})
	}
}

func TestSendRefused(t *testing.T) {
	t.Parallel()
	vars, s := setup(t, "TELEGRAM_BOTS", "alerts=123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"too long", []string{"--chat", "42", strings.Repeat("x", 4097)}, "text is too long: 4097 characters"},
		{"unknown bot", []string{"--chat", "42", "--bot", "marketing", "hi"}, `unknown bot: "marketing" is not configured`},
		{"bad parse mode", []string{"--chat", "42", "--parse-mode", "html5", "hi"}, "unknown parse_mode"},
		{"bad channel", []string{"--chat", "@x", "hi"}, "chat_id is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, vars, "", append([]string{"send", "--bot", "alerts"}, tt.args...)...)
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1 and %q", r.code, r.stdout, r.stderr, tt.want)
			}
		})
	}
	if n, err := s.Client(t).Keys(context.Background(), "asynq:{*}:t:*").Result(); err != nil || len(n) != 0 {
		t.Errorf("refused messages left tasks: %v %v", n, err)
	}
}

func TestRedisDown(t *testing.T) {
	t.Parallel()
	vars, s := setup(t)
	s.Kill()
	r := run(t, vars, "", "send", "--chat", "42", "hi")
	if r.code != 1 || !strings.Contains(r.stderr, "redis unavailable") {
		t.Errorf("send: exit %d, stderr %q", r.code, r.stderr)
	}
	var in strings.Builder
	for i := range 200 {
		fmt.Fprintf(&in, `{"chat_id":%d,"text":"m"}`+"\n", i+1)
	}
	start := time.Now()
	r = run(t, vars, in.String(), "send", "--jsonl", "-")
	if r.code != 1 || !strings.Contains(r.stderr, "stopped: ") || r.stdout != "" {
		t.Errorf("jsonl: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if n := strings.Count(r.stderr, "line "); n > 40 {
		t.Errorf("jsonl: %d line errors, want the run to stop early:\n%s", n, r.stderr)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("jsonl took %v", d)
	}
	t.Logf("jsonl with Redis down: %v\n%s", time.Since(start), r.stderr)
}

func TestSendJSONLFile(t *testing.T) {
	t.Parallel()
	vars, _ := setup(t)
	path := filepath.Join(t.TempDir(), "m.jsonl")
	if err := os.WriteFile(path, []byte("{\"chat_id\":1,\"text\":\"a\"}\r\n{\"chat_id\":2,\"text\":\"b\"}"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, vars, "", "send", "--jsonl", path)
	if ids := strings.Fields(r.stdout); r.code != 0 || len(ids) != 2 {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 2 ids", r.code, r.stdout, r.stderr)
	}
	r = run(t, vars, "", "send", "--jsonl", filepath.Join(t.TempDir(), "missing.jsonl"))
	if r.code != 1 || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("missing file: exit %d, stderr %q", r.code, r.stderr)
	}
}
