package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/tasks"
)

// Defaults of [GroupConfig].
const (
	DefaultCount     = 100
	DefaultBlock     = 5 * time.Second
	DefaultClaimIdle = time.Minute
)

// GroupConfig configures a [GroupReader].
type GroupConfig struct {
	// Group names the consumer group: each event goes to one consumer of
	// it. Several groups each see every event. Required.
	Group string
	// Consumer names this reader within the group: a reader restarted with
	// the same name first gets the events it had not acknowledged. Required.
	Consumer string
	// Start is where a new group starts: "$" (the default) for events
	// appended from now on, "0" for every event the stream still holds.
	// An existing group keeps its place.
	Start string
	// Count is how many events one round trip fetches (default 100).
	Count int
	// Block is how long one read waits for new events (default 5s).
	Block time.Duration
	// ClaimIdle is how long an event may stay unacknowledged by another
	// consumer of the group before this one takes it over (default 1m):
	// the events of a consumer that died are delivered again, to another.
	ClaimIdle time.Duration
}

func (c *GroupConfig) setDefaults() error {
	if c.Group == "" || c.Consumer == "" {
		return errors.New("events: a group reader needs a group and a consumer name")
	}
	if c.Start == "" {
		c.Start = "$"
	}
	if c.Count <= 0 {
		c.Count = DefaultCount
	}
	if c.Block <= 0 {
		c.Block = DefaultBlock
	}
	if c.ClaimIdle <= 0 {
		c.ClaimIdle = DefaultClaimIdle
	}
	return nil
}

// GroupReader reads the stream as one consumer of a consumer group. It is
// not safe for concurrent use: make one per goroutine, with its own
// consumer name.
type GroupReader struct {
	rdb         redis.UniversalClient
	cfg         GroupConfig
	grouped     bool // the group is known to exist
	pendingDone bool // this consumer's own pending events were re-read
	claimFrom   string
	buf         []redis.XMessage
}

// NewGroupReader returns a reader on rdb; it creates the group on its first
// read.
func NewGroupReader(rdb redis.UniversalClient, cfg GroupConfig) (*GroupReader, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &GroupReader{rdb: rdb, cfg: cfg, claimFrom: "0-0"}, nil
}

// Next returns the next event, waiting for one until ctx ends. The event
// stays pending until [GroupReader.Ack]. An entry that cannot be decoded is
// acknowledged (so that it does not come back) and returned as an error
// naming it.
func (g *GroupReader) Next(ctx context.Context) (*tasks.Event, error) {
	for len(g.buf) == 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := g.fill(ctx); err != nil {
			return nil, err
		}
	}
	m := g.buf[0]
	g.buf = g.buf[1:]
	e, err := Decode(m)
	if err != nil {
		if ackErr := g.Ack(ctx, m.ID); ackErr != nil {
			return nil, errors.Join(err, ackErr)
		}
		return nil, err
	}
	return e, nil
}

// Ack acknowledges events: they are not delivered again.
func (g *GroupReader) Ack(ctx context.Context, ids ...string) error {
	if err := g.rdb.XAck(ctx, Stream, g.cfg.Group, ids...).Err(); err != nil {
		return fmt.Errorf("events: ack: %w", err)
	}
	return nil
}

// fill fetches the next batch: first this consumer's own unacknowledged
// events (after a restart), then events idle too long at other consumers,
// then new ones.
func (g *GroupReader) fill(ctx context.Context) error {
	if !g.grouped {
		err := g.rdb.XGroupCreateMkStream(ctx, Stream, g.cfg.Group, g.cfg.Start).Err()
		if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			return fmt.Errorf("events: create group %s: %w", g.cfg.Group, err)
		}
		g.grouped = true
	}
	if !g.pendingDone {
		msgs, err := g.read(ctx, "0", -1)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			g.pendingDone = true
		}
		g.buf = msgs
		return nil
	}
	msgs, next, err := g.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: Stream, Group: g.cfg.Group, Consumer: g.cfg.Consumer,
		MinIdle: g.cfg.ClaimIdle, Start: g.claimFrom, Count: int64(g.cfg.Count),
	}).Result()
	if err != nil {
		return g.groupErr("claim", err)
	}
	g.claimFrom = next
	if len(msgs) > 0 {
		g.buf = msgs
		return nil
	}
	g.buf, err = g.read(ctx, ">", g.cfg.Block)
	return err
}

// read runs XREADGROUP from id: "0" for this consumer's pending events, ">"
// for new ones (waiting up to block; -1: not at all).
func (g *GroupReader) read(ctx context.Context, id string, block time.Duration) ([]redis.XMessage, error) {
	streams, err := g.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: g.cfg.Group, Consumer: g.cfg.Consumer, Streams: []string{Stream, id},
		Count: int64(g.cfg.Count), Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, g.groupErr("read", err)
	}
	if len(streams) == 0 {
		return nil, nil
	}
	return streams[0].Messages, nil
}

// groupErr wraps err; a group deleted meanwhile (NOGROUP) is created again
// on the next read.
func (g *GroupReader) groupErr(op string, err error) error {
	if strings.HasPrefix(err.Error(), "NOGROUP") {
		g.grouped = false
	}
	return fmt.Errorf("events: %s group %s: %w", op, g.cfg.Group, err)
}

// Tail returns up to count events appended after the entry id after ("0":
// from the oldest the stream holds; "$": only new ones), waiting up to block
// for the first (0: not at all). It needs no group: it is for readers that
// keep their own place, such as server-sent events resumed with
// Last-Event-ID.
func Tail(ctx context.Context, rdb redis.UniversalClient, after string, count int, block time.Duration) ([]*tasks.Event, error) {
	if count <= 0 {
		count = DefaultCount
	}
	b := time.Duration(-1)
	if block > 0 {
		b = block
	}
	streams, err := rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{Stream, after}, Count: int64(count), Block: b}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("events: read: %w", err)
	}
	var out []*tasks.Event
	for _, s := range streams {
		for _, m := range s.Messages {
			e, err := Decode(m)
			if err != nil {
				return out, err
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// LastID returns the id of the newest entry, "0-0" for an empty stream: the
// place to tail from for "only new events" without the race of "$".
func LastID(ctx context.Context, rdb redis.UniversalClient) (string, error) {
	msgs, err := rdb.XRevRangeN(ctx, Stream, "+", "-", 1).Result()
	if err != nil {
		return "", fmt.Errorf("events: last id: %w", err)
	}
	if len(msgs) == 0 {
		return "0-0", nil
	}
	return msgs[0].ID, nil
}
