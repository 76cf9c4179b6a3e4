// Package streamcase runs the streaming-reply case of issue 12 against
// running workers and the sandbox, for the end-to-end test and the
// benchmark: a producer queues "Thinking…" to a chat and then edits of
// that message, named by the send's task (message_task_id), at a steady
// pace, each text a little longer, registering each edit with
// coalesce.Register as the client does; meanwhile other chats get ordinary
// messages. It measures what Telegram (the sandbox) saw.
package streamcase

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/coalesce"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/tasks"
)

// Config is one run of the case. Zero values are the defaults of issue 12.
type Config struct {
	Client    *asynq.Client
	Inspector *asynq.Inspector
	Redis     redis.UniversalClient
	Sandbox   *sandbox.Sandbox
	// BotID is the numeric prefix of the workers' token.
	BotID int64
	// Chats are the chats that each get a streamed reply at once; default
	// one private chat, 1001.
	Chats []int64
	// Edits per stream (default 300), queued evenly over Over (default
	// 10 s).
	Edits int
	Over  time.Duration
	// Others is how many ordinary messages go to other chats (one chat
	// each, chat ids from 500000) over the same time; default 50.
	Others int
	// SlotGap is the least time between two calls to one chat Telegram
	// allows: 1 s (default); GroupSlotGap the same in a group at its
	// pace of 20 a minute: 3 s (default).
	SlotGap, GroupSlotGap time.Duration
	// Within bounds the wait for every task to end; default 60 s.
	Within time.Duration
}

func (c *Config) setDefaults() {
	if len(c.Chats) == 0 {
		c.Chats = []int64{1001}
	}
	if c.Edits <= 0 {
		c.Edits = 300
	}
	if c.Over <= 0 {
		c.Over = 10 * time.Second
	}
	if c.Others <= 0 {
		c.Others = 50
	}
	if c.SlotGap <= 0 {
		c.SlotGap = time.Second
	}
	if c.GroupSlotGap <= 0 {
		c.GroupSlotGap = 3 * time.Second
	}
	if c.Within <= 0 {
		c.Within = 60 * time.Second
	}
}

// Stream is what one streamed reply came to.
type Stream struct {
	Chat int64
	// Offered edits were queued; Sent reached Telegram (its records);
	// Superseded completed as superseded; Archived failed.
	Offered, Sent, Superseded, Archived int
	// SendAt is when Telegram got "Thinking…"; EditsAt when it got each
	// edit, in order.
	SendAt  time.Time
	EditsAt []time.Time
	// MinGap is the least time between two calls to the chat ("Thinking…"
	// and the edits).
	MinGap time.Duration
	// FinalText is the message's text in the end; LastText the last
	// edit's.
	FinalText, LastText string
	// LastQueued is when the last edit was queued (and registered).
	LastQueued time.Time
	// AfterEnqueue is how long after LastQueued Telegram got the last
	// edit's text; AfterFreeSlot how long after the chat's first free slot
	// after LastQueued (the previous call to the chat + SlotGap, or
	// GroupSlotGap in a group (a negative chat id), or LastQueued if
	// later).
	AfterEnqueue, AfterFreeSlot time.Duration
}

// Result is a run's figures.
type Result struct {
	Streams []Stream
	// OtherLatency are the ordinary messages' enqueue→Telegram times,
	// sorted.
	OtherLatency []time.Duration
	// TooMany counts the sandbox's 429s (limit violations and early
	// retries) during the run.
	TooMany int
	// Violations counts the limit violations alone.
	Violations int
}

// Percentile returns the p-th percentile (0 < p <= 100) of the ordinary
// messages' latency.
func (r *Result) Percentile(p float64) time.Duration {
	if len(r.OtherLatency) == 0 {
		return 0
	}
	i := int(float64(len(r.OtherLatency))*p/100+0.5) - 1
	return r.OtherLatency[min(max(i, 0), len(r.OtherLatency)-1)]
}

