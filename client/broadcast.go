package client

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/internal/broadcast"
	"github.com/telequeue/telequeue/internal/ctxwait"
	"github.com/telequeue/telequeue/internal/events"
	"github.com/telequeue/telequeue/tasks"
)

// Broadcast defaults.
const (
	// DefaultBroadcastParallelism is the default of [BroadcastParallelism].
	DefaultBroadcastParallelism = 8
	// DefaultBroadcastTTL is the default of [BroadcastTTL].
	DefaultBroadcastTTL = 7 * 24 * time.Hour
	// Bounds of the automatic chunk size (see [BroadcastChunkSize]).
	minAutoChunk = 50
	maxAutoChunk = 1000
)

// BroadcastState is the state of a broadcast in [BroadcastProgress.State].
type BroadcastState string

// The broadcast states.
const (
	BroadcastCreating  BroadcastState = broadcast.StateCreating  // recipients are being stored
	BroadcastScheduled BroadcastState = "scheduled"              // waiting for its SendAt time
	BroadcastRunning   BroadcastState = broadcast.StateRunning   // being sent
	BroadcastCancelled BroadcastState = broadcast.StateCancelled // cancelled (Pending shrinks to 0 as chunks stop)
	BroadcastDone      BroadcastState = "done"                   // every recipient settled
)

// BroadcastReceipt identifies an accepted broadcast.
type BroadcastReceipt struct {
	// ID names the broadcast: pass it to [Client.BroadcastStatus].
	ID string `json:"id"`
	// Total is the number of distinct recipients.
	Total int `json:"total"`
	// Duplicates counts chat ids given more than once; each chat gets the
	// message once.
	Duplicates int `json:"duplicates,omitempty"`
	// Chunks and Parallelism describe how it is sent.
	Chunks      int `json:"chunks"`
	Parallelism int `json:"parallelism"`
	// Queue is always "bulk".
	Queue string `json:"queue"`
	// ScheduledAt is the start time of a broadcast scheduled with [SendAt]
	// or [SendIn].
	ScheduledAt time.Time `json:"scheduled_at,omitzero"`
}

// Broadcast queues m for every chat in chatIDs (at most
// [tasks.MaxBroadcastRecipients] distinct ids; repeated ids get the message
// once). m is a message without a chat: m.ChatID must be empty.
//
// It returns once the broadcast is stored: the message once, the
// recipients in chunks of packed ids (about 8 bytes each), and one task per
// parallel lane on the bulk queue, each of which enqueues its lane's next
// chunk when done. Workers send within the rate limits and record every
// recipient's outcome; read them with [Client.BroadcastStatus] and
// [Client.BroadcastBlocked], stop the rest with [Client.CancelBroadcast].
//
// Options: [IdempotencyKey], [SendAt] or [SendIn] (the start, before the
// broadcast expires), [BroadcastParallelism], [BroadcastChunkSize] and
// [BroadcastTTL]; the options of single messages are refused.
//
// Errors: a [*tasks.ValidationError] for the message, its bot or a chat id
// (field "chat_ids"); an [*OptionError]; a [*DuplicateError] for a repeated
// [IdempotencyKey]; [ErrUnavailable].
func (c *Client) Broadcast(ctx context.Context, m *tasks.SendMessage, chatIDs []int64, opts ...Option) (*BroadcastReceipt, error) {
	if m == nil {
		return nil, errors.New("client: message is nil")
	}
	s, err := callBroadcastSettings(nil, opts)
	if err != nil {
		return nil, err
	}
	if err := tasks.ValidateBroadcastMessage(m); err != nil {
		return nil, err
	}
	p := *m
	p.Version = tasks.SendMessageVersion
	msg, err := json.Marshal(&p)
	if err != nil {
		return nil, fmt.Errorf("client: encode message: %w", err)
	}
	return c.broadcast(ctx, s, m.BotName(), chatIDs, func(string) ([]byte, func(), error) { return msg, func() {}, nil })
}

