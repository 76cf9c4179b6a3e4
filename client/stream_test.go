package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mymmrac/telego"
	tu "github.com/mymmrac/telego/telegoutil"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/tasks"
)

// TestStreamingReply: an app queues "Thinking…" and edits it by reference
// at once; every edit records itself as the newest of its message, unless
// EveryEdit; replies and copies may refer to queued messages too.
func TestStreamingReply(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	ctx := context.Background()
	thinking, err := b.c.SendMessage(ctx, &tasks.SendMessage{ChatID: tu.ID(42), Text: "Thinking…"})
	if err != nil {
		t.Fatal(err)
	}
	var last *client.Receipt
	for _, text := range []string{"The", "The answer", "The answer is 42."} {
		last, err = b.c.EditMessageText(ctx, &telego.EditMessageTextParams{Text: text}, client.Target(thinking.Message()))
		if err != nil {
			t.Fatal(err)
		}
	}
	call, _ := b.queued(t, last)
	p := params(t, call)
	if p[tasks.FieldMessageTaskID] != thinking.ID || p["message_id"] != nil || p["chat_id"] != nil || p["text"] != "The answer is 42." {
		t.Errorf("edit parameters %v; want message_task_id %s in place of chat and message", p, thinking.ID)
	}
	// The newest edit is recorded for its message; the worker supersedes
	// the older ones.
	newest, err := b.rdb.Get(ctx, keys.Coalesce(call.CoalesceKey())).Result()
	if err != nil || newest != last.ID {
		t.Errorf("newest edit recorded %q (%v), want %s", newest, err, last.ID)
	}
	every, err := b.c.EditMessageText(ctx, &telego.EditMessageTextParams{Text: "kept"}, client.Target(thinking.Message()), client.EveryEdit())
	if err != nil {
		t.Fatal(err)
	}
	_, info := b.queued(t, every)
	if info.Headers[tasks.HeaderNoCoalesce] == "" {
		t.Error("EveryEdit: the task carries no opt-out header")
	}
	if newest, _ := b.rdb.Get(ctx, keys.Coalesce(call.CoalesceKey())).Result(); newest != last.ID {
		t.Errorf("an EveryEdit edit became the newest (%s)", newest)
	}

	// A reply to the queued message is a sendMessage queued as a call.
	reply, err := b.c.CallJSON(ctx, "sendMessage", []byte(`{"chat_id":42,"text":"sources"}`), nil, client.ReplyTo(thinking.Message()))
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := b.queued(t, reply)
	if reply.Type != tasks.TypeSendMessageRef || lookup(params(t, rc), "reply_parameters.message_task_id") != thinking.ID {
		t.Errorf("reply %s with parameters %s", reply.Type, rc.Params)
	}
	// A copy of the second part of a queued album to another chat.
	cp, err := b.c.CopyMessage(ctx, &telego.CopyMessageParams{ChatID: tu.ID(7)}, client.Target(client.Ref{TaskID: thinking.ID, Part: 1}))
	if err != nil {
		t.Fatal(err)
	}
	cc, _ := b.queued(t, cp)
	if p := params(t, cc); p["from_chat_id"] != nil || p[tasks.FieldMessageTaskPart] != float64(1) || p["chat_id"] != float64(7) {
		t.Errorf("copy parameters %v", p)
	}

	// Ordered calls take their chat's order; a call without a chat cannot.
	ord, err := b.c.DeleteMessage(ctx, tu.Delete(tu.ID(42), 5), client.Ordered())
	if err != nil || ord.Type != tasks.OrderedType("telegram:delete_message") {
		t.Errorf("ordered delete: %+v, %v", ord, err)
	}
	var oe *client.OptionError
	if _, err := b.c.CallJSON(ctx, "sendMessage", []byte(`{"chat_id":42,"text":"x"}`), nil, client.ReplyTo(thinking.Message()), client.Ordered()); !errors.As(err, &oe) || oe.Option != "Ordered" {
		t.Errorf("an ordered reply to a queued message: %v, want an OptionError naming Ordered", err)
	}
	for name, opts := range map[string][]client.Option{
		"Target with a message_id": {client.Target(thinking.Message())},
		"Ordered by reference":     {client.Target(thinking.Message()), client.Ordered()},
	} {
		params := tu.EditMessageText(tu.ID(42), 3, "x")
		if name == "Ordered by reference" {
			params = &telego.EditMessageTextParams{Text: "x"}
		}
		var oe *client.OptionError
		if _, err := b.c.EditMessageText(ctx, params, opts...); !errors.As(err, &oe) {
			t.Errorf("%s: %v, want an OptionError", name, err)
		}
	}
}
