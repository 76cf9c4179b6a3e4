package broadcast

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redistest"
)

func newStore(t *testing.T) (*Store, *redis.Client) {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	return NewStore(rdb), rdb
}

func spec(id string, n, size, lanes int) *Spec {
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(1000 + i)
	}
	return &Spec{ID: id, Bot: "default", Message: []byte(`{"text":"hi"}`), Recipients: ids,
		ChunkSize: size, Lanes: lanes, TTL: time.Hour}
}

func TestPack(t *testing.T) {
	t.Parallel()
	ids := []int64{1, -1, 1<<52 - 1, -1_001_234_567_890, 42}
	if got := Unpack(Pack(ids)); !slices.Equal(got, ids) {
		t.Fatalf("Unpack(Pack(%v)) = %v", ids, got)
	}
	if got := Unpack(append(Pack(ids), 1, 2, 3)); !slices.Equal(got, ids) {
		t.Fatalf("a trailing partial id is not ignored: %v", got)
	}
}

func TestProgressString(t *testing.T) {
	t.Parallel()
	for _, p := range []Progress{{}, {Started: true}, {Started: true, Pass: 2, Cursor: 17}, {Started: true, Done: true}} {
		got, err := ParseProgress(p.String())
		if err != nil || got != p {
			t.Errorf("ParseProgress(%q) = %+v, %v; want %+v", p.String(), got, err, p)
		}
	}
	for _, bad := range []string{"x", "1", "1:", ":2", "-1:0", "a:b"} {
		if _, err := ParseProgress(bad); err == nil {
			t.Errorf("ParseProgress(%q) succeeded", bad)
		}
	}
}

func TestCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rdb := newStore(t)
	if err := s.Create(ctx, spec("b1", 2500, 1000, 2)); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, spec("b1", 10, 10, 1)); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	info, err := s.Info(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	if info.State != StateRunning || info.Total != 2500 || info.Chunks != 3 || info.ChunkSize != 1000 || info.Lanes != 2 || info.Pending() != 2500 {
		t.Errorf("info %+v", info)
	}
	last, err := s.Recipients(ctx, "b1", 2, 0)
	if err != nil || len(last) != 500 || last[0] != 3000 || last[499] != 3499 {
		t.Errorf("last chunk: %d ids from %v, %v", len(last), last[:1], err)
	}
	keys, err := rdb.Keys(ctx, keys.BroadcastPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 6 {
		t.Errorf("keys %v: want meta, progress, blocked and 3 chunks", keys)
	}
	for _, k := range keys {
		if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("%s has TTL %v, want the broadcast's hour", k, ttl)
		}
	}
	if _, err := s.Info(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Info(nope): %v", err)
	}
}