// broadcast stores a broadcast of bot to chatIDs, whose body (a message, or
// a call) body returns for the broadcast's id, with a function that undoes
// what it stored (its uploads) if the broadcast is not created, and
// enqueues its first chunk tasks. The body is validated already.
func (c *Client) broadcast(ctx context.Context, s *settings, bot string, chatIDs []int64, body func(id string) ([]byte, func(), error)) (*BroadcastReceipt, error) {
	if err := c.checkBot(ctx, bot); err != nil {
		return nil, err
	}
	ids, dups, err := distinctChats(chatIDs)
	if err != nil {
		return nil, err
	}
	size := s.chunkSize
	if size == 0 {
		size = min(max((len(ids)+s.lanes-1)/s.lanes, minAutoChunk), maxAutoChunk)
	}
	id := newID()
	if s.key != "" {
		id = broadcastIDForKey(s.key)
	}
	msg, undo, err := body(id)
	if err != nil {
		return nil, err
	}
	spec := &broadcast.Spec{
		ID: id, Bot: bot, Message: msg, Recipients: ids, Duplicates: dups,
		ChunkSize: size, Lanes: s.lanes, StartAt: s.processAt, TTL: s.ttl,
	}
	store := broadcast.NewStore(c.rdb)
	switch err := store.Create(ctx, spec); {
	case errors.Is(err, broadcast.ErrExists) && s.key != "":
		// The id is the key's, so the files' holds are the existing
		// broadcast's: releasing them would take its files from under it.
		// A file only this retry brought stays until its retention ends.
		return nil, &DuplicateError{Key: s.key, ID: id, Queue: tasks.QueueBulk}
	case err != nil:
		undo()
		return nil, fmt.Errorf("client: broadcast: %w", unavailable(err))
	}
	chunks := broadcast.Chunks(len(ids), size)
	lanes := min(s.lanes, chunks)
	for chunk := range lanes {
		var topts []asynq.Option
		if !s.processAt.IsZero() {
			topts = append(topts, asynq.ProcessAt(s.processAt))
		}
		task, err := tasks.NewBroadcastChunkTask(&tasks.BroadcastChunk{Broadcast: id, Chunk: chunk}, topts...)
		if err == nil {
			_, err = c.asynq.EnqueueContext(ctx, task)
		}
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			// Without its first tasks the broadcast would never start:
			// remove it so that the caller can try again.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if derr := store.Delete(cctx, id, chunks); derr != nil {
				c.log.WarnContext(ctx, "could not remove a broadcast whose tasks failed to enqueue", "broadcast", id, "error", derr)
			}
			cancel()
			undo()
			return nil, fmt.Errorf("client: broadcast: enqueue: %w", unavailable(err))
		}
	}
	c.log.DebugContext(ctx, "broadcast queued", "broadcast", id, "recipients", len(ids), "chunks", chunks, "parallelism", lanes)
	return &BroadcastReceipt{
		ID: id, Total: len(ids), Duplicates: dups, Chunks: chunks, Parallelism: lanes,
		Queue: tasks.QueueBulk, ScheduledAt: s.processAt,
	}, nil
}

