// Package redistest runs real redis-server processes on free loopback ports for
// tests and benchmarks, so that no two runs share state and nothing assumes a
// port (6379 included) is free.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options configure a server.
type Options struct {
	// Binary is the redis-server executable; default "redis-server" from PATH.
	Binary string
	// Dir is the working directory (AOF/RDB files); default a new temp dir.
	Dir string
	// Args are extra redis-server arguments, e.g. "--appendonly", "yes".
	Args []string
	// Port to listen on; 0 picks a free one.
	Port int
}

// Server is a running redis-server.
type Server struct {
	opts Options
	Port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Run starts redis-server and waits until it answers PING.
func Run(ctx context.Context, opts Options) (*Server, error) {
	if opts.Binary == "" {
		opts.Binary = "redis-server"
	}
	if _, err := exec.LookPath(opts.Binary); err != nil {
		return nil, fmt.Errorf("redistest: %s not found (install the redis-server package): %w", opts.Binary, err)
	}
	if opts.Dir == "" {
		dir, err := os.MkdirTemp("", "redistest-")
		if err != nil {
			return nil, err
		}
		opts.Dir = dir
	}
	s := &Server{opts: opts, Port: opts.Port}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if opts.Port == 0 {
			p, err := FreePort()
			if err != nil {
				return nil, err
			}
			s.Port = p
		}
		if lastErr = s.start(ctx); lastErr == nil {
			return s, nil
		}
		if opts.Port != 0 {
			break
		}
	}
	return nil, lastErr
}

// Start runs a server for the test and stops it when the test ends.
func Start(tb testing.TB, args ...string) *Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Run(ctx, Options{Dir: tb.TempDir(), Args: args})
	if err != nil {
		tb.Fatalf("start redis-server: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start(ctx context.Context) error {
	args := []string{
		"--port", strconv.Itoa(s.Port),
		"--bind", "127.0.0.1",
		"--dir", s.opts.Dir,
		"--save", "",
		"--appendonly", "no",
		"--logfile", filepath.Join(s.opts.Dir, "redis.log"),
		"--protected-mode", "yes",
	}
	args = append(args, s.opts.Args...)
	cmd := exec.Command(s.opts.Binary, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	rdb := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer rdb.Close()
	for {
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(s.opts.Dir, "redis.log"))
			return fmt.Errorf("redistest: redis-server on port %d exited: %s", s.Port, lastLines(log, 5))
		case <-ctx.Done():
			s.Kill()
			return fmt.Errorf("redistest: redis-server on port %d not ready: %w", s.Port, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
		if err := rdb.Ping(ctx).Err(); err == nil {
			return nil
		}
	}
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// URL is a redis:// URL for DB 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Dir is the server's working directory.
func (s *Server) Dir() string { return s.opts.Dir }

// Client returns a go-redis client for the server, closed with the test.
func (s *Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Kill stops the server with SIGKILL, as a crash would, and waits for it.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

// Stop stops the server with SIGTERM and waits for it.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart starts the server again on the same port and directory (after Kill
// or Stop), e.g. to test recovery from an AOF file.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		default:
			return errors.New("redistest: server is still running")
		}
	}
	return s.start(ctx)
}

func lastLines(b []byte, n int) string {
	lines := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			lines++
			if lines > n {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}

// Main runs a package's tests (call it from TestMain and pass its result
// to os.Exit) with one redis-server shared by the package's Examples, which
// cannot start their own: its address is stored in *addr before m.Run.
// Tests start their own servers with [Start].
func Main(m *testing.M, addr *string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	s, err := Run(ctx, Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "redis-server:", err)
		return 1
	}
	defer os.RemoveAll(s.Dir())
	defer s.Stop()
	*addr = s.Addr()
	return m.Run()
}