func TestSettle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rdb := newStore(t)
	if err := s.Create(ctx, spec("b", 4, 4, 1)); err != nil {
		t.Fatal(err)
	}
	p0 := Progress{Started: true}
	step := func(from, to Progress, o Outcome, chat int64) Result {
		t.Helper()
		r, err := s.Settle(ctx, "b", Step{Chunk: 0, From: from, To: to, Outcome: o, Chat: chat})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := step(Progress{}, p0, OutcomeNone, 0); !r.Applied || r.State != StateRunning {
		t.Fatalf("start: %+v", r)
	}
	// A second run that read the chunk as unstarted loses, and learns
	// where the chunk is.
	if r := step(Progress{}, p0, OutcomeNone, 0); r.Applied || r.Current != p0 {
		t.Fatalf("second start: %+v", r)
	}
	p1 := Progress{Started: true, Cursor: 1}
	if r := step(p0, p1, OutcomeSent, 1000); !r.Applied {
		t.Fatalf("sent: %+v", r)
	}
	// The same recipient settled again by a stale run: refused, not
	// counted twice.
	if r := step(p0, p1, OutcomeSent, 1000); r.Applied || r.Current != p1 {
		t.Fatalf("stale settle: %+v", r)
	}
	p2 := Progress{Started: true, Cursor: 2}
	step(p1, p2, OutcomeBlocked, 1001)
	p3 := Progress{Started: true, Cursor: 3}
	step(p2, p3, OutcomeRetry, 1002)
	p4 := Progress{Started: true, Cursor: 4}
	step(p3, p4, OutcomeFailed, 1003)
	if n, _ := s.PassLength(ctx, "b", 0, 1); n != 1 {
		t.Errorf("retry list has %d, want 1", n)
	}
	if ttl := rdb.PTTL(ctx, keys.BroadcastOf("b").List(0, 1)).Val(); ttl <= 0 {
		t.Errorf("retry list TTL %v, want the broadcast's", ttl)
	}
	// Pass 1: the deferred recipient is sent; then the chunk is done.
	q0 := Progress{Started: true, Pass: 1}
	if r, err := s.Settle(ctx, "b", Step{Chunk: 0, From: p4, To: q0, DeletePasses: []int{0}}); err != nil || !r.Applied {
		t.Fatalf("pass switch: %+v, %v", r, err)
	}
	list, _ := s.Recipients(ctx, "b", 0, 1)
	if !slices.Equal(list, []int64{1002}) {
		t.Fatalf("pass 1 list %v", list)
	}
	q1 := Progress{Started: true, Pass: 1, Cursor: 1}
	step(q0, q1, OutcomeSent, 1002)
	done := Progress{Started: true, Done: true}
	if r, err := s.Settle(ctx, "b", Step{Chunk: 0, From: q1, To: done, DeletePasses: []int{1}}); err != nil || !r.Applied {
		t.Fatalf("done: %+v, %v", r, err)
	}
	info, _ := s.Info(ctx, "b")
	if info.Sent != 2 || info.Blocked != 1 || info.Failed != 1 || info.Settled != 4 || info.FinishedAt.IsZero() {
		t.Errorf("info %+v", info)
	}
	blocked, err := s.Blocked(ctx, "b", 0, 0)
	if err != nil || !slices.Equal(blocked, []int64{1001}) {
		t.Errorf("blocked %v, %v", blocked, err)
	}
	if n := rdb.Exists(ctx, keys.BroadcastOf("b").List(0, 0), keys.BroadcastOf("b").List(0, 1)).Val(); n != 0 {
		t.Errorf("%d finished lists left", n)
	}
	// A broadcast that is gone.
	if _, err := s.Settle(ctx, "gone", Step{From: Progress{}, To: p0}); !errors.Is(err, ErrNotFound) {
		t.Errorf("settle on a missing broadcast: %v", err)
	}
}

