package handlers

import (
	"errors"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/tasks"
)

func TestDecodeTask(t *testing.T) {
	t.Parallel()
	type verdict int
	const (
		ok verdict = iota
		invalid
		newer
	)
	tests := []struct {
		name, typ, payload string
		want               verdict
	}{
		{"message", tasks.TypeSendMessage, `{"chat_id":1,"text":"x"}`, ok},
		{"message, bad UTF-8", tasks.TypeSendMessage, "{\"chat_id\":1,\"text\":\"\xff\"}", invalid},
		{"message, newer", tasks.TypeSendMessage, `{"v":9,"chat_id":1,"text":"x","new":1}`, newer},
		{"message, malformed", tasks.TypeSendMessage, `not json`, invalid},
		{"ordered message, newer", tasks.TypeSendMessageOrdered, `{"v":9,"chat_id":1,"text":"x","new":1}`, newer},
		{"reply", tasks.TypeSendMessages, `{"chat_id":1,"parts":[{"text":"a"}]}`, ok},
		{"reply, bad UTF-8", tasks.TypeSendMessages, "{\"chat_id\":1,\"parts\":[{\"text\":\"\xff\"}]}", invalid},
		{"reply, newer", tasks.TypeSendMessages, `{"v":9,"chat_id":1,"parts":[{"text":"a"}],"new":1}`, newer},
		{"reply, no parts", tasks.TypeSendMessages, `{"chat_id":1}`, invalid},
		{"ordered reply, bad UTF-8", tasks.TypeSendMessagesOrdered, "{\"chat_id\":1,\"parts\":[{\"text\":\"\xff\"}]}", invalid},
		{"chunk", tasks.TypeBroadcastChunk, `{"broadcast":"b1","chunk":0}`, ok},
		{"chunk, bad UTF-8", tasks.TypeBroadcastChunk, "{\"broadcast\":\"b\xff\",\"chunk\":0}", invalid},
		{"chunk, newer", tasks.TypeBroadcastChunk, `{"v":9,"broadcast":"b1","chunk":0}`, newer},
		{"unversioned type, v ignored", "app:other", `{"v":9}`, invalid},
	}
	parsers := map[string]func(*asynq.Task) error{
		tasks.TypeSendMessage:         func(t *asynq.Task) error { _, err := decodeTask(t, tasks.ParseSendMessage); return err },
		tasks.TypeSendMessageOrdered:  func(t *asynq.Task) error { _, err := decodeTask(t, tasks.ParseSendMessage); return err },
		tasks.TypeSendMessages:        func(t *asynq.Task) error { _, err := decodeTask(t, tasks.ParseSendMessages); return err },
		tasks.TypeSendMessagesOrdered: func(t *asynq.Task) error { _, err := decodeTask(t, tasks.ParseSendMessages); return err },
		tasks.TypeBroadcastChunk:      func(t *asynq.Task) error { _, err := decodeTask(t, tasks.ParseBroadcastChunk); return err },
		"app:other":                   func(t *asynq.Task) error { _, err := decodeTask(t, tasks.ParseSendMessage); return err },
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := parsers[tt.typ](asynq.NewTask(tt.typ, []byte(tt.payload)))
			var got verdict
			switch {
			case err == nil:
				got = ok
			case errors.Is(err, ErrInvalidPayload) && errors.Is(err, asynq.SkipRetry):
				got = invalid
			case errors.Is(err, ErrNewerPayload) && !errors.Is(err, asynq.SkipRetry):
				got = newer
			default:
				t.Fatalf("unexpected error %v", err)
			}
			if got != tt.want {
				t.Fatalf("verdict %d (%v), want %d", got, err, tt.want)
			}
		})
	}
}

// TestUnknownBotIsTasksErrUnknownBot: the worker's unknown-bot error matches
// the value the client and the API return.
func TestUnknownBotIsTasksErrUnknownBot(t *testing.T) {
	t.Parallel()
	_, err := senderOf(map[string]Sender{"main": nil}, "promo")
	if !errors.Is(err, tasks.ErrUnknownBot) || err.Error() != `unknown bot "promo": no token configured on this worker` {
		t.Fatalf("err %v", err)
	}
}
