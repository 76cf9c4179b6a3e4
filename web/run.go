package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/config"
)

// HTTP server limits of [Serve].
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	// ShutdownTimeout is how long in-flight requests get after ctx ends.
	ShutdownTimeout = 10 * time.Second
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

	srv, err := New(Config{
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
	return Serve(ctx, ln, srv.Handler(), logger)
}

// Serve serves h on ln until ctx ends, then stops accepting connections and
// gives requests in flight [ShutdownTimeout] to finish. It returns nil after
// a graceful shutdown.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	logger.Info("web: listening", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("web: serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("web: shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
		return fmt.Errorf("web: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("web: serve: %w", err)
	}
	return nil
}
