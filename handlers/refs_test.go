package handlers_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/tasks"
)

// enqueueCall queues a call without waiting and returns its id.
func (e *callEnv) enqueueCall(t *testing.T, method, params string, opts ...asynq.Option) string {
	t.Helper()
	task, err := tasks.NewCallTask(&tasks.Call{Method: method, Params: json.RawMessage(params)},
		append([]asynq.Option{asynq.Retention(time.Hour), asynq.MaxRetry(3)}, opts...)...)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	info, err := e.client.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}
	return info.ID
}

// TestReferencesToQueuedMessages: an edit, a delete, a copy and a reply may
// name the task of a message instead of its message_id (and leave chat_id
// out); they run once that message is sent, also when its send was retried
// after a 5xx or a 429, and fail with the reason when it never is.
func TestReferencesToQueuedMessages(t *testing.T) {
	t.Parallel()
	e := setupCalls(t)
	e.sandbox.AddRule(sandbox.Rule{Chat: "4002", Kind: sandbox.KindServerError, Times: 1})
	e.sandbox.AddRule(sandbox.Rule{Chat: "4003", Kind: sandbox.KindTooManyRequests, RetryAfter: 1, Times: 1})
	e.sandbox.AddRule(sandbox.Rule{Chat: "4004", Kind: sandbox.KindBlocked})

	for _, chat := range []string{"4001", "4002", "4003"} {
		start := time.Now()
		send := e.enqueueCall(t, "sendMessage", `{"chat_id":`+chat+`,"text":"Thinking…"}`)
		edit := e.enqueueCall(t, "editMessageText", `{"message_task_id":"`+send+`","text":"The answer is 42."}`)
		reply := e.enqueueCall(t, "sendMessage", `{"chat_id":`+chat+`,"text":"(sources)","reply_parameters":{"message_task_id":"`+send+`"}}`)
		sent := e.final(t, tasks.QueueDefault, send)
		edited := result(t, e.final(t, tasks.QueueDefault, edit))
		var msg tasks.SendResult
		_ = json.Unmarshal(sent.Result, &msg)
		if len(edited.MessageIDs) != 1 || edited.MessageIDs[0] != msg.MessageID {
			t.Errorf("chat %s: the edit changed %v, want message %d", chat, edited.MessageIDs, msg.MessageID)
		}
		if st, _ := e.sandbox.Message(testBotID, chat, msg.MessageID); st.Text != "The answer is 42." {
			t.Errorf("chat %s: message shows %q after the edit", chat, st.Text)
		}
		if info := e.final(t, tasks.QueueDefault, reply); info.State != asynq.TaskStateCompleted {
			t.Errorf("chat %s: reply %v", chat, stateOf(info))
		}
		// Woken when the send is done, not at its next look (1 s later).
		editInfo := e.final(t, tasks.QueueDefault, edit)
		if d := editInfo.CompletedAt.Sub(sent.CompletedAt); d > 500*time.Millisecond {
			t.Errorf("chat %s: the edit completed %v after the send it refers to (%v after the enqueue)", chat, d.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		}
	}

	// A send that fails for good fails the calls that refer to it.
	send := e.enqueueCall(t, "sendMessage", `{"chat_id":4004,"text":"hi"}`)
	del := e.enqueueCall(t, "deleteMessage", `{"message_task_id":"`+send+`"}`)
	info := e.final(t, tasks.QueueDefault, del)
	if info.State != asynq.TaskStateArchived || !strings.Contains(info.LastErr, "referenced message not sent") || !strings.Contains(info.LastErr, "403") {
		t.Errorf("delete of a blocked send: %v", stateOf(info))
	}
	info = e.final(t, tasks.QueueDefault, e.enqueueCall(t, "deleteMessage", `{"message_task_id":"no-such-task"}`))
	if info.State != asynq.TaskStateArchived || !strings.Contains(info.LastErr, "unknown") {
		t.Errorf("reference to an unknown task: %v", stateOf(info))
	}

	// A part of an album, copied to another chat.
	album := e.enqueueCall(t, "sendMediaGroup", `{"chat_id":4005,"media":[{"type":"photo","media":"https://example.com/a.png"},{"type":"photo","media":"https://example.com/b.png","caption":"b"}]}`)
	cp := result(t, e.final(t, tasks.QueueDefault, e.enqueueCall(t, "copyMessage", `{"chat_id":4006,"message_task_id":"`+album+`","message_task_part":1}`)))
	if st, ok := e.sandbox.Message(testBotID, "4006", cp.MessageIDs[0]); !ok || st.Caption != "b" {
		t.Errorf("copy of the album's second photo: %+v", st)
	}
}
