// Package webapp wires the web process from configuration: the queue
// client, the asynq inspector and a [web.Server] on PORT. cmd/web calls it;
// apps that mount web's handler in their own mux build a [web.Server] with
// [web.New] instead.
package webapp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/web"
)

// Run serves web on PORT, on all interfaces (the PaaS web process), until
// ctx ends, then shuts down gracefully.
func Run(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		return fmt.Errorf("web: listen: %w", err)
	}
	return RunListener(ctx, cfg, ln, logger)
}

// RunListener is [Run] on a listener the caller opened; it closes ln.
func RunListener(ctx context.Context, cfg *config.Config, ln net.Listener, logger *slog.Logger) error {
	defer ln.Close()
	rc, err := cfg.Redis()
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	cl, err := client.New(ClientConfig(cfg, rc, logger))
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	defer cl.Close()
	insp := asynq.NewInspector(rc)
	defer insp.Close()

	wc := WebConfig(cfg, rc, cl, logger)
	wc.Inspector = insp
	srv, err := web.New(wc)
	if err != nil {
		return err
	}
	defer srv.Close()
	return web.Serve(ctx, ln, srv.Handler(), logger)
}

// ClientConfig is the queue client's configuration from cfg, as web and dev
// mode use it.
func ClientConfig(cfg *config.Config, rc *config.RedisConn, logger *slog.Logger) client.Config {
	return client.Config{
		Redis: rc, Bots: cfg.ProducerBotNames(), Retention: cfg.ResultRetention, MaxRetry: cfg.MaxRetry,
		UploadMaxBytes: cfg.UploadMaxBytes, Logger: logger,
	}
}

// WebConfig is web's configuration from cfg, as cmd/web and dev mode use it.
func WebConfig(cfg *config.Config, rc *config.RedisConn, cl web.Messages, logger *slog.Logger) web.Config {
	return web.Config{
		Redis:                  rc,
		Client:                 cl,
		DashboardUser:          cfg.DashboardUser,
		DashboardPassword:      cfg.DashboardPassword.Reveal(),
		DashboardReadOnly:      cfg.DashboardReadOnly,
		DashboardTextChars:     cfg.DashboardTextChars,
		DashboardPrometheusURL: cfg.PrometheusURL,
		APIToken:               cfg.APIToken.Reveal(),
		Logger:                 logger,
	}
}
