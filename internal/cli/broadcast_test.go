package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/internal/workertest"
)

const cliBotToken = "123456789:CLItokenCLItokenCLItokenCLItokenCLI"

// startWorker runs telequeue's worker against a new sandbox.
func startWorker(t *testing.T, rs *redistest.Server, sb *sandbox.Sandbox) {
	t.Helper()
	url, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	workertest.Start(t, map[string]string{"REDIS_URL": rs.URL(), "TELEGRAM_BOT_TOKEN": cliBotToken, "TELEGRAM_API_URL": url})
}

func writeChats(t *testing.T, lines ...string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "chats.txt")
	if err := os.WriteFile(name, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestBroadcastCommand(t *testing.T) {
	t.Parallel()
	vars, rs := setup(t)
	sb, err := sandbox.New(sandbox.Config{NoRecordParams: true})
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{"# our users", ""}
	var blocked []int64
	for i := range 120 {
		id := int64(3_000_000 + i)
		lines = append(lines, strconv.FormatInt(id, 10))
		if i%40 == 7 {
			blocked = append(blocked, id)
			sb.AddRule(sandbox.Rule{Chat: strconv.FormatInt(id, 10), Kind: sandbox.KindBlocked})
		}
	}
	file := writeChats(t, lines...)
	startWorker(t, rs, sb)

	r := run(t, vars, "", "broadcast", "--chats", file, "--wait", "--interval", "20ms", "Hello", "everyone")
	id := strings.TrimSpace(r.stdout)
	if r.code != 0 || !idRE.MatchString(id) {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// Standard error is not a terminal: plain lines, the last one final.
	last := strings.TrimSpace(r.stderr[strings.LastIndex(strings.TrimSpace(r.stderr), "\n")+1:])
	if !regexp.MustCompile(`^\[#{24}\] 100\.0% 120/120  sent 117  failed 0  blocked 3  · done in \d+s$`).MatchString(last) {
		t.Errorf("last progress line %q", last)
	}
	if strings.Contains(r.stderr, "\r") {
		t.Errorf("carriage returns on a non-terminal: %q", r.stderr)
	}
	if n := sb.Count(); n != 117 {
		t.Errorf("%d delivered, want 117", n)
	}
	if got := sb.Messages()[0].Text; got != "Hello everyone" {
		t.Errorf("text %q", got)
	}

	r = run(t, vars, "", "broadcast", "status", id)
	for _, want := range []string{"state:", "done", "total:", "120", "sent:", "117", "blocked:", "3", "pending:", "0"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = run(t, vars, "", "broadcast", "status", "--json", id)
	var p client.BroadcastProgress
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil || p.Sent != 117 || p.Blocked != 3 || p.State != client.BroadcastDone {
		t.Errorf("status --json: %s (%v)", r.stdout, err)
	}
	r = run(t, vars, "", "broadcast", "--blocked", id)
	var got []int64
	for _, f := range strings.Fields(r.stdout) {
		n, _ := strconv.ParseInt(f, 10, 64)
		got = append(got, n)
	}
	slices.Sort(got)
	if r.code != 0 || !slices.Equal(got, blocked) {
		t.Errorf("--blocked: exit %d, %v, want %v", r.code, got, blocked)
	}
}

func TestBroadcastCommandCancel(t *testing.T) {
	t.Parallel()
	vars, _ := setup(t)
	// No worker runs: the broadcast waits until it is cancelled.
	file := writeChats(t, "1", "2", "3", "2")
	r := run(t, vars, "", "broadcast", "--chats", file, "--key", "launch", "--in", "1h", "launch day")
	id := strings.TrimSpace(r.stdout)
	if r.code != 0 || !idRE.MatchString(id) || !strings.Contains(r.stderr, "1 repeated chat ids dropped; 3 chats") {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = run(t, vars, "", "broadcast", "--chats", file, "--key", "launch", "launch day")
	if r.code != 0 || strings.TrimSpace(r.stdout) != id || !strings.Contains(r.stderr, "already used") {
		t.Errorf("repeated key: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = run(t, vars, "", "broadcast", "status", id)
	if !strings.Contains(r.stdout, "scheduled") {
		t.Errorf("status before start:\n%s", r.stdout)
	}
	r = run(t, vars, "", "broadcast", "--cancel", id)
	for _, want := range []string{"cancelled", "pending:", "finished:"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("--cancel output lacks %q (exit %d):\n%s%s", want, r.code, r.stdout, r.stderr)
		}
	}
	r = run(t, vars, "", "broadcast", "status", "--wait", "--interval", "10ms", id)
	if r.code != 0 || !strings.Contains(r.stderr, "cancelled 3") {
		t.Errorf("status --wait after cancel: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestBroadcastCommandErrors(t *testing.T) {
	t.Parallel()
	vars, _ := setup(t)
	good := writeChats(t, "1", "2")
	bad := writeChats(t, "1", "two", "3")
	zero := writeChats(t, "1", "0")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"broadcast"}, 2, "--chats FILE and TEXT are required"},
		{[]string{"broadcast", "--chats", good}, 2, "TEXT is required"},
		{[]string{"broadcast", "--chats", bad, "hi"}, 1, "chats.txt:2: \"two\" is not a chat id"},
		{[]string{"broadcast", "--chats", zero, "hi"}, 1, "chats.txt:2"},
		{[]string{"broadcast", "--chats", good, "--cancel", "x", "hi"}, 2, "use one of"},
		{[]string{"broadcast", "--chats", good, "--parallelism", "99", "hi"}, 2, "--parallelism: 99: must be 1 to 64"},
		{[]string{"broadcast", "--chats", good, "--parse-mode", "HTML", "<b>unclosed"}, 0, ""},
		{[]string{"broadcast", "status", "nosuchbroadcast"}, 1, "not found"},
		{[]string{"broadcast", "--cancel", "nosuchbroadcast"}, 1, "not found"},
	} {
		r := run(t, vars, "", tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.code, tc.want)
		}
	}
	r := run(t, vars, "", "help", "broadcast")
	if r.code != 0 || !strings.Contains(r.stdout, "--chats") || !strings.Contains(r.stdout, "--blocked") {
		t.Errorf("help broadcast: %d %q", r.code, r.stdout)
	}
}
