package client

import (
	"context"
	"fmt"
	"time"

	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/tasks"
)

// SendReply queues a multi-part reply to chat as one unit: one task (of
// type [tasks.TypeSendMessages]) that sends parts in order, each a full
// message (text, parse mode, entities, reply markup …). A part's Bot must
// be empty or the same for every part; its ChatID may be left zero.
// [tasks.SplitMessage] cuts a long message into such parts, and
// [tasks.Texts] makes plain ones:
//
//	parts, err := tasks.SplitMessage(&tasks.SendMessage{Text: long, ParseMode: tasks.ParseModeHTML}, 0)
//	…
//	r, err := c.SendReply(ctx, telego.ChatID{ID: 42}, parts, client.Critical())
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
//
// To queue many independent messages, use [Client.SendBatch].
func (c *Client) SendReply(ctx context.Context, chat telego.ChatID, parts []*tasks.SendMessage, opts ...Option) (*Receipt, error) {
	p, err := c.prepareReply(ctx, time.Now(), chat, parts, opts)
	if err != nil {
		return nil, err
	}
	return c.enqueue(ctx, p)
}

// prepareReply checks a reply and opts and builds its task, as prepare
// does.
func (c *Client) prepareReply(ctx context.Context, now time.Time, chat telego.ChatID, parts []*tasks.SendMessage, opts []Option) (*prepared, error) {
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
	s := c.newSettings(callMessage)
	if err := s.apply(now, opts); err != nil {
		return nil, err
	}
	id := s.idOf()
	newTask := tasks.NewSendMessagesTask
	if s.ordered {
		newTask = tasks.NewOrderedSendMessagesTask
	}
	task, err := newTask(r, c.taskOptions(&s, id)...)
	if err != nil {
		return nil, err
	}
	if err := c.checkBot(ctx, r.BotName()); err != nil {
		return nil, err
	}
	msg := &tasks.SendMessage{Bot: r.Bot, ChatID: chat}
	return &prepared{msg: msg, task: c.withHeaders(task, &s, id, len(r.Parts)), id: id, s: s, bot: msg.BotName(), chat: chat.String()}, nil
}
