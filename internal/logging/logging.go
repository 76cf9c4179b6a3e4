// Package logging builds telequeue's log/slog loggers and adapts them to the
// logger interfaces of asynq and go-redis.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/hibiken/asynq"
)

// New returns a logger writing format ("json" or "text") at level to w.
func New(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// Asynq adapts l to asynq.Logger. asynq's messages are preformatted strings;
// they carry task ids but never payloads or tokens.
type Asynq struct{ L *slog.Logger }

var _ asynq.Logger = Asynq{}

func (a Asynq) Debug(args ...any) { a.L.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a Asynq) Info(args ...any)  { a.L.Info(fmt.Sprint(args...), "component", "asynq") }
func (a Asynq) Warn(args ...any)  { a.L.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a Asynq) Error(args ...any) { a.L.Error(fmt.Sprint(args...), "component", "asynq") }

// Fatal logs at error level and exits with status 1, as asynq.Logger's
// contract says. asynq v0.26 itself never calls it.
func (a Asynq) Fatal(args ...any) {
	a.L.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
	os.Exit(1)
}

// AsynqLevel maps a slog level to asynq's.
func AsynqLevel(l slog.Level) asynq.LogLevel {
	switch {
	case l <= slog.LevelDebug:
		return asynq.DebugLevel
	case l <= slog.LevelInfo:
		return asynq.InfoLevel
	case l <= slog.LevelWarn:
		return asynq.WarnLevel
	default:
		return asynq.ErrorLevel
	}
}

// GoRedis adapts a slog.Logger to go-redis's logger (redis.SetLogger), whose
// messages (failed dials, pool events) would otherwise go to stderr as plain
// text outside the structured log. They are logged at warn level: go-redis
// logs only when something went wrong.
type GoRedis struct{ L *slog.Logger }

// Printf implements go-redis's internal.Logging.
func (g GoRedis) Printf(ctx context.Context, format string, v ...any) {
	g.L.WarnContext(ctx, strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "), "component", "go-redis")
}
