package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/bench/internal/plainsend"
	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/tasks"
)

// textLen is the length of every benchmark message text.
const textLen = 150

const filler = "Your order has shipped and is on its way to you. Track the parcel in the app at any time; " +
	"reply STOP to opt out of these notifications. Thank you for shopping with us, see you soon!"

// text150 is a 150-character ASCII text starting with prefix.
func text150(prefix string) string {
	s := prefix + " " + filler
	for len(s) < textLen {
		s += " " + filler
	}
	return s[:textLen]
}

// stampText is a 150-character text that carries t, the enqueue instant.
func stampText(t time.Time) string { return text150("t" + strconv.FormatInt(t.UnixNano(), 10)) }

// parseStamp reads the instant written by stampText.
func parseStamp(text string) (time.Time, bool) {
	f, _, _ := strings.Cut(text, " ")
	ns, err := strconv.ParseInt(strings.TrimPrefix(f, "t"), 10, 64)
	if err != nil || !strings.HasPrefix(f, "t") {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// newClient returns a telequeue client with the default configuration.
func (b *bench) newClient() (*client.Client, error) {
	return client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: b.redis.Addr()}, Bots: []string{tasks.DefaultBot}})
}

// messages builds n private-chat messages to distinct chats from chat0.
func messages(n int, chat0 int64, prefix string) []*tasks.SendMessage {
	ms := make([]*tasks.SendMessage, n)
	for i := range ms {
		ms[i] = &tasks.SendMessage{ChatID: telego.ChatID{ID: chat0 + int64(i)}, Text: text150(prefix + strconv.Itoa(i))}
	}
	return ms
}

// enqueueMany queues msgs with the client in batches and fails on the first
// error.
func enqueueMany(ctx context.Context, c *client.Client, msgs []*tasks.SendMessage) error {
	const batch = 10000
	for i := 0; i < len(msgs); i += batch {
		_, errs := c.SendBatch(ctx, msgs[i:min(i+batch, len(msgs))])
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
	}
	return nil
}

// enqueuePlain queues n baseline tasks whose payload is the sendMessage JSON
// body, with plain asynq options (no task id, no retention), from 32
// goroutines.
func (b *bench) enqueuePlain(ctx context.Context, n int) error {
	c := asynq.NewClient(asynq.RedisClientOpt{Addr: b.redis.Addr()})
	defer c.Close()
	var next atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				body, _ := json.Marshal(map[string]any{"chat_id": 1_000_000 + i, "text": text150("m" + strconv.Itoa(i))})
				if _, err := c.EnqueueContext(ctx, asynq.NewTask(plainsend.TaskType, body)); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// dist is a sorted sample of durations.
type dist []time.Duration

func newDist(d []time.Duration) dist {
	s := slices.Clone(d)
	slices.Sort(s)
	return s
}

// q returns the p-quantile (nearest rank).
func (d dist) q(p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(d)))) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func (d dist) mean() time.Duration {
	if len(d) == 0 {
		return 0
	}
	var s time.Duration
	for _, v := range d {
		s += v
	}
	return s / time.Duration(len(d))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
