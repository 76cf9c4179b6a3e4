package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/telequeue/telequeue/internal/broadcast"
)

// Bounds of the broadcast metrics: the broadcasts created within
// broadcastWindow, at most broadcastLimit of them (newest first), so that
// the series stay few.
const (
	broadcastWindow = 24 * time.Hour
	broadcastLimit  = 50
	broadcastRead   = 5 * time.Second
)

var broadcastDesc = prometheus.NewDesc(namespace+"_broadcast_recipients",
	"Recipients of each broadcast created in the last 24 hours, by state: sent, failed, blocked, cancelled, pending.",
	[]string{"id", "bot", "state"}, nil)

// BroadcastCollector exports the progress of recent broadcasts, read from
// Redis on every scrape. Build it with [NewBroadcastCollector].
type BroadcastCollector struct {
	store  *broadcast.Store
	logger *slog.Logger
}

var _ prometheus.Collector = (*BroadcastCollector)(nil)

// NewBroadcastCollector returns a collector reading store; logger (nil:
// discard) receives Redis errors met during scrapes.
func NewBroadcastCollector(store *broadcast.Store, logger *slog.Logger) *BroadcastCollector {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &BroadcastCollector{store: store, logger: logger}
}

// Describe implements prometheus.Collector.
func (c *BroadcastCollector) Describe(ch chan<- *prometheus.Desc) { ch <- broadcastDesc }

// Collect implements prometheus.Collector. A Redis error leaves the
// broadcast series out of this scrape (telequeue_queue_inspector_up tells
// that Redis is down).
func (c *BroadcastCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), broadcastRead)
	defer cancel()
	infos, err := c.store.Recent(ctx, time.Now().Add(-broadcastWindow), broadcastLimit)
	if err != nil {
		c.logger.Warn("metrics: cannot read broadcasts", "err", err)
		return
	}
	for _, i := range infos {
		for _, s := range []struct {
			state string
			n     int
		}{
			{"sent", i.Sent}, {"failed", i.Failed}, {"blocked", i.Blocked},
			{"cancelled", i.Cancelled}, {"pending", i.Pending()},
		} {
			ch <- prometheus.MustNewConstMetric(broadcastDesc, prometheus.GaugeValue, float64(s.n), i.ID, i.Bot, s.state)
		}
	}
}