// TestSettleAfter: pre's commands go in the step's round trip, also the
// first time Redis lacks the script (after SCRIPT FLUSH or a restart), and
// a step is applied once.
func TestSettleAfter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rdb := newStore(t)
	if err := s.Create(ctx, spec("b", 2, 2, 1)); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, "rider", "here", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	p0 := Progress{Started: true}
	p1 := Progress{Started: true, Cursor: 1}
	tests := []struct {
		name  string
		flush bool
		step  Step
		key   string
		want  string
		err   error
	}{
		{name: "script_not_loaded", flush: true, step: Step{From: Progress{}, To: p0}, key: "rider", want: "here"},
		{name: "loaded", step: Step{From: p0, To: p1, Outcome: OutcomeSent, Chat: 1000}, key: "absent", err: redis.Nil},
	}
	for _, tt := range tests {
		if tt.flush {
			if err := rdb.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		var got *redis.StringCmd
		var runs int
		r, err := s.SettleAfter(ctx, "b", tt.step, func(p redis.Pipeliner) { runs++; got = p.Get(ctx, tt.key) })
		if err != nil || !r.Applied || r.Current != tt.step.To {
			t.Fatalf("%s: %+v, %v; want applied", tt.name, r, err)
		}
		if v, err := got.Result(); v != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("%s: pre's GET = %q, %v; want %q, %v", tt.name, v, err, tt.want, tt.err)
		}
		if wantRuns := map[bool]int{true: 2, false: 1}[tt.flush]; runs != wantRuns {
			t.Errorf("%s: pre ran %d times, want %d", tt.name, runs, wantRuns)
		}
	}
	info, err := s.Info(ctx, "b")
	if err != nil || info.Sent != 1 || info.Settled != 1 {
		t.Errorf("info %+v, %v; want one recipient sent", info, err)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	// 5 chunks of 10, the last of 5.
	if err := s.Create(ctx, spec("c", 45, 10, 2)); err != nil {
		t.Fatal(err)
	}
	p0 := Progress{Started: true}
	// Chunk 0 is running: 3 sent, 2 deferred to pass 1.
	cur := p0
	if _, err := s.Settle(ctx, "c", Step{Chunk: 0, From: Progress{}, To: p0}); err != nil {
		t.Fatal(err)
	}
	for i, o := range []Outcome{OutcomeSent, OutcomeSent, OutcomeRetry, OutcomeSent, OutcomeRetry} {
		next := Progress{Started: true, Cursor: i + 1}
		if r, err := s.Settle(ctx, "c", Step{Chunk: 0, From: cur, To: next, Outcome: o, Chat: int64(1000 + i)}); err != nil || !r.Applied {
			t.Fatalf("settle %d: %+v %v", i, r, err)
		}
		cur = next
	}
	res, err := s.Cancel(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Settled, []int{1, 2, 3, 4}) || !slices.Equal(res.Running, []int{0}) {
		t.Errorf("cancel settled %v, running %v; want 1-4 and 0", res.Settled, res.Running)
	}
	info, _ := s.Info(ctx, "c")
	if info.State != StateCancelled || info.Cancelled != 35 || info.Sent != 3 || info.Pending() != 7 {
		t.Errorf("after cancel %+v", info)
	}
	// The running chunk settles its rest: 5 left in pass 0, 2 deferred.
	r, err := s.SettleRest(ctx, "c", 0, cur, OutcomeCancelled)
	if err != nil || !r.Applied || r.State != StateCancelled {
		t.Fatalf("settle rest: %+v, %v", r, err)
	}
	info, _ = s.Info(ctx, "c")
	if info.Cancelled != 42 || info.Pending() != 0 || info.FinishedAt.IsZero() {
		t.Errorf("finished %+v", info)
	}
	// A chunk task that starts now finds its chunk done.
	if p, _ := s.Progress(ctx, "c", 3); !p.Done {
		t.Errorf("chunk 3 progress %+v, want done", p)
	}
	again, err := s.Cancel(ctx, "c")
	if err != nil || !again.Finished {
		t.Errorf("cancel after finish: %+v, %v", again, err)
	}
	if _, err := s.Cancel(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancel unknown: %v", err)
	}
}

func TestRecent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rdb := newStore(t)
	for _, id := range []string{"r1", "r2", "r3"} {
		if err := s.Create(ctx, spec(id, 10, 10, 1)); err != nil {
			t.Fatal(err)
		}
	}
	// r1 expired; an id created long ago is pruned by age.
	if err := rdb.Del(ctx, keys.BroadcastOf("r1").Meta()).Err(); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	if err := rdb.ZAdd(ctx, IndexKey, redis.Z{Score: float64(old.UnixMilli()), Member: "old"}).Err(); err != nil {
		t.Fatal(err)
	}

	got, err := s.Recent(ctx, time.Now().Add(-24*time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, i := range got {
		ids = append(ids, i.ID)
	}
	if len(ids) != 2 || !slices.Contains(ids, "r2") || !slices.Contains(ids, "r3") {
		t.Errorf("Recent = %v, want r2 and r3", ids)
	}
	left, err := rdb.ZRange(ctx, IndexKey, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(left)
	if !slices.Equal(left, []string{"r2", "r3"}) {
		t.Errorf("index after Recent = %v, want the expired and old ids gone", left)
	}
	if got, err := s.Recent(ctx, time.Now().Add(-time.Hour), 1); err != nil || len(got) != 1 {
		t.Errorf("Recent with limit 1 = %d, %v", len(got), err)
	}
}
