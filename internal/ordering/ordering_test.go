package ordering

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/tasks"
)

// fakeInspector holds task states in memory and records wakes.
type fakeInspector struct {
	mu    sync.Mutex
	tasks map[string]*asynq.TaskInfo
	woken []string
	// activeFor makes a task report active this many times before it parks.
	activeFor map[string]int
}

func newFake() *fakeInspector {
	return &fakeInspector{tasks: map[string]*asynq.TaskInfo{}, activeFor: map[string]int{}}
}

func (f *fakeInspector) set(id string, state asynq.TaskState, lastErr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tasks[id] = &asynq.TaskInfo{ID: id, Queue: "default", State: state, LastErr: lastErr}
}

func (f *fakeInspector) GetTaskInfo(_, id string) (*asynq.TaskInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	info, ok := f.tasks[id]
	if !ok {
		return nil, asynq.ErrTaskNotFound
	}
	if n := f.activeFor[id]; n > 0 {
		f.activeFor[id] = n - 1
		if n == 1 {
			info.State, info.LastErr = asynq.TaskStateRetry, ParkedPrefix+" behind x"
		}
		c := *info
		c.State = asynq.TaskStateActive
		return &c, nil
	}
	c := *info
	return &c, nil
}

func (f *fakeInspector) RunTask(_, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	info, ok := f.tasks[id]
	if !ok {
		return asynq.ErrTaskNotFound
	}
	switch info.State {
	case asynq.TaskStateActive, asynq.TaskStatePending:
		return errors.New("asynq: task is already running")
	}
	info.State = asynq.TaskStatePending
	f.woken = append(f.woken, id)
	return nil
}

func (f *fakeInspector) wakes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.woken...)
}

type fixture struct {
	rdb   *redis.Client
	insp  *fakeInspector
	seq   *Sequencer
	order Order
}

func setup(t *testing.T, cfg Config) *fixture {
	t.Helper()
	srv := redistest.Start(t)
	f := &fixture{rdb: srv.Client(t), insp: newFake()}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	f.seq = New(f.rdb, f.insp, cfg)
	f.order = OrderOf(tasks.OrderKeyOf("default", "42"))
	return f
}

func (f *fixture) ids(t *testing.T) []string {
	t.Helper()
	ids, err := f.seq.IDs(context.Background(), f.order)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestRegisterPositionsAndKeys(t *testing.T) {
	f := setup(t, Config{})
	ctx := context.Background()
	for i, id := range []string{"a", "b", "c"} {
		pos, err := f.seq.Register(ctx, f.order, id, "default")
		if err != nil || pos != i {
			t.Fatalf("Register(%s) = %d, %v; want %d", id, pos, err, i)
		}
	}
	if pos, _ := f.seq.Register(ctx, f.order, "b", "default"); pos != 1 {
		t.Errorf("re-registering b moved it to %d", pos)
	}
	if got := f.ids(t); len(got) != 3 || got[0] != "a" || got[2] != "c" {
		t.Fatalf("order %v", got)
	}
	// Both keys share one Redis Cluster slot and expire.
	if f.order.seq != "telequeue:ord:{default:42}:q" || f.order.meta != "telequeue:ord:{default:42}:m" {
		t.Errorf("keys %s %s", f.order.seq, f.order.meta)
	}
	for _, k := range f.order.keys() {
		if ttl := f.rdb.PTTL(ctx, k).Val(); ttl <= 0 || ttl > DefaultKeyTTL {
			t.Errorf("%s: TTL %v", k, ttl)
		}
	}
	// Usernames compare case-insensitively, as Telegram's do.
	if OrderOf(tasks.OrderKeyOf("default", "@News")).seq != OrderOf(tasks.OrderKeyOf("", "@news")).seq {
		t.Error("@News and @news must share an order")
	}
}

func TestCheckParksNonHeadAndDoneHandsOver(t *testing.T) {
	f := setup(t, Config{})
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		if _, err := f.seq.Register(ctx, f.order, id, "default"); err != nil {
			t.Fatal(err)
		}
	}
	f.insp.set("a", asynq.TaskStateActive, "")
	f.insp.set("b", asynq.TaskStateScheduled, "")
	f.insp.set("c", asynq.TaskStateScheduled, "")

	turn, err := f.seq.Check(ctx, f.order, "b", "default", false)
	if err != nil || turn.Head || turn.Position != 1 || turn.Ahead != "a" {
		t.Fatalf("b: %+v, %v", turn, err)
	}
	if turn, _ := f.seq.Check(ctx, f.order, "a", "default", false); !turn.Head {
		t.Fatalf("a: %+v", turn)
	}
	if err := f.seq.Done(ctx, f.order, "a"); err != nil {
		t.Fatal(err)
	}
	if w := f.insp.wakes(); len(w) != 1 || w[0] != "b" {
		t.Fatalf("woken %v, want [b]", w)
	}
	if turn, _ := f.seq.Check(ctx, f.order, "b", "default", false); !turn.Head {
		t.Fatalf("b after a: %+v", turn)
	}
	for _, id := range []string{"b", "c"} {
		f.insp.set(id, asynq.TaskStateActive, "")
		if err := f.seq.Done(ctx, f.order, id); err != nil {
			t.Fatal(err)
		}
	}
	// The empty order's keys are gone, so its sequence starts again.
	if n := f.rdb.Exists(ctx, f.order.keys()...).Val(); n != 0 {
		t.Errorf("%d keys left after the order emptied", n)
	}
}

