package recovery

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestContinuity(t *testing.T) {
	const gap = 5 * time.Second
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	type beat struct{ sent, acked time.Duration }
	tests := []struct {
		name       string
		beats      []beat
		start, now time.Duration
		want       bool
	}{
		{"no beat yet", nil, ms(10), ms(20), false},
		{"run started before the first beat answered", []beat{{ms(0), ms(2)}}, ms(1), ms(100), false},
		{"run started after the first beat", []beat{{ms(0), ms(2)}}, ms(3), ms(100), true},
		{"regular beats", []beat{{ms(0), ms(2)}, {ms(250), ms(252)}, {ms(500), ms(501)}}, ms(100), ms(600), true},
		{"last good beat too old", []beat{{ms(0), ms(2)}}, ms(3), ms(2) + gap, false},
		{"last good beat just young enough", []beat{{ms(0), ms(2)}}, ms(3), gap - ms(1), true},
		// A process stopped 12 s: the next beat answers after the gap.
		{"run began before a stall", []beat{{ms(0), ms(2)}, {ms(12_000), ms(12_001)}}, ms(100), ms(12_100), false},
		{"run began after a stall", []beat{{ms(0), ms(2)}, {ms(12_000), ms(12_001)}}, ms(12_050), ms(12_100), true},
		// Failed beats in between: silence from the last good send to the
		// next good answer.
		{"silence just under the gap", []beat{{ms(0), ms(2)}, {gap - ms(10), gap - ms(1)}}, ms(100), gap, true},
		{"silence of the gap", []beat{{ms(0), ms(2)}, {gap - ms(10), gap}}, ms(100), gap + ms(1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newContinuity(gap)
			at := func(d time.Duration) time.Time { return c.t0.Add(d) }
			for _, b := range tt.beats {
				c.beat(at(b.sent), at(b.acked))
			}
			if got := c.fresh(at(tt.start), at(tt.now)); got != tt.want {
				t.Errorf("fresh = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestQueueFenceSkipsFreshRun checks that a run of a process whose
// heartbeat has been continuous since the run began reads no fence, and
// that a run that began before the heartbeat (or of a process known only
// by id) does.
func TestQueueFenceSkipsFreshRun(t *testing.T) {
	p, err := New(Config{Redis: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), Queues: []string{"default"}, DeadAfter: 10 * time.Second, Beat: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	time.Sleep(time.Millisecond)
	p.beats.beat(time.Now(), time.Now()) // a good beat
	time.Sleep(time.Millisecond)
	ctx := context.Background()
	pipe := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}).Pipeline()
	if f := QueueFence(p.WithRun(ctx, time.Now()), pipe, "default", "t1"); f != nil {
		t.Error("a run that began after a good beat read its fence")
	}
	if f := QueueFence(p.WithRun(ctx, before), pipe, "default", "t1"); f == nil {
		t.Error("a run that began before the first good beat did not read its fence")
	}
	if f := QueueFence(WithProcess(ctx, p.ID(), time.Now()), pipe, "default", "t1"); f == nil {
		t.Error("a run known only by its process's id did not read its fence")
	}
	if n := len(pipe.Cmds()); n != 2 {
		t.Errorf("%d reads queued, want 2", n)
	}
}
