package client

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/telequeue/telequeue/internal/broadcast"
	"github.com/telequeue/telequeue/tasks"
)

func TestDistinctChats(t *testing.T) {
	t.Parallel()
	ids, dups, err := distinctChats([]int64{5, 3, 5, -7, 3, 3, 9})
	if err != nil || dups != 3 || !slices.Equal(ids, []int64{5, 3, -7, 9}) {
		t.Errorf("got %v, %d, %v; want first occurrences [5 3 -7 9] and 3 duplicates", ids, dups, err)
	}
	in := []int64{1, 2, 3}
	ids, dups, err = distinctChats(in)
	if err != nil || dups != 0 || &ids[0] != &in[0] {
		t.Errorf("no duplicates: %v, %d, %v; want the input itself", ids, dups, err)
	}
	var ve *tasks.ValidationError
	for _, bad := range [][]int64{nil, {1, 0}, {1 << 60}} {
		if _, _, err := distinctChats(bad); !errors.As(err, &ve) || ve.Field != "chat_ids" {
			t.Errorf("%v: %v", bad, err)
		}
	}
}

func TestBroadcastIDForKey(t *testing.T) {
	t.Parallel()
	a, b := broadcastIDForKey("promo-1"), broadcastIDForKey("promo-2")
	if a != broadcastIDForKey("promo-1") || a == b || len(a) != 26 || !tasks.ValidBroadcastID(a) {
		t.Errorf("ids %q, %q", a, b)
	}
}

func TestProgressState(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, tc := range []struct {
		info broadcast.Info
		want BroadcastState
	}{
		{broadcast.Info{State: broadcast.StateRunning, Total: 2}, BroadcastRunning},
		{broadcast.Info{State: broadcast.StateRunning, Total: 2, StartAt: now.Add(time.Hour)}, BroadcastScheduled},
		{broadcast.Info{State: broadcast.StateRunning, Total: 2, Settled: 1, StartAt: now.Add(time.Hour)}, BroadcastRunning},
		{broadcast.Info{State: broadcast.StateRunning, Total: 2, Settled: 2, FinishedAt: now}, BroadcastDone},
		{broadcast.Info{State: broadcast.StateCancelled, Total: 2, Settled: 2, FinishedAt: now}, BroadcastCancelled},
		{broadcast.Info{State: broadcast.StateCreating, Total: 2}, BroadcastCreating},
	} {
		if got := progressOf(&tc.info, now).State; got != tc.want {
			t.Errorf("%+v: state %q, want %q", tc.info, got, tc.want)
		}
	}
}
