package worker

import (
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/internal/config"
)

// newBroadcastHandler builds the handler of broadcast chunk tasks. A process
// runs at most half its senders' worth of chunks, so that critical and
// default messages always find a free sender while a broadcast runs.
func newBroadcastHandler(cfg *config.Config, bots map[string]handlers.Sender, rdb redis.UniversalClient,
	limiter handlers.Limiter, obs handlers.Observer, log *slog.Logger) (*handlers.BroadcastHandler, error) {
	return handlers.NewBroadcastHandler(handlers.BroadcastConfig{
		Bots:      bots,
		Redis:     rdb,
		Limiter:   limiter,
		MaxWait:   cfg.RateMaxWait,
		MaxActive: max(cfg.Concurrency/2, 1),
		Observer:  obs,
		Logger:    log,
	})
}
