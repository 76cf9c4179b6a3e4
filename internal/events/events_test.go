package events_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/events"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/tasks"
)

func TestEncodeDecode(t *testing.T) {
	t.Parallel()
	at := time.UnixMilli(1_733_212_345_678).UTC()
	tests := []struct {
		name string
		e    tasks.Event
	}{
		{"sent", tasks.Event{Outcome: tasks.OutcomeSent, TaskID: "t1", Method: "sendMessage", Type: tasks.TypeSendMessage,
			Bot: "default", Chat: "42", ChatID: 42, MessageIDs: []int64{7}, Time: at}},
		{"reply after migration", tasks.Event{Outcome: tasks.OutcomeSent, TaskID: "t2", IdempotencyKey: "k|2", Method: "sendMessage",
			Type: tasks.TypeSendMessages, Bot: "b", Chat: "-5", ChatID: -1001234, MigratedFrom: -5, MessageIDs: []int64{1, 2, 3}, Time: at}},
		{"blocked", tasks.Event{Outcome: tasks.OutcomeBlocked, TaskID: "t3", Method: "sendMessage", Type: tasks.TypeSendMessage,
			Bot: "default", Chat: "@chan", ErrorCode: 403, Description: "Forbidden: bot was blocked by the user", Time: at}},
		{"broadcast recipient", tasks.Event{Outcome: tasks.OutcomeBlocked, TaskID: "c1", Method: "sendMessage", Type: "telegram:broadcast_chunk",
			Bot: "default", Chat: "99", ErrorCode: 403, BroadcastID: "bc1", Time: at}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fields := events.Encode(&tt.e)
			values := map[string]any{}
			for i := 0; i < len(fields); i += 2 {
				values[fields[i].(string)] = fields[i+1]
			}
			got, err := events.Decode(redis.XMessage{ID: "1-0", Values: values})
			if err != nil {
				t.Fatal(err)
			}
			want := tt.e
			want.ID = "1-0"
			if !reflect.DeepEqual(&want, got) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, &want)
			}
		})
	}
	if _, err := events.Decode(redis.XMessage{ID: "1-0", Values: map[string]any{"outcome": "sent", "chat_id": "x"}}); err == nil {
		t.Error("a bad chat_id decoded without error")
	}
	if _, err := events.Decode(redis.XMessage{ID: "1-0", Values: map[string]any{"task_id": "t"}}); err == nil {
		t.Error("an entry without outcome decoded without error")
	}
}

