package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/internal/ctxwait"
	"github.com/telequeue/telequeue/internal/ordering"
	"github.com/telequeue/telequeue/tasks"
)

// Ordered delivers the message in its chat's order: after every ordered
// message queued before it for the same bot and chat, and before every
// later one, one at a time, like an SQS FIFO message group. "Before" means
// that its [Client.SendMessage] call returned before the other started, in
// whichever process. Transient failures and 429s hold the chat's later
// ordered messages back until the message is sent; a message that fails for
// good is archived and the next one goes. Unordered messages to the same
// chat are not held back. An ordered message cannot be scheduled with
// [SendAt] or [SendIn].
//
// Ordered messages take turns through a per-chat order in Redis (the README
// describes the design); a chat's next message starts as soon as the one
// before it is sent. A message whose task vanishes (deleted from the
// dashboard) holds its chat back for at most a few minutes. While a message
// waits for its turn, [Client.Status] reports it scheduled (parked when it
// was queued; NextProcessAt is only a fallback, it is woken when its turn
// comes) or retry with a last error starting "ordered: waiting for its
// turn".
func Ordered() Option {
	return option{"Ordered", func(s *settings) error {
		if err := messagesOnly(s); err != nil {
			return err
		}
		if s.method != nil && !s.method.ChatAddressed() {
			return fmt.Errorf("%s names no chat: it has no per-chat order", s.method.Name)
		}
		s.ordered = true
		return nil
	}}
}

// sequencer returns the orders of ordered messages, over the client's Redis.
func (c *Client) sequencer() *ordering.Sequencer {
	return ordering.New(c.rdb, c.inspector, ordering.Config{Logger: c.log})
}

// enqueueTask stores p's task: at once, or, for an ordered message, after
// registering it in its chat's order.
func (c *Client) enqueueTask(ctx context.Context, p *prepared) error {
	if !p.s.ordered {
		_, err := c.asynq.EnqueueContext(ctx, p.task)
		return err
	}
	return c.enqueueOrdered(ctx, p)
}

// enqueueOrdered registers p in its chat's order, then enqueues it: due if it
// is the head, parked (scheduled for the park delay) otherwise. A parked
// message whose predecessor finished meanwhile is woken here, as nobody else
// would. A failed enqueue withdraws the registration, unless the task turns
// out to exist.
func (c *Client) enqueueOrdered(ctx context.Context, p *prepared) error {
	seq := c.sequencer()
	order := ordering.OrderOf(tasks.OrderKeyOf(p.bot, p.chat))
	pos, err := seq.Register(ctx, order, p.id, p.s.queue)
	if err != nil {
		return err
	}
	var opts []asynq.Option
	if pos > 0 {
		opts = append(opts, asynq.ProcessIn(seq.ParkDelay(pos)))
	}
	if _, err := c.asynq.EnqueueContext(ctx, p.task, opts...); err != nil {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, ierr := ctxwait.Do(wctx, func() (*asynq.TaskInfo, error) { return c.inspector.GetTaskInfo(p.s.queue, p.id) })
		switch {
		case ierr == nil:
			// Stored after all (the reply was lost): carry on.
		case errors.Is(ierr, asynq.ErrTaskNotFound), errors.Is(ierr, asynq.ErrQueueNotFound):
			if werr := seq.Withdraw(wctx, order, p.id); werr != nil {
				c.log.WarnContext(ctx, "could not withdraw an ordered message that was not queued; the next one skips it after a grace period",
					"task_id", p.id, "error", werr)
			}
			return err
		default:
			return err
		}
	}
	if pos > 0 {
		if err := seq.WakeIfHead(ctx, order, p.id, p.s.queue); err != nil {
			c.log.WarnContext(ctx, "could not check the turn of an ordered message; it looks itself when its park delay ends",
				"task_id", p.id, "error", err)
		}
	}
	return nil
}
