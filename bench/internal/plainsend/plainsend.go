// Package plainsend is the handler of the benchmark's baseline: a plain
// asynq handler that POSTs the task payload, a sendMessage JSON body, to a
// Bot API server with fasthttp, as telequeue's Bot API caller does, and
// decodes the reply, without limiter, sent markers or results.
package plainsend

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/valyala/fasthttp"

	"github.com/telequeue/telequeue/server"
)

// TaskType is the type of the baseline's tasks.
const TaskType = "bench:plain"

// NewServer returns the baseline's asynq server: concurrency senders
// polling every taskCheck, the queues and weights of a telequeue worker
// (server.DefaultQueues), moving scheduled and retried tasks every
// delayedCheck. log nil is asynq's default logger.
func NewServer(redis asynq.RedisConnOpt, concurrency int, taskCheck, delayedCheck time.Duration, log asynq.Logger) *asynq.Server {
	return asynq.NewServer(redis, asynq.Config{
		Concurrency:              concurrency,
		Queues:                   server.DefaultQueues(),
		TaskCheckInterval:        taskCheck,
		DelayedTaskCheckInterval: delayedCheck,
		ShutdownTimeout:          5 * time.Second,
		LogLevel:                 asynq.WarnLevel,
		Logger:                   log,
	})
}

// Sender POSTs each task's payload to a sendMessage URL.
type Sender struct {
	url    string
	client *fasthttp.Client
}

var _ asynq.Handler = (*Sender)(nil)

// New returns a Sender that POSTs to url (…/bot<token>/sendMessage).
func New(url string) *Sender {
	return &Sender{url: url, client: &fasthttp.Client{
		MaxConnsPerHost:     1024,
		MaxIdleConnDuration: 90 * time.Second,
		ReadTimeout:         15 * time.Second,
		WriteTimeout:        15 * time.Second,
	}}
}

// reply is the part of a Bot API answer a plain sender would read.
type reply struct {
	OK     bool `json:"ok"`
	Result struct {
		MessageID int64 `json:"message_id"`
	} `json:"result"`
	Description string `json:"description"`
}

// ProcessTask sends t's payload and fails unless the Bot API accepted it.
func (s *Sender) ProcessTask(ctx context.Context, t *asynq.Task) error {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(s.url)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.SetBodyRaw(t.Payload())
	var err error
	if d, ok := ctx.Deadline(); ok {
		err = s.client.DoDeadline(req, resp, d)
	} else {
		err = s.client.Do(req, resp)
	}
	if err != nil {
		return err
	}
	var r reply
	if err := json.Unmarshal(resp.Body(), &r); err != nil {
		return fmt.Errorf("status %d: %w", resp.StatusCode(), err)
	}
	if !r.OK {
		return fmt.Errorf("status %d: %s", resp.StatusCode(), r.Description)
	}
	return nil
}
