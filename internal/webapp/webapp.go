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
	cl, err := client.New(client.Config{
		Redis: rc, Bots: cfg.BotNames(), Retention: cfg.ResultRetention, MaxRetry: cfg.MaxRetry,
		Logger: logger,
	})
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	defer cl.Close()
	insp := asynq.NewInspector(rc)
	defer insp.Close()

	srv, err := web.New(web.Config{
		Redis:              rc,
		Client:             cl,
		Inspector:          insp,
		DashboardUser:      cfg.DashboardUser,
		DashboardPassword:  cfg.DashboardPassword.Reveal(),
		DashboardReadOnly:  cfg.DashboardReadOnly,
		DashboardTextChars: cfg.DashboardTextChars,
		APIToken:           cfg.APIToken.Reveal(),
		Logger:             logger,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	return web.Serve(ctx, ln, srv.Handler(), logger)
}
