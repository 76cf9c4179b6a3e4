package worker

import (
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/internal/config"
)

// newBroadcastHandler builds the handler of broadcast chunk tasks. A process
// runs at most half its senders' worth of chunks, so that critical and
// default messages always find a free sender while a broadcast runs. A chunk
// run gives its sender back after half of SHUTDOWN_TIMEOUT (5s to 1m), so
// that on SIGTERM running chunks stop between two recipients before asynq
// gives up on them and pushes their tasks back mid-send.
func newBroadcastHandler(cfg *config.Config, bots map[string]handlers.Sender, rdb redis.UniversalClient,
	limiter handlers.Limiter, obs handlers.Observer, outcomes handlers.Outcomes, uploads handlers.Uploads, log *slog.Logger) (*handlers.BroadcastHandler, error) {
	return handlers.NewBroadcastHandler(handlers.BroadcastConfig{
		Bots:      bots,
		Uploads:   uploads,
		Redis:     rdb,
		Limiter:   limiter,
		MaxWait:   cfg.RateMaxWait,
		MaxActive: max(cfg.Concurrency/2, 1),
		Slice:     min(max(cfg.ShutdownTimeout/2, 5*time.Second), time.Minute),
		Observer:  obs,
		Outcomes:  outcomes,
		Logger:    log,
	})
}