func TestSettle(t *testing.T) {
	tests := []struct {
		name     string
		state    asynq.TaskState
		lastErr  string
		missing  bool
		age      time.Duration // how long ago the head registered
		wantHead string        // head after settle
		wantWake bool
	}{
		{"active head stays", asynq.TaskStateActive, "", false, 0, "h", false},
		{"pending head stays", asynq.TaskStatePending, "", false, 0, "h", false},
		{"head in backoff is not woken", asynq.TaskStateRetry, "telegram: server error 500", false, 0, "h", false},
		{"head waiting out a 429 is not woken", asynq.TaskStateRetry, "telegram: 429 Too Many Requests: retry after 1s", false, 0, "h", false},
		{"parked head is woken", asynq.TaskStateRetry, ParkedPrefix + " behind x", false, 0, "h", true},
		{"head parked at enqueue is woken", asynq.TaskStateScheduled, "", false, 0, "h", true},
		{"archived head is skipped", asynq.TaskStateArchived, "telegram 403: blocked", false, 0, "n", false},
		{"completed head is skipped", asynq.TaskStateCompleted, "", false, 0, "n", false},
		{"missing head within grace is kept", 0, "", true, 0, "h", false},
		{"missing head after grace is skipped", 0, "", true, 2 * time.Second, "n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, Config{Grace: time.Second})
			ctx := context.Background()
			for _, id := range []string{"h", "n"} {
				if _, err := f.seq.Register(ctx, f.order, id, "default"); err != nil {
					t.Fatal(err)
				}
			}
			if tt.age > 0 {
				// Back-date h's registration.
				ms := time.Now().Add(-tt.age).UnixMilli()
				f.rdb.HSet(ctx, f.order.meta, "h", "default|"+strconv.FormatInt(ms, 10))
			}
			if !tt.missing {
				f.insp.set("h", tt.state, tt.lastErr)
			}
			f.insp.set("n", asynq.TaskStateActive, "") // n is the task asking
			turn, err := f.seq.Check(ctx, f.order, "n", "default", false)
			if err != nil {
				t.Fatal(err)
			}
			if head := map[bool]string{true: "n", false: "h"}[turn.Head]; head != tt.wantHead {
				t.Errorf("head %s, want %s (%+v)", head, tt.wantHead, turn)
			}
			if woken := len(f.insp.wakes()) > 0; woken != tt.wantWake {
				t.Errorf("woken %v, want %v", f.insp.wakes(), tt.wantWake)
			}
		})
	}
}

// TestDoneWaitsForAParkingNext: the next task may still be active, about to
// return its park error, when the head finishes; the wake must wait for it.
func TestDoneWaitsForAParkingNext(t *testing.T) {
	f := setup(t, Config{})
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if _, err := f.seq.Register(ctx, f.order, id, "default"); err != nil {
			t.Fatal(err)
		}
	}
	f.insp.set("a", asynq.TaskStateActive, "")
	f.insp.set("b", asynq.TaskStateRetry, "")
	f.insp.mu.Lock()
	f.insp.activeFor["b"] = 3
	f.insp.mu.Unlock()
	if err := f.seq.Done(ctx, f.order, "a"); err != nil {
		t.Fatal(err)
	}
	if w := f.insp.wakes(); len(w) != 1 || w[0] != "b" {
		t.Fatalf("woken %v, want [b]", w)
	}
}

func TestCheckJoinsTail(t *testing.T) {
	f := setup(t, Config{})
	ctx := context.Background()
	if _, err := f.seq.Register(ctx, f.order, "a", "default"); err != nil {
		t.Fatal(err)
	}
	f.insp.set("a", asynq.TaskStateActive, "")
	turn, err := f.seq.Check(ctx, f.order, "x", "default", false)
	if err != nil || turn.Registered {
		t.Fatalf("without join: %+v, %v", turn, err)
	}
	turn, err = f.seq.Check(ctx, f.order, "x", "default", true)
	if err != nil || !turn.Registered || turn.Position != 1 {
		t.Fatalf("with join: %+v, %v", turn, err)
	}
}

func TestParkDelay(t *testing.T) {
	s := New(nil, nil, Config{ParkBase: 10 * time.Second, ParkMax: time.Minute})
	for pos, want := range map[int]time.Duration{0: 10 * time.Second, 1: 10 * time.Second, 3: 30 * time.Second, 6: time.Minute, 1000: time.Minute} {
		if got := s.ParkDelay(pos); got != want {
			t.Errorf("ParkDelay(%d) = %v, want %v", pos, got, want)
		}
	}
}
