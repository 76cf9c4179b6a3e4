package handlers

import (
	"context"
	"testing"
	"time"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redistest"
)

// TestRecordsSurviveTheTaskContext: what Telegram confirmed is recorded even
// when the task's context ends right after the send (a shutdown, a lost
// lease), or the message would be sent again.
func TestRecordsSurviveTheTaskContext(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	h, err := NewSendMessageHandler(Config{Bots: map[string]Sender{"default": nil}, Redis: rdb, MarkerWriteTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		record func() bool
		key    string
	}{
		{"sent marker", func() bool { return h.writeMarker(ctx, "t1", []byte(`{"message_id":1}`)) }, keys.Sent("t1")},
		{"reply progress", func() bool { return h.recordPart(ctx, "t2", 0, []byte(`{"message_id":2}`), nil) == nil }, keys.Parts("t2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.record() {
				t.Fatal("not recorded")
			}
			if n := rdb.Exists(context.Background(), tt.key).Val(); n != 1 {
				t.Fatalf("%s not written", tt.key)
			}
			if ttl := rdb.PTTL(context.Background(), tt.key).Val(); ttl <= 0 {
				t.Fatalf("%s has no TTL (%v)", tt.key, ttl)
			}
		})
	}
}
