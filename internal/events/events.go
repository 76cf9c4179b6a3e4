// Package events writes and reads telequeue's outcome stream: a Redis Stream
// (keys.Events) with one entry per final outcome of a task ([tasks.Event]).
//
// Workers append entries in a round trip they make anyway where they can
// ([Writer.Queue] adds the XADD to a pipeline), or on their own with
// [Writer.Append]. The stream is capped with an approximate MAXLEN, so its
// memory stays bounded whatever the traffic.
//
// Readers use consumer groups ([Reader.Next]): each entry goes to one
// consumer of a group and stays pending until that consumer acknowledges it;
// entries a consumer left pending (it crashed) are claimed by another after
// ClaimIdle, so none is lost across restarts. A reader without a group
// ([Reader.Tail]) reads from an id on, as server-sent events do.
//
// Each entry is flat string fields, so any language can read it:
//
//	outcome task_id idempotency_key method type bot chat chat_id
//	migrated_from message_ids error_code description broadcast_id time
//
// message_ids is comma-separated; time is Unix milliseconds.
package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/tasks"
)

// Stream is the key of the outcome stream.
const Stream = keys.Events

// DefaultMaxLen is the default cap of the stream, in entries.
const DefaultMaxLen = 100_000

// Writer appends events to the stream. The zero value is not usable; build
// it with [NewWriter]. A nil *Writer writes nothing, so callers need no
// checks when the stream is off.
type Writer struct {
	rdb    redis.UniversalClient
	maxLen int64
}

// NewWriter returns a writer on rdb that caps the stream at about maxLen
// entries (0: [DefaultMaxLen]; negative: no cap).
func NewWriter(rdb redis.UniversalClient, maxLen int64) *Writer {
	if maxLen == 0 {
		maxLen = DefaultMaxLen
	}
	return &Writer{rdb: rdb, maxLen: maxLen}
}

// Queue adds the XADD of e to the pipeline p.
func (w *Writer) Queue(ctx context.Context, p redis.Pipeliner, e *tasks.Event) {
	if w == nil {
		return
	}
	p.XAdd(ctx, w.args(e))
}

// Append writes e on its own.
func (w *Writer) Append(ctx context.Context, e *tasks.Event) error {
	if w == nil {
		return nil
	}
	if err := w.rdb.XAdd(ctx, w.args(e)).Err(); err != nil {
		return fmt.Errorf("events: append: %w", err)
	}
	return nil
}

func (w *Writer) args(e *tasks.Event) *redis.XAddArgs {
	a := &redis.XAddArgs{Stream: Stream, Values: Encode(e)}
	if w.maxLen > 0 {
		a.MaxLen, a.Approx = w.maxLen, true
	}
	return a
}

// Encode returns e's stream fields (without its ID).
func Encode(e *tasks.Event) []any {
	at := e.Time
	if at.IsZero() {
		at = time.Now()
	}
	v := make([]any, 0, 26) // every field
	v = append(v,
		"outcome", string(e.Outcome),
		"task_id", e.TaskID,
		"method", e.Method,
		"type", e.Type,
		"bot", e.Bot,
		"chat", e.Chat,
		"time", strconv.FormatInt(at.UnixMilli(), 10),
	)
	if e.IdempotencyKey != "" {
		v = append(v, "idempotency_key", e.IdempotencyKey)
	}
	if e.ChatID != 0 {
		v = append(v, "chat_id", strconv.FormatInt(e.ChatID, 10))
	}
	if e.MigratedFrom != 0 {
		v = append(v, "migrated_from", strconv.FormatInt(e.MigratedFrom, 10))
	}
	switch len(e.MessageIDs) {
	case 0:
	case 1:
		v = append(v, "message_ids", strconv.FormatInt(e.MessageIDs[0], 10))
	default:
		ids := make([]string, len(e.MessageIDs))
		for i, id := range e.MessageIDs {
			ids[i] = strconv.FormatInt(id, 10)
		}
		v = append(v, "message_ids", strings.Join(ids, ","))
	}
	if e.ErrorCode != 0 {
		v = append(v, "error_code", strconv.Itoa(e.ErrorCode))
	}
	if e.Description != "" {
		v = append(v, "description", e.Description)
	}
	if e.BroadcastID != "" {
		v = append(v, "broadcast_id", e.BroadcastID)
	}
	return v
}

// Decode builds the event of a stream entry.
func Decode(m redis.XMessage) (*tasks.Event, error) {
	str := func(k string) string {
		s, _ := m.Values[k].(string)
		return s
	}
	num := func(k string) (int64, error) {
		s := str(k)
		if s == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("events: entry %s: field %s: %w", m.ID, k, err)
		}
		return n, nil
	}
	e := &tasks.Event{
		ID: m.ID, Outcome: tasks.Outcome(str("outcome")), TaskID: str("task_id"),
		IdempotencyKey: str("idempotency_key"), Method: str("method"), Type: str("type"),
		Bot: str("bot"), Chat: str("chat"), Description: str("description"),
		BroadcastID: str("broadcast_id"),
	}
	var errs []error
	var err error
	e.ChatID, err = num("chat_id")
	errs = append(errs, err)
	e.MigratedFrom, err = num("migrated_from")
	errs = append(errs, err)
	code, err := num("error_code")
	errs = append(errs, err)
	e.ErrorCode = int(code)
	ms, err := num("time")
	errs = append(errs, err)
	e.Time = time.UnixMilli(ms).UTC()
	if s := str("message_ids"); s != "" {
		for _, f := range strings.Split(s, ",") {
			id, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("events: entry %s: message_ids: %w", m.ID, err))
				break
			}
			e.MessageIDs = append(e.MessageIDs, id)
		}
	}
	if e.Outcome == "" {
		errs = append(errs, fmt.Errorf("events: entry %s has no outcome", m.ID))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return e, nil
}
