package client_test

import (
	"context"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mymmrac/telego"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/tasks"
)

// TestStatusReply: a multi-part reply reports its own task type, its bot,
// chat and parts, and, known only from its sent marker, its message_ids.
func TestStatusReply(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	ctx := testCtx(t)
	chat := telego.ChatID{ID: 77}
	plain, err := b.c.SendReply(ctx, chat, tasks.Texts("a", "b"), client.Bulk())
	if err != nil {
		t.Fatal(err)
	}
	ordered, err := b.c.SendReply(ctx, chat, []*tasks.SendMessage{{Bot: "alerts", Text: "x"}, {Text: "y"}, {Text: "z"}}, client.Ordered())
	if err != nil {
		t.Fatal(err)
	}
	single, err := b.c.SendMessage(ctx, msg(77, "one"))
	if err != nil {
		t.Fatal(err)
	}
	for id, marker := range map[string]string{
		"replygone":  `{"message_id":5,"chat_id":77,"message_ids":[5,6]}`,
		"singlegone": `{"message_id":9,"chat_id":77}`,
	} {
		if err := b.rdb.Set(ctx, keys.Sent(id), marker, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		id       string
		wantType string
		wantBot  string
		parts    int     // of Reply; 0: no Reply
		wantIDs  []int64 // MessageIDs
	}{
		{plain.ID, tasks.TypeSendMessages, "", 2, nil},
		{ordered.ID, tasks.TypeSendMessagesOrdered, "alerts", 3, nil},
		{single.ID, tasks.TypeSendMessage, "", 0, nil},
		{"replygone", tasks.TypeSendMessages, "", 0, []int64{5, 6}},
		{"singlegone", tasks.TypeSendMessage, "", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			st, err := b.c.Status(ctx, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if st.Type != tt.wantType || !slices.Equal(st.MessageIDs, tt.wantIDs) {
				t.Errorf("type %s, message ids %v; want %s, %v", st.Type, st.MessageIDs, tt.wantType, tt.wantIDs)
			}
			if tt.parts > 0 {
				if st.Reply == nil || len(st.Reply.Parts) != tt.parts || st.Message == nil || st.Message.ChatID != chat || st.Message.Bot != tt.wantBot {
					t.Errorf("reply %+v, message %+v; want %d parts to chat %v from bot %q", st.Reply, st.Message, tt.parts, chat, tt.wantBot)
				}
			} else if st.Reply != nil {
				t.Errorf("Reply %+v, want none", st.Reply)
			}
		})
	}
}

// roundTrips counts the round trips a go-redis client makes.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmd)
	}
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmds)
	}
}

var _ redis.Hook = (*roundTrips)(nil)

// TestStatusRoundTrips: Status finds a task's queue in one round trip
// instead of asking each queue in turn (the task's own read, through
// asynq's inspector, takes two more).
func TestStatusRoundTrips(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr(), Dialer: (&net.Dialer{}).DialContext})
	t.Cleanup(func() { _ = rdb.Close() })
	var rt roundTrips
	rdb.AddHook(&rt)
	c, err := client.NewFromRedisClient(rdb, client.Config{Bots: []string{tasks.DefaultBot}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	for _, q := range []client.Option{client.Critical(), nil, client.Bulk()} {
		if _, err := c.SendMessage(ctx, msg(1, "fill"), q); err != nil {
			t.Fatal(err)
		}
	}
	bulk, err := c.SendMessage(ctx, msg(1, "last queue"), client.Bulk())
	if err != nil {
		t.Fatal(err)
	}
	// Warm up: load asynq's script and fill the connection pool, so that
	// only the steady state is counted.
	for range 2 {
		if _, err := c.Status(ctx, bulk.ID); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		id   string
		want int64
	}{
		{bulk.ID, 3},
		{"nosuchtask", 1},
	}
	for _, tt := range tests {
		before := rt.n.Load()
		if _, err := c.Status(ctx, tt.id); err != nil && tt.id == bulk.ID {
			t.Fatal(err)
		}
		if got := rt.n.Load() - before; got > tt.want {
			t.Errorf("Status(%s): %d round trips, want at most %d", tt.id, got, tt.want)
		}
	}
}

// TestStatusSuperseded: an edit that a newer one overtook reports the final
// state "superseded", whether asynq still holds the task or only its sent
// marker is left.
func TestStatusSuperseded(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{})
	ctx := testCtx(t)
	if err := b.rdb.Set(ctx, keys.Sent("edit-gone"), `{"method":"editMessageText","chat_id":5,"superseded":true}`, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.rdb.Set(ctx, keys.Sent("edit-sent"), `{"method":"editMessageText","chat_id":5,"message_ids":[3]}`, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]client.State{"edit-gone": client.StateSuperseded, "edit-sent": client.StateCompleted} {
		st, err := b.c.Status(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != want || st.Type != "telegram:edit_message_text" {
			t.Errorf("%s: state %s, type %s; want %s", id, st.State, st.Type, want)
		}
	}
}
