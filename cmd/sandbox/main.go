// Command sandbox serves a local Telegram Bot API sandbox (see
// internal/sandbox) for development, fault tests and benchmarks.
//
// The first line on stdout is "sandbox listening on http://HOST:PORT".
// Settings come from flags, defaulting to environment variables:
//
//	-addr            SANDBOX_ADDR            listen address (default 127.0.0.1:0)
//	-latency         SANDBOX_LATENCY         added to every call, e.g. 50ms
//	-jitter          SANDBOX_LATENCY_JITTER  random extra latency up to this
//	-rate-global     SANDBOX_RATE_GLOBAL     messages/s per bot (0 = off)
//	-rate-chat       SANDBOX_RATE_CHAT       messages/s per chat
//	-rate-group      SANDBOX_RATE_GROUP      messages/MINUTE per group chat
//	-rate-paid       SANDBOX_RATE_PAID       paid-broadcast messages/s per bot
//	-tokens          SANDBOX_TOKENS          comma-separated accepted tokens
//	-seed            SANDBOX_SEED            fault randomness seed
//	-no-params       SANDBOX_NO_PARAMS       do not record request fields
//	-log-level       SANDBOX_LOG_LEVEL       debug, info, warn or error (default info)
//
// Each rate is enforced as a sliding-window count, at most N sends in any
// window W: 30/s is at most 30 in any second, 20/min at most 20 in any
// minute, 0.5/s at most 1 in 2 seconds (see internal/sandbox).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/telequeue/telequeue/internal/sandbox"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
}

// run serves the sandbox until ctx ends. Logs go to stdout after the
// "sandbox listening on" line.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stdout)
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	var (
		addr     = fs.String("addr", env("SANDBOX_ADDR", "127.0.0.1:0"), "listen address")
		latency  = fs.String("latency", env("SANDBOX_LATENCY", "0s"), "latency added to every call")
		jitter   = fs.String("jitter", env("SANDBOX_LATENCY_JITTER", "0s"), "random extra latency")
		global   = fs.String("rate-global", env("SANDBOX_RATE_GLOBAL", "0"), "messages/s per bot")
		chat     = fs.String("rate-chat", env("SANDBOX_RATE_CHAT", "0"), "messages/s per chat")
		group    = fs.String("rate-group", env("SANDBOX_RATE_GROUP", "0"), "messages/minute per group")
		paid     = fs.String("rate-paid", env("SANDBOX_RATE_PAID", "0"), "paid messages/s per bot")
		tokens   = fs.String("tokens", env("SANDBOX_TOKENS", ""), "comma-separated accepted tokens")
		seed     = fs.String("seed", env("SANDBOX_SEED", "0"), "fault randomness seed")
		noParams = fs.String("no-params", env("SANDBOX_NO_PARAMS", "false"), "do not record request fields")
		logLevel = fs.String("log-level", env("SANDBOX_LOG_LEVEL", "info"), "log level")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}

	var cfg sandbox.Config
	var errs []error
	dur := func(name, v string) time.Duration {
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		return d
	}
	num := func(name, v string) float64 {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a number", name, v))
		}
		return f
	}
	cfg.Latency = dur("latency", *latency)
	cfg.LatencyJitter = dur("jitter", *jitter)
	cfg.Limits = sandbox.Limits{
		Global: num("rate-global", *global),
		Chat:   num("rate-chat", *chat),
		Group:  num("rate-group", *group),
		Paid:   num("rate-paid", *paid),
	}
	if *tokens != "" {
		for _, t := range strings.Split(*tokens, ",") {
			if t = strings.TrimSpace(t); t != "" {
				cfg.Tokens = append(cfg.Tokens, t)
			}
		}
	}
	var err error
	if cfg.Seed, err = strconv.ParseInt(*seed, 10, 64); err != nil {
		errs = append(errs, fmt.Errorf("seed: %q is not an integer", *seed))
	}
	if cfg.NoRecordParams, err = strconv.ParseBool(*noParams); err != nil {
		errs = append(errs, fmt.Errorf("no-params: %q is not a boolean", *noParams))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("log-level: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: level}))

	sb, err := sandbox.New(cfg)
	if err != nil {
		return err
	}
	url, err := sb.Start(*addr) // Start logs nothing: the next line must come first
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "sandbox listening on %s\n", url); err != nil {
		_ = sb.Close()
		return err
	}
	cfg.Logger.Info("sandbox ready", slog.Any("limits", cfg.Limits), slog.Duration("latency", cfg.Latency),
		slog.Int("tokens", len(cfg.Tokens)))

	<-ctx.Done()
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sb.Shutdown(shut); err != nil {
		_ = sb.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	cfg.Logger.Info("sandbox stopped")
	return nil
}