func appendN(t *testing.T, w *events.Writer, n int) {
	t.Helper()
	for i := range n {
		e := &tasks.Event{Outcome: tasks.OutcomeSent, TaskID: "t" + strconv.Itoa(i), Method: "sendMessage", Bot: "default", Chat: "1"}
		if err := w.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func next(t *testing.T, g *events.GroupReader) *tasks.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := g.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestGroupsShareAndSurviveRestarts: the consumers of one group share the
// events, each once; a consumer restarted under its name gets what it had
// not acknowledged; the unacknowledged events of a consumer that never
// returns go to another after ClaimIdle; another group sees everything.
func TestGroupsShareAndSurviveRestarts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	w := events.NewWriter(rdb, 0)
	newReader := func(group, consumer string) *events.GroupReader {
		g, err := events.NewGroupReader(rdb, events.GroupConfig{
			Group: group, Consumer: consumer, Start: "0", Count: 2, Block: 100 * time.Millisecond, ClaimIdle: 300 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	appendN(t, w, 6)

	a, b := newReader("app", "a"), newReader("app", "b")
	seen := map[string]int{}
	// a takes two and acknowledges one: it "crashes" holding t1.
	e0, e1 := next(t, a), next(t, a)
	if err := a.Ack(ctx, e0.ID); err != nil {
		t.Fatal(err)
	}
	seen[e0.TaskID]++
	// b takes the other four.
	for range 4 {
		e := next(t, b)
		seen[e.TaskID]++
		if err := b.Ack(ctx, e.ID); err != nil {
			t.Fatal(err)
		}
	}
	// a restarts under its name: it gets t1 again first.
	a = newReader("app", "a")
	if e := next(t, a); e.ID != e1.ID {
		t.Fatalf("restarted consumer got %s, want its pending %s", e.TaskID, e1.TaskID)
	}
	// a dies for good; b claims t1 once it has been idle long enough.
	if e := next(t, b); e.ID != e1.ID {
		t.Fatalf("b got %s, want the claimed %s", e.TaskID, e1.TaskID)
	} else {
		seen[e.TaskID]++
		if err := b.Ack(ctx, e.ID); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 6 {
		if n := seen["t"+strconv.Itoa(i)]; n != 1 {
			t.Errorf("t%d acknowledged %d times in group app, want 1", i, n)
		}
	}
	pending, err := rdb.XPending(ctx, events.Stream, "app").Result()
	if err != nil || pending.Count != 0 {
		t.Errorf("pending in app: %+v, %v; want none", pending, err)
	}

	// Another group reads all six, independently.
	other := newReader("audit", "x")
	var ids []string
	for range 6 {
		e := next(t, other)
		ids = append(ids, e.TaskID)
		// Acknowledged, or x would claim it back from itself once idle
		// for ClaimIdle, as long as the wait below.
		if err := other.Ack(ctx, e.ID); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(ids, []string{"t0", "t1", "t2", "t3", "t4", "t5"}) {
		t.Errorf("group audit read %v, want t0..t5 in order", ids)
	}
	// Nothing more: Next waits until its context ends.
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if e, err := other.Next(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next on a drained stream = %v, %v; want the context's deadline", e, err)
	}
}

func TestNewGroupStartsAtNewEvents(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	w := events.NewWriter(rdb, 0)
	appendN(t, w, 3)
	g, err := events.NewGroupReader(rdb, events.GroupConfig{Group: "new", Consumer: "c", Block: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if e, err := g.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a new group with the default start read %v, %v; want nothing", e, err)
	}
	appendN(t, w, 1)
	if e := next(t, g); e.TaskID != "t0" {
		t.Errorf("got %s, want the event appended after the group was made", e.TaskID)
	}
}

func TestMaxLenBoundsTheStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	w := events.NewWriter(rdb, 1000)
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range 10_000 {
			w.Queue(ctx, p, &tasks.Event{Outcome: tasks.OutcomeSent, TaskID: strconv.Itoa(i), Method: "sendMessage"})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := rdb.XLen(ctx, events.Stream).Result()
	if err != nil {
		t.Fatal(err)
	}
	// Approximate trimming removes whole macro nodes (100 entries by default).
	if n < 1000 || n > 1200 {
		t.Errorf("stream holds %d entries, want about 1000", n)
	}
}

func TestTail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	last, err := events.LastID(ctx, rdb)
	if err != nil || last != "0-0" {
		t.Fatalf("LastID of no stream = %q, %v", last, err)
	}
	w := events.NewWriter(rdb, 0)
	appendN(t, w, 3)
	got, err := events.Tail(ctx, rdb, "0", 2, 0)
	if err != nil || len(got) != 2 || got[0].TaskID != "t0" {
		t.Fatalf("Tail from 0 = %v, %v", got, err)
	}
	rest, err := events.Tail(ctx, rdb, got[1].ID, 10, 0)
	if err != nil || len(rest) != 1 || rest[0].TaskID != "t2" {
		t.Fatalf("Tail after %s = %v, %v", got[1].ID, rest, err)
	}
	// Blocking: an event appended while Tail waits is returned.
	done := make(chan []*tasks.Event, 1)
	go func() {
		es, _ := events.Tail(ctx, rdb, rest[0].ID, 10, 5*time.Second)
		done <- es
	}()
	time.Sleep(50 * time.Millisecond) // let XREAD block first; not needed for correctness
	appendN(t, w, 1)
	select {
	case es := <-done:
		if len(es) != 1 || es[0].TaskID != "t0" {
			t.Errorf("blocking Tail = %v", es)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocking Tail did not return")
	}
}
