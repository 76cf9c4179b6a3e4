package cli_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/tasks"
)

func taskInfo(t *testing.T, addr, id string) *asynq.TaskInfo {
	t.Helper()
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: addr})
	defer insp.Close()
	info, err := insp.GetTaskInfo(tasks.QueueDefault, id)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestSendSplitAndParts(t *testing.T) {
	t.Parallel()
	vars, s := setup(t)
	long := strings.Repeat(strings.Repeat("word ", 500)+"\n\n", 10) // 10 paragraphs of 2500 characters

	r := run(t, vars, long, "send", "--chat", "42", "--split", "-")
	id := mustID(t, r)
	info := taskInfo(t, s.Addr(), id)
	reply, err := tasks.ParseSendMessages(info.Payload)
	if err != nil || info.Type != tasks.TypeSendMessages {
		t.Fatalf("%s: %v", info.Type, err)
	}
	if len(reply.Parts) != 10 || !strings.Contains(r.stderr, "one reply of 10 parts") {
		t.Errorf("%d parts; stderr %q", len(reply.Parts), r.stderr)
	}
	if st := run(t, vars, "", "status", id); !strings.Contains(st.stdout, "parts:") || !strings.Contains(st.stdout, "10 (a multi-part reply)") ||
		!strings.Contains(st.stdout, "text:") || !strings.Contains(st.stdout, "word word") || !strings.Contains(st.stdout, "chat:") {
		t.Errorf("status of a reply: %s", st.stdout)
	}

	r = run(t, vars, "", "send", "--chat", "@news", "--parts", "--parse-mode", "HTML", "<b>one</b>", "two", "three")
	reply, err = tasks.ParseSendMessages(taskInfo(t, s.Addr(), mustID(t, r)).Payload)
	if err != nil || len(reply.Parts) != 3 || reply.Parts[0].Text != "<b>one</b>" || reply.Parts[2].ParseMode != "HTML" || reply.ChatID.Username != "@news" {
		t.Fatalf("reply %+v, %v", reply, err)
	}

	r = run(t, vars, "", "send", "--chat", "42", "--parse-mode", "MarkdownV2", "--split", strings.Repeat("*a* ", 3000))
	if r.code != 1 || !strings.Contains(r.stderr, "cannot be split") {
		t.Errorf("long MarkdownV2: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, args := range [][]string{
		{"send", "--chat", "42", "--split", "--parts", "x"},
		{"send", "--jsonl", "-", "--split"},
		{"send", "--split", "x"},
	} {
		if r := run(t, vars, "", args...); r.code != 2 {
			t.Errorf("%q: exit %d, want 2 (usage); stderr %q", args, r.code, r.stderr)
		}
	}
}

func TestSendOrdered(t *testing.T) {
	t.Parallel()
	vars, s := setup(t)
	first := mustID(t, run(t, vars, "", "send", "--chat", "42", "--ordered", "step 1"))
	second := mustID(t, run(t, vars, "", "send", "--chat", "42", "--ordered", "step 2"))
	if a, b := taskInfo(t, s.Addr(), first), taskInfo(t, s.Addr(), second); a.Type != tasks.TypeSendMessageOrdered || a.State != asynq.TaskStatePending || b.State != asynq.TaskStateScheduled {
		t.Errorf("first %s %s, second %s: want the head due and the next parked", a.Type, a.State, b.State)
	}
	if r := run(t, vars, "", "send", "--chat", "42", "--ordered", "--in", "1m", "later"); r.code != 2 || !strings.Contains(r.stderr, "cannot be scheduled") {
		t.Errorf("--ordered --in: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestSendJSONLOrdered: 32 goroutines queue JSONL lines at once, but the
// ordered lines of each chat enter the chat's order in file order.
func TestSendJSONLOrdered(t *testing.T) {
	t.Parallel()
	for _, flag := range []bool{false, true} {
		t.Run(fmt.Sprintf("flag=%v", flag), func(t *testing.T) {
			vars, s := setup(t)
			const chats, lines = 4, 400
			var in strings.Builder
			for i := range lines {
				if flag {
					fmt.Fprintf(&in, `{"chat_id":%d,"text":"line %d"}`+"\n", 100+i%chats, i)
				} else {
					fmt.Fprintf(&in, `{"chat_id":%d,"text":"line %d","ordered":true}`+"\n", 100+i%chats, i)
				}
			}
			args := []string{"send", "--jsonl", "-"}
			if flag {
				args = append(args, "--ordered")
			}
			r := run(t, vars, in.String(), args...)
			ids := strings.Fields(r.stdout)
			if r.code != 0 || len(ids) != lines {
				t.Fatalf("exit %d, %d ids; stderr %q", r.code, len(ids), r.stderr)
			}
			rdb := s.Client(t)
			for c := range chats {
				seq, _ := keys.Order("default", fmt.Sprint(100+c))
				got, err := rdb.ZRange(context.Background(), seq, 0, -1).Result()
				if err != nil {
					t.Fatal(err)
				}
				var want []string
				for i := c; i < lines; i += chats {
					want = append(want, ids[i])
				}
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Fatalf("chat %d: order is not the file's order", 100+c)
				}
			}
			if r := run(t, vars, `{"chat_id":1,"text":"x","ordered":"yes"}`, "send", "--jsonl", "-"); r.code != 1 || !strings.Contains(r.stderr, "ordered: invalid field: want true or false") {
				t.Errorf("bad ordered: exit %d, stderr %q", r.code, r.stderr)
			}
		})
	}
}
