package redistest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Proc is a redis-server process whose arguments this package writes in
// full: a node with a password, a Sentinel, a TLS-only server. Unlike
// [Server] it is ready as soon as it answers at all, so a server that
// demands AUTH (NOAUTH) counts as up.
type Proc struct {
	// Port is the port clients connect to (the TLS port of a TLS server).
	Port int
	dir  string
	log  string
	args []string
	tls  *tls.Config

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// procSpec describes a process for startProc. args returns the arguments
// for a port; it is called again with a new port when the first one was
// taken in the meantime.
type procSpec struct {
	dir  string
	log  string // log file the process writes, for error messages
	args func(port int) []string
	tls  *tls.Config // for the readiness probe; nil for plain TCP
}

// startProc starts a process on a free port, retrying with another port if
// the process exits before it answers (the port was taken meanwhile).
func startProc(ctx context.Context, spec procSpec) (*Proc, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, fmt.Errorf("redistest: redis-server not found (install the redis-server package): %w", err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		p := &Proc{Port: port, dir: spec.dir, log: spec.log, args: spec.args(port), tls: spec.tls}
		if lastErr = p.start(ctx); lastErr == nil {
			return p, nil
		}
		if ctx.Err() != nil || !strings.Contains(lastErr.Error(), "in use") {
			break // not a port taken meanwhile
		}
	}
	return nil, lastErr
}

func (p *Proc) start(ctx context.Context) error {
	cmd := exec.Command("redis-server", p.args...)
	cmd.Dir = p.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()

	probe := redis.NewClient(&redis.Options{Addr: p.Addr(), TLSConfig: p.tls, MaxRetries: -1, DialTimeout: time.Second})
	defer probe.Close()
	for {
		select {
		case <-done:
			return fmt.Errorf("redistest: redis-server on port %d exited: %s", p.Port, p.LogTail(5))
		case <-ctx.Done():
			p.Kill()
			return fmt.Errorf("redistest: redis-server on port %d not ready: %w; log: %s", p.Port, ctx.Err(), p.LogTail(5))
		case <-time.After(10 * time.Millisecond):
		}
		if answered(probe.Ping(ctx).Err()) {
			return nil
		}
	}
}

// answered reports whether err is nil or an error reply, i.e. the server
// is up (an error reply such as NOAUTH means it wants credentials).
func answered(err error) bool {
	var rerr redis.Error
	return err == nil || errors.As(err, &rerr)
}

// Addr is 127.0.0.1:Port.
func (p *Proc) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)) }

// Dir is the process's working directory.
func (p *Proc) Dir() string { return p.dir }

// LogTail returns the last n lines of the process's log file.
func (p *Proc) LogTail(n int) string {
	b, _ := os.ReadFile(p.log)
	return lastLines(b, n)
}

// Running reports whether the process has not exited.
func (p *Proc) Running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Kill stops the process with SIGKILL, as a crash would, and waits for it.
func (p *Proc) Kill() { p.signal(syscall.SIGKILL) }

// Stop stops the process with SIGTERM and waits for it.
func (p *Proc) Stop() { p.signal(syscall.SIGTERM) }

// Pause freezes the process (SIGSTOP), as a stalled machine or a network
// partition would: connections stay open, nothing is answered. A paused
// replica stops acknowledging its master's stream.
func (p *Proc) Pause() error { return p.send(syscall.SIGSTOP) }

// Resume continues a paused process (SIGCONT).
func (p *Proc) Resume() error { return p.send(syscall.SIGCONT) }

func (p *Proc) send(sig syscall.Signal) error {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return errors.New("redistest: process not started")
	}
	return cmd.Process.Signal(sig)
}

func (p *Proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	_ = cmd.Process.Signal(syscall.SIGCONT) // a paused process acts on SIGTERM only once resumed
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart starts the process again with the same port, arguments and
// directory after Kill or Stop.
func (p *Proc) Restart(ctx context.Context) error {
	if p.Running() {
		return errors.New("redistest: process is still running")
	}
	return p.start(ctx)
}
