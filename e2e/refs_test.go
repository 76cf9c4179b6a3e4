package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/tasks"
)

// TestReferencesAcrossWorkers: 6 worker processes; each of 30 chats gets a
// message and, queued right behind it, an edit that names it by its task
// (message_task_id, no chat_id). Whichever process runs the edit, it waits
// for the send that another process may be running, also when that send is
// retried after a 5xx or a 429, and then edits the message; an edit of a
// send that fails for good (403) is archived with the reason.
func TestReferencesAcrossWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes; skipped with -short")
	}
	c := startCluster(t, 6, sandbox.Limits{},
		"TELEGRAM_RATE_GLOBAL=0", "TELEGRAM_RATE_CHAT=0", "TELEGRAM_RATE_GROUP=0", "TELEGRAM_RATE_PAID=0")
	const chats, first = 30, 700_000
	const flaky, throttled, blocked = first, first + 1, first + 2
	c.sb.AddRule(sandbox.Rule{Chat: strconv.Itoa(flaky), Kind: sandbox.KindServerError, Times: 1})
	c.sb.AddRule(sandbox.Rule{Chat: strconv.Itoa(throttled), Kind: sandbox.KindTooManyRequests, RetryAfter: 1, Times: 1})
	c.sb.AddRule(sandbox.Rule{Chat: strconv.Itoa(blocked), Kind: sandbox.KindBlocked})

	enqueue := func(task *asynq.Task, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.client.Enqueue(task, asynq.Retention(time.Hour), asynq.MaxRetry(5))
		if err != nil {
			t.Fatal(err)
		}
		return info.ID
	}
	sends, edits := map[int64]string{}, map[int64]string{}
	for i := range chats {
		chat := int64(first + i)
		sends[chat] = enqueue(tasks.NewSendMessageTask(&tasks.SendMessage{ChatID: telego.ChatID{ID: chat}, Text: "Thinking…"}))
		edits[chat] = enqueue(tasks.NewCallTask(&tasks.Call{Method: "editMessageText",
			Params: json.RawMessage(fmt.Sprintf(`{"message_task_id":%q,"text":"answer for %d"}`, sends[chat], chat))}))
	}
	final := func(id string) *asynq.TaskInfo {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			info, err := c.insp.GetTaskInfo(tasks.QueueDefault, id)
			if err == nil && (info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived) {
				return info
			}
			if time.Now().After(deadline) {
				t.Fatalf("task %s not final within 60s: %v %v", id, info, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for i := range chats {
		chat := int64(first + i)
		send, edit := final(sends[chat]), final(edits[chat])
		if chat == blocked {
			if edit.State != asynq.TaskStateArchived || !strings.Contains(edit.LastErr, "referenced message not sent") {
				t.Errorf("edit of a blocked send: %v %q", edit.State, edit.LastErr)
			}
			continue
		}
		var sent tasks.SendResult
		if send.State != asynq.TaskStateCompleted || json.Unmarshal(send.Result, &sent) != nil {
			t.Fatalf("chat %d: send %v %q", chat, send.State, send.LastErr)
		}
		if edit.State != asynq.TaskStateCompleted {
			t.Errorf("chat %d: edit %v %q", chat, edit.State, edit.LastErr)
			continue
		}
		st, ok := c.sb.Message(botID, strconv.FormatInt(chat, 10), sent.MessageID)
		if want := fmt.Sprintf("answer for %d", chat); !ok || st.Text != want || st.Edits != 1 {
			t.Errorf("chat %d: message %+v; want %q after one edit", chat, st, want)
		}
		if chat == flaky || chat == throttled {
			t.Logf("chat %d: send retried (%d), edit completed %v after it", chat, send.Retried, edit.CompletedAt.Sub(send.CompletedAt).Round(time.Millisecond))
		}
	}
	if st := c.sb.Stats(); st.Methods["editMessageText"].OK != chats-1 {
		t.Errorf("%d edits made, want %d", st.Methods["editMessageText"].OK, chats-1)
	}
}