// distinctChats validates the ids and drops repeats, keeping the first
// occurrence's position. A sorted copy finds repeats without a map in the
// common case of none.
func distinctChats(chatIDs []int64) ([]int64, int, error) {
	if len(chatIDs) == 0 {
		return nil, 0, &tasks.ValidationError{Field: "chat_ids", Err: tasks.ErrMissingChat, Detail: "no recipients"}
	}
	for _, id := range chatIDs {
		if err := tasks.ValidateBroadcastChat(id); err != nil {
			return nil, 0, err
		}
	}
	sorted := slices.Clone(chatIDs)
	slices.Sort(sorted)
	var repeated map[int64]bool // value: seen in the original order
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			if repeated == nil {
				repeated = make(map[int64]bool)
			}
			repeated[sorted[i]] = false
		}
	}
	ids := chatIDs
	if repeated != nil {
		ids = make([]int64, 0, len(chatIDs))
		for _, id := range chatIDs {
			seen, rep := repeated[id]
			if rep && seen {
				continue
			}
			if rep {
				repeated[id] = true
			}
			ids = append(ids, id)
		}
	}
	if len(ids) > tasks.MaxBroadcastRecipients {
		return nil, 0, &tasks.ValidationError{Field: "chat_ids", Err: tasks.ErrInvalidField,
			Detail: fmt.Sprintf("%d distinct chats, the limit is %d: split the audience into several broadcasts", len(ids), tasks.MaxBroadcastRecipients)}
	}
	return ids, len(chatIDs) - len(ids), nil
}

// broadcastIDForKey derives a broadcast id from an idempotency key: 26
// lowercase base32 characters of its SHA-256, like the random ids.
func broadcastIDForKey(key string) string {
	sum := sha256.Sum256([]byte("telequeue broadcast\x00" + key))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:])[:26])
}

// BroadcastProgress is how far a broadcast got.
type BroadcastProgress struct {
	ID  string `json:"id"`
	Bot string `json:"bot"`
	// State is creating, scheduled, running, cancelled or done.
	State BroadcastState `json:"state"`
	// Total is the number of distinct recipients; each is eventually
	// settled as exactly one of Sent, Failed, Blocked or Cancelled, and
	// Pending are those not settled yet.
	Total     int `json:"total"`
	Sent      int `json:"sent"`
	Failed    int `json:"failed"`
	Blocked   int `json:"blocked"`
	Cancelled int `json:"cancelled"`
	Pending   int `json:"pending"`
	// Duplicates are the ids given more than once (not counted in Total).
	Duplicates int `json:"duplicates,omitempty"`
	// Chunks and Parallelism describe how it is sent.
	Chunks      int       `json:"chunks"`
	Parallelism int       `json:"parallelism"`
	CreatedAt   time.Time `json:"created_at"`
	StartAt     time.Time `json:"start_at,omitzero"`
	// FinishedAt is set once Pending is 0.
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// LastError is the last error that stopped a chunk (e.g. a rejected
	// bot token); the chunk is retried or, if archived, resumes when run
	// again from the dashboard.
	LastError string `json:"last_error,omitempty"`
}

// Done reports whether every recipient is settled.
func (p *BroadcastProgress) Done() bool { return !p.FinishedAt.IsZero() }

func progressOf(i *broadcast.Info, now time.Time) *BroadcastProgress {
	p := &BroadcastProgress{
		ID: i.ID, Bot: i.Bot, State: BroadcastState(i.State), Total: i.Total, Sent: i.Sent, Failed: i.Failed,
		Blocked: i.Blocked, Cancelled: i.Cancelled, Pending: i.Pending(), Duplicates: i.Duplicates,
		Chunks: i.Chunks, Parallelism: min(i.Lanes, i.Chunks), CreatedAt: i.CreatedAt, StartAt: i.StartAt,
		FinishedAt: i.FinishedAt, LastError: i.LastError,
	}
	switch {
	case p.State == BroadcastRunning && p.Done():
		p.State = BroadcastDone
	case p.State == BroadcastRunning && i.Settled == 0 && p.StartAt.After(now):
		p.State = BroadcastScheduled
	}
	return p
}