// Text is the i-th text of a stream: each a little longer than the last.
func Text(chat int64, i int) string {
	return fmt.Sprintf("answer %d:%s %d", chat, strings.Repeat(" word", i/3), i)
}

// Run runs the case once with cfg and returns its figures. The sandbox's
// records and figures before the run are left out.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.setDefaults()
	before := cfg.Sandbox.Stats()
	skip := cfg.Sandbox.Count()
	queue := tasks.QueueDefault

	type stream struct {
		send    string
		edits   []string
		lastAt  time.Time
		lastTxt string
	}
	streams := make([]*stream, len(cfg.Chats))
	enqueue := func(c *tasks.Call, id string) error {
		t, err := tasks.NewCallTask(c, asynq.TaskID(id), asynq.Retention(time.Hour), asynq.MaxRetry(5))
		if err != nil {
			return err
		}
		if _, err := cfg.Client.EnqueueContext(ctx, t); err != nil {
			return fmt.Errorf("enqueue %s: %w", c.Method, err)
		}
		return coalesce.Register(ctx, cfg.Redis, c, id)
	}
	for i, chat := range cfg.Chats {
		s := &stream{send: "think-" + newID()}
		streams[i] = s
		c := &tasks.Call{Method: "sendMessage", Params: json.RawMessage(fmt.Sprintf(`{"chat_id":%d,"text":"Thinking…"}`, chat))}
		if err := enqueue(c, s.send); err != nil {
			return nil, err
		}
	}

	// The ordinary messages, paced over the same time, from their own
	// goroutine.
	otherAt := make(map[string]time.Time, cfg.Others)
	var otherMu sync.Mutex
	otherErr := make(chan error, 1)
	go func() {
		otherErr <- pace(ctx, cfg.Others, cfg.Over, func(i int) error {
			text := fmt.Sprintf("other %d", i)
			t, err := tasks.NewSendMessageTask(&tasks.SendMessage{ChatID: telego.ChatID{ID: 500000 + int64(i)}, Text: text},
				asynq.Retention(time.Hour))
			if err != nil {
				return err
			}
			otherMu.Lock()
			otherAt[text] = time.Now()
			otherMu.Unlock()
			_, err = cfg.Client.EnqueueContext(ctx, t)
			return err
		})
	}()

	err := pace(ctx, cfg.Edits, cfg.Over, func(k int) error {
		for i, s := range streams {
			text := Text(cfg.Chats[i], k)
			c := &tasks.Call{Method: "editMessageText", Params: json.RawMessage(fmt.Sprintf(`{"message_task_id":%q,"text":%q}`, s.send, text))}
			id := "edit-" + newID()
			if err := enqueue(c, id); err != nil {
				return err
			}
			s.edits = append(s.edits, id)
			s.lastAt, s.lastTxt = time.Now(), text
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := <-otherErr; err != nil {
		return nil, err
	}

	// Wait for every task to end, then read what each came to.
	deadline := time.Now().Add(cfg.Within)
	res := &Result{}
	for i, s := range streams {
		st := Stream{Chat: cfg.Chats[i], Offered: len(s.edits), LastQueued: s.lastAt, LastText: s.lastTxt}
		sendInfo, err := waitFinal(ctx, cfg.Inspector, queue, s.send, deadline)
		if err != nil {
			return nil, err
		}
		if sendInfo.State != asynq.TaskStateCompleted {
			return nil, fmt.Errorf("chat %d: Thinking… %s: %s", st.Chat, sendInfo.State, sendInfo.LastErr)
		}
		for _, id := range s.edits {
			info, err := waitFinal(ctx, cfg.Inspector, queue, id, deadline)
			if err != nil {
				return nil, err
			}
			if info.State != asynq.TaskStateCompleted {
				st.Archived++
				continue
			}
			var r tasks.CallResult
			if err := json.Unmarshal(info.Result, &r); err != nil {
				return nil, fmt.Errorf("edit %s: result %q: %w", id, info.Result, err)
			}
			if r.Superseded {
				st.Superseded++
			}
		}
		var sent tasks.SendResult
		if err := json.Unmarshal(sendInfo.Result, &sent); err != nil {
			return nil, fmt.Errorf("chat %d: the send of Thinking…: result %q: %w", st.Chat, sendInfo.Result, err)
		}
		msg, _ := cfg.Sandbox.Message(cfg.BotID, strconv.FormatInt(st.Chat, 10), sent.MessageID)
		st.FinalText = msg.Text
		res.Streams = append(res.Streams, st)
	}
	otherMu.Lock()
	defer otherMu.Unlock()
	if err := waitOthers(ctx, cfg.Sandbox, skip, otherAt, deadline); err != nil {
		return nil, err
	}
	recs := cfg.Sandbox.Messages()[skip:]
	for i := range res.Streams {
		st := &res.Streams[i]
		chat := strconv.FormatInt(st.Chat, 10)
		var calls []time.Time
		var lastEditAt time.Time
		for _, r := range recs {
			if r.ChatID != chat {
				continue
			}
			calls = append(calls, r.At)
			switch r.Method {
			case "sendMessage":
				st.SendAt = r.At
			case "editMessageText":
				st.EditsAt = append(st.EditsAt, r.At)
				if r.Text == st.LastText {
					lastEditAt = r.At
				}
			}
		}
		st.Sent = len(st.EditsAt)
		for j := 1; j < len(calls); j++ {
			if g := calls[j].Sub(calls[j-1]); j == 1 || g < st.MinGap {
				st.MinGap = g
			}
		}
		if lastEditAt.IsZero() {
			continue // the checks of the caller report it
		}
		free, gap := st.LastQueued, cfg.SlotGap
		if st.Chat < 0 {
			gap = cfg.GroupSlotGap
		}
		for j := len(calls) - 1; j >= 0; j-- {
			if calls[j].Before(lastEditAt) {
				free = later(free, calls[j].Add(gap))
				break
			}
		}
		st.AfterEnqueue, st.AfterFreeSlot = lastEditAt.Sub(st.LastQueued), lastEditAt.Sub(free)
	}
	for _, r := range recs {
		if at, ok := otherAt[r.Text]; ok && r.Method == "sendMessage" {
			res.OtherLatency = append(res.OtherLatency, r.At.Sub(at))
		}
	}
	slices.Sort(res.OtherLatency)
	after := cfg.Sandbox.Stats()
	res.Violations = after.Violations - before.Violations
	res.TooMany = res.Violations + after.EarlyRetry - before.EarlyRetry
	return res, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// pace calls fn(0..n-1) evenly over d.
func pace(ctx context.Context, n int, d time.Duration, fn func(i int) error) error {
	start := time.Now()
	for i := range n {
		at := start.Add(d * time.Duration(i) / time.Duration(n))
		if wait := time.Until(at); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		if err := fn(i); err != nil {
			return err
		}
	}
	return nil
}

// waitFinal waits until task id is completed or archived.
func waitFinal(ctx context.Context, insp *asynq.Inspector, queue, id string, deadline time.Time) (*asynq.TaskInfo, error) {
	for {
		info, err := insp.GetTaskInfo(queue, id)
		if err == nil && (info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived) {
			return info, nil
		}
		if err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return nil, fmt.Errorf("task %s: %w", id, err)
		}
		if time.Now().After(deadline) {
			state := "not found"
			if info != nil {
				state = info.State.String()
			}
			return nil, fmt.Errorf("task %s not final in time: %s", id, state)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitOthers waits until the sandbox recorded every ordinary message.
func waitOthers(ctx context.Context, sb *sandbox.Sandbox, skip int, otherAt map[string]time.Time, deadline time.Time) error {
	for {
		n := 0
		for _, r := range sb.Messages()[skip:] {
			if _, ok := otherAt[r.Text]; ok && r.Method == "sendMessage" {
				n++
			}
		}
		if n >= len(otherAt) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d ordinary messages delivered in time", n, len(otherAt))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// newID returns a random task id.
func newID() string { return strings.ToLower(rand.Text()) }
