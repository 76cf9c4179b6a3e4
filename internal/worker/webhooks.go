package worker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/webhook"
)

// WebhookQueueWeight is the weight of the webhooks queue when QUEUES does
// not name it: deliveries get a share of the senders without holding back
// the message queues (critical=6, default=3, bulk=1).
const WebhookQueueWeight = 1

// webhooks are a worker's webhook deliveries: the handler of the delivery
// tasks and the dispatcher that queues them from the outcome stream.
type webhooks struct {
	handler    *webhook.Handler
	dispatcher *webhook.Dispatcher
}

func newWebhooks(cfg *config.Config, rdb redis.UniversalClient, log *slog.Logger) (*webhooks, error) {
	wcfg := cfg.Webhook()
	h, err := webhook.NewHandler(wcfg)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	// The dispatcher's asynq client shares the worker's rdb, which the
	// worker closes.
	enq := asynq.NewClientFromRedisClient(rdb)
	host, _ := os.Hostname()
	d, err := webhook.NewDispatcher(rdb, enq, wcfg, host+":"+strconv.Itoa(os.Getpid()), log)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	log.Info("webhooks on", "events", cfg.WebhookEvents, "timeout", wcfg.Timeout, "max_retry", wcfg.MaxRetry)
	return &webhooks{handler: h, dispatcher: d}, nil
}

// start runs the dispatcher until ctx ends or the returned stop is called.
func (w *webhooks) start(ctx context.Context) (stop func()) {
	if w == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.dispatcher.Run(ctx) })
	return func() {
		cancel()
		wg.Wait()
	}
}