// BroadcastStatus reports a broadcast's progress. It returns an error
// wrapping [ErrNotFound] for an unknown (or expired) id.
func (c *Client) BroadcastStatus(ctx context.Context, id string) (*BroadcastProgress, error) {
	if !tasks.ValidBroadcastID(id) {
		return nil, fmt.Errorf("client: broadcast %q: %w", id, ErrNotFound)
	}
	info, err := broadcast.NewStore(c.rdb).Info(ctx, id)
	switch {
	case errors.Is(err, broadcast.ErrNotFound):
		return nil, fmt.Errorf("client: broadcast %s: %w", id, ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("client: broadcast %s: %w", id, unavailable(err))
	}
	return progressOf(info, time.Now()), nil
}

// CancelBroadcast stops a broadcast: recipients not sent yet are settled as
// cancelled. Chunks no worker has started are settled at once; a running
// chunk stops at its next recipient (so at most one message per running
// chunk — Parallelism — can still go out after CancelBroadcast returns).
// Cancelling a finished or cancelled broadcast changes nothing. It returns
// the progress after the cancellation, and [ErrNotFound] for an unknown id.
func (c *Client) CancelBroadcast(ctx context.Context, id string) (*BroadcastProgress, error) {
	if !tasks.ValidBroadcastID(id) {
		return nil, fmt.Errorf("client: broadcast %q: %w", id, ErrNotFound)
	}
	res, err := broadcast.NewStore(c.rdb).Cancel(ctx, id)
	switch {
	case errors.Is(err, broadcast.ErrNotFound):
		return nil, fmt.Errorf("client: broadcast %s: %w", id, ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("client: cancel broadcast %s: %w", id, unavailable(err))
	}
	// A running chunk whose task waits in the retry set (a rate-limit
	// pause, a retry pass) settles when it runs: run it now.
	for _, chunk := range res.Running {
		tid := tasks.BroadcastChunkTaskID(id, chunk)
		_, err := ctxwait.Do(ctx, func() (struct{}, error) { return struct{}{}, c.inspector.RunTask(tasks.QueueBulk, tid) })
		if err != nil && !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
			c.log.DebugContext(ctx, "cancel: chunk task not moved to pending", "task_id", tid, "error", err)
		}
	}
	c.log.DebugContext(ctx, "broadcast cancelled", "broadcast", id, "chunks_settled", len(res.Settled), "chunks_running", len(res.Running))
	p, err := c.BroadcastStatus(ctx, id)
	if err == nil && res.Cancelled {
		c.cancelledEvent(ctx, p)
	}
	return p, err
}

// cancelledEvent appends the outcome event of a broadcast that was just
// cancelled, once per broadcast. Its recipients not sent are counted, not
// streamed, as its sent ones are: BroadcastStatus has them. The stream is
// not trimmed here (the client does not know EVENTS_MAXLEN): the workers'
// next append trims it. A failure is logged: the cancellation stands.
func (c *Client) cancelledEvent(ctx context.Context, p *BroadcastProgress) {
	e := &tasks.Event{
		Outcome: tasks.OutcomeCancelled, TaskID: p.ID, BroadcastID: p.ID, Type: tasks.TypeBroadcastChunk, Bot: p.Bot,
		Description: "broadcast cancelled; BroadcastStatus counts the recipients not sent", Time: time.Now(),
	}
	if err := events.NewWriter(c.rdb, -1).Append(ctx, e); err != nil {
		c.log.WarnContext(ctx, "broadcast cancelled, but its outcome event could not be written", "broadcast", p.ID, "error", err)
	}
}

// BroadcastBlocked returns the chats that answered 403 (blocked the bot,
// deactivated, kicked it) in the order they answered: limit of them from
// offset, or all with limit <= 0. Mark them inactive in your application.
func (c *Client) BroadcastBlocked(ctx context.Context, id string, offset, limit int) ([]int64, error) {
	if !tasks.ValidBroadcastID(id) {
		return nil, fmt.Errorf("client: broadcast %q: %w", id, ErrNotFound)
	}
	ids, err := broadcast.NewStore(c.rdb).Blocked(ctx, id, offset, limit)
	switch {
	case errors.Is(err, broadcast.ErrNotFound):
		return nil, fmt.Errorf("client: broadcast %s: %w", id, ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("client: broadcast %s: %w", id, unavailable(err))
	}
	return ids, nil
}
