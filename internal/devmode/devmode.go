// Package devmode runs all of telequeue in one process for local use: an
// embedded Redis (miniredis), the Bot API sandbox (unless a bot token is set),
// a worker, and the web endpoints with the dashboard and the API.
package devmode

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/httpguard"
	"github.com/telequeue/telequeue/internal/logging"
	"github.com/telequeue/telequeue/internal/metrics"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/internal/webapp"
	"github.com/telequeue/telequeue/internal/worker"
	"github.com/telequeue/telequeue/web"
)

// Fast polling for an interactive demo, unless the environment says otherwise.
const (
	devTaskCheckInterval        = 20 * time.Millisecond
	devDelayedTaskCheckInterval = 200 * time.Millisecond
)

// Run starts dev mode and blocks until ctx ends. It prints the URLs and how to
// send a test message to stdout; logs go to stderr.
func Run(ctx context.Context, lookup func(string) (string, bool), stdout, stderr io.Writer) error {
	cfg, err := config.Load(lookup, false)
	if err != nil {
		return err
	}
	if _, set := lookup("LOG_FORMAT"); !set {
		cfg.LogFormat = "text"
	}
	if _, set := lookup("TASK_CHECK_INTERVAL"); !set {
		cfg.TaskCheckInterval = devTaskCheckInterval
	}
	if _, set := lookup("DELAYED_TASK_CHECK_INTERVAL"); !set {
		cfg.DelayedTaskCheckInterval = devDelayedTaskCheckInterval
	}
	level, _ := config.ParseLevel(cfg.LogLevel)
	log := logging.New(stderr, cfg.LogFormat, level)

	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return fmt.Errorf("dev: embedded redis: %w", err)
	}
	defer mr.Close()
	redisURL := "redis://" + mr.Addr() + "/0"
	rc, err := config.NewRedisConn(redisURL)
	if err != nil {
		return err
	}

	var sandboxURL string
	if len(cfg.Bots) == 0 {
		url, stop, err := startSandbox(log.With("component", "sandbox"))
		if err != nil {
			return err
		}
		// Deferred first, so it runs last: the worker's sends in flight
		// get their answers.
		defer stop()
		sandboxURL = url
		cfg.Bots = map[string]config.Secret{"default": config.Secret(sandboxToken())}
		cfg.TelegramAPIURL = sandboxURL
	}

	reg := metrics.NewRegistry()
	w, err := worker.New(cfg, log.With("component", "worker"), worker.Deps{Redis: rc, Registry: reg})
	if err != nil {
		return err
	}
	defer w.Close() // a no-op after Run; releases the worker on the errors below
	cl, err := client.New(webapp.ClientConfig(cfg, rc, log.With("component", "client")))
	if err != nil {
		return err
	}
	defer cl.Close()
	wc := webapp.WebConfig(cfg, rc, cl, log.With("component", "web"))
	if wc.APIToken == "" {
		wc.APIToken = "dev-" + rand.Text()
	}
	apiToken := wc.APIToken
	wc.DashboardNoAuth = true
	wc.Registry = reg // shared with the worker: one /metrics
	ws, err := web.New(wc)
	if err != nil {
		return err
	}
	defer ws.Close()
	ln, err := listenLoopback(cfg.Port)
	if err != nil {
		return err
	}
	webURL := "http://" + ln.Addr().String()

	printBanner(stdout, banner{
		redisURL: redisURL, sandboxURL: sandboxURL, webURL: webURL, apiToken: apiToken,
		wantedPort: cfg.Port, gotPort: ln.Addr().(*net.TCPAddr).Port,
	})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() {
		defer cancel()
		errs[0] = w.Run(ctx)
	})
	wg.Go(func() {
		defer cancel()
		errs[1] = web.Serve(ctx, ln, ws.Handler(), log.With("component", "web"))
	})
	wg.Wait()
	return errors.Join(errs...)
}

// startSandbox serves the Bot API sandbox on a free loopback port until stop
// is called. The sandbox plays Telegram, so it enforces Telegram's published
// limits, not the worker's configuration: a TELEGRAM_RATE_* set above them
// shows up as 429s, as it would in production. Nothing authenticates its
// admin API, so it gets the unauthenticated dashboard's checks: loopback
// clients addressing a loopback host, no cross-site POSTs.
func startSandbox(log *slog.Logger) (url string, stop func() error, err error) {
	sb, err := sandbox.New(sandbox.Config{
		Logger: log,
		Limits: sandbox.TelegramLimits(),
	})
	if err != nil {
		return "", nil, fmt.Errorf("dev: sandbox: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("dev: sandbox: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- web.Serve(ctx, ln, httpguard.Local("dev mode's Telegram sandbox", sb), log) }()
	return "http://" + ln.Addr().String(), func() error {
		_ = sb.Close() // releases requests a fault rule holds, so that shutdown does not wait for them
		cancel()
		return <-done
	}, nil
}

// listenLoopback listens on 127.0.0.1:port, or on a free port when port is
// taken: dev mode never assumes a port is free.
func listenLoopback(port int) (net.Listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err == nil {
		return ln, nil
	}
	ln, err2 := net.Listen("tcp", "127.0.0.1:0")
	if err2 != nil {
		return nil, fmt.Errorf("dev: listen: %w", errors.Join(err, err2))
	}
	return ln, nil
}

// sandboxToken returns a random token in Telegram's format for the sandbox.
func sandboxToken() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
	b := make([]byte, 35)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "1000000001:" + string(b)
}

type banner struct {
	redisURL, sandboxURL, webURL, apiToken string
	wantedPort, gotPort                    int
}

func printBanner(w io.Writer, b banner) {
	fmt.Fprintf(w, "telequeue dev mode: embedded Redis, worker, dashboard and API in one process\n\n")
	fmt.Fprintf(w, "  Redis (embedded)   %s\n", b.redisURL)
	if b.sandboxURL != "" {
		fmt.Fprintf(w, "  Telegram sandbox   %s   (received messages: %s/sandbox/messages)\n", b.sandboxURL, b.sandboxURL)
	} else {
		fmt.Fprintf(w, "  Telegram           the real Bot API (TELEGRAM_BOT_TOKEN is set)\n")
	}
	fmt.Fprintf(w, "  Dashboard          %s/monitoring/   (no login: dev mode listens on loopback only)\n", b.webURL)
	fmt.Fprintf(w, "  HTTP API           %s/v1/   (Authorization: Bearer %s)\n", b.webURL, b.apiToken)
	fmt.Fprintf(w, "  Health, metrics    %s/healthz  %s/readyz  %s/metrics\n", b.webURL, b.webURL, b.webURL)
	if b.wantedPort != 0 && b.wantedPort != b.gotPort {
		fmt.Fprintf(w, "\n  (port %d was taken; using %d)\n", b.wantedPort, b.gotPort)
	}
	fmt.Fprintf(w, "\nSend a test message from another terminal:\n\n")
	fmt.Fprintf(w, "  REDIS_URL=%s go run ./cmd/telequeue send --chat 42 \"Hello from telequeue\"\n", b.redisURL)
	fmt.Fprintf(w, "  REDIS_URL=%s go run ./cmd/telequeue status <id printed above>\n\n", b.redisURL)
	fmt.Fprintf(w, "or with curl:\n\n")
	fmt.Fprintf(w, "  curl -s -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n", b.apiToken)
	fmt.Fprintf(w, "       -d '{\"chat_id\":42,\"text\":\"Hello\"}' %s/v1/messages\n\n", b.webURL)
	fmt.Fprintf(w, "Stop with Ctrl+C.\n")
}
