package client

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/tasks"
)

// SendMessages queues a multi-part reply to chat as one unit: one task that
// sends parts in order, each a full message (text, parse mode, entities,
// reply markup …). A part's Bot must be empty or the same for every part;
// its ChatID may be left zero. [tasks.SplitMessage] cuts a long message into
// such parts, and [tasks.Texts] makes plain ones:
//
//	parts, err := tasks.SplitMessage(&tasks.SendMessage{Text: long, ParseMode: tasks.ParseModeHTML}, 0)
//	…
//	r, err := c.SendMessages(ctx, telego.ChatID{ID: 42}, parts, client.Critical())
//
// Parts arrive in order. A retry (5xx, timeout, 429, a worker crash) resumes
// after the last part Telegram confirmed and never sends an earlier part
// again; a part whose reply from Telegram was lost is sent again, like any
// message. A part that fails for good (400, 403) archives the task, and the
// parts before it stay delivered. Once sent, [Client.Status] reports every
// part's message_id in MessageIDs.
//
// Options apply as for [Client.SendMessage]; with [Ordered] the whole reply
// takes one turn in the chat's order. The reply has 1 to [tasks.MaxParts]
// parts; errors are those of SendMessage, a part's [*tasks.ValidationError]
// naming it ("parts[2].text").
func (c *Client) SendMessages(ctx context.Context, chat telego.ChatID, parts []*tasks.SendMessage, opts ...Option) (*Receipt, error) {
	p, err := c.prepareParts(time.Now(), chat, parts, opts)
	if err != nil {
		return nil, err
	}
	return c.enqueue(ctx, p)
}

// prepareParts checks a reply and opts and builds its task, without I/O.
func (c *Client) prepareParts(now time.Time, chat telego.ChatID, parts []*tasks.SendMessage, opts []Option) (*prepared, error) {
	r := &tasks.SendMessages{ChatID: chat, Parts: make([]tasks.SendMessage, len(parts))}
	for i, m := range parts {
		if m == nil {
			return nil, fmt.Errorf("client: part %d is nil", i)
		}
		if r.Bot == "" {
			r.Bot = m.Bot
		}
		r.Parts[i] = *m
	}
	s := settings{queue: tasks.QueueDefault, maxRetry: c.cfg.MaxRetry}
	if err := s.apply(now, opts); err != nil {
		return nil, err
	}
	id := newID()
	newTask := tasks.NewSendMessagesTask
	if s.ordered {
		if err := s.checkOrdered(); err != nil {
			return nil, err
		}
		newTask = tasks.NewOrderedSendMessagesTask
	}
	task, err := newTask(r, c.taskOptions(&s, id)...)
	if err != nil {
		return nil, err
	}
	if err := tasks.CheckBot(r.BotName(), c.cfg.Bots); err != nil {
		return nil, err
	}
	return &prepared{msg: &tasks.SendMessage{Bot: r.Bot, ChatID: chat}, task: task, id: id, s: s}, nil
}

// messageIDs reads the message_ids of a multi-part reply's result; nil for
// other results.
func messageIDs(result []byte) []int64 {
	var r struct {
		MessageIDs []int64 `json:"message_ids"`
	}
	if json.Unmarshal(result, &r) != nil {
		return nil
	}
	return r.MessageIDs
}
