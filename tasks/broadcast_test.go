package tasks_test

import (
	"errors"
	"testing"

	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/tasks"
)

func TestBroadcastChunkTask(t *testing.T) {
	t.Parallel()
	task, err := tasks.NewBroadcastChunkTask(&tasks.BroadcastChunk{Broadcast: "abc", Chunk: 7})
	if err != nil {
		t.Fatal(err)
	}
	if task.Type() != tasks.TypeBroadcastChunk {
		t.Errorf("type %q", task.Type())
	}
	p, err := tasks.ParseBroadcastChunk(task.Payload())
	if err != nil || p.Broadcast != "abc" || p.Chunk != 7 || p.Version != tasks.BroadcastChunkVersion {
		t.Errorf("round trip: %+v, %v", p, err)
	}
	if got := tasks.BroadcastChunkTaskID("abc", 7); got != "broadcast-abc-7" {
		t.Errorf("task id %q", got)
	}
	for _, bad := range []string{
		`{"broadcast":"","chunk":0}`,
		`{"broadcast":"a b","chunk":0}`,
		`{"broadcast":"a","chunk":-1}`,
		`{"broadcast":"a","chunk":0,"v":9}`,
		`{"broadcast":"a","chunk":0,"extra":1}`,
	} {
		if _, err := tasks.ParseBroadcastChunk([]byte(bad)); err == nil {
			t.Errorf("ParseBroadcastChunk(%s) succeeded", bad)
		}
	}
}

func TestBroadcastMessage(t *testing.T) {
	t.Parallel()
	if err := tasks.ValidateBroadcastMessage(&tasks.SendMessage{Text: "hi", ParseMode: tasks.ParseModeHTML}); err != nil {
		t.Errorf("valid message: %v", err)
	}
	var ve *tasks.ValidationError
	err := tasks.ValidateBroadcastMessage(&tasks.SendMessage{ChatID: telego.ChatID{ID: 1}, Text: "hi"})
	if !errors.As(err, &ve) || ve.Field != "chat_id" {
		t.Errorf("message with a chat: %v", err)
	}
	if err := tasks.ValidateBroadcastMessage(&tasks.SendMessage{Text: ""}); !errors.Is(err, tasks.ErrEmptyText) {
		t.Errorf("empty text: %v", err)
	}
	m, err := tasks.ParseBroadcastMessage([]byte(`{"text":"hi","bot":"alerts"}`))
	if err != nil || m.BotName() != "alerts" {
		t.Errorf("parse: %+v, %v", m, err)
	}
	if _, err := tasks.ParseBroadcastMessage([]byte(`{"text":"hi","chat_ids":[1]}`)); err == nil {
		t.Error("unknown field accepted")
	}
	for _, id := range []int64{0, 1 << 60, -(1 << 60)} {
		if err := tasks.ValidateBroadcastChat(id); !errors.As(err, &ve) || ve.Field != "chat_ids" {
			t.Errorf("chat %d: %v", id, err)
		}
	}
	for _, id := range []int64{1, -100, -1001234567890} {
		if err := tasks.ValidateBroadcastChat(id); err != nil {
			t.Errorf("chat %d: %v", id, err)
		}
	}
}
