package proctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options configure a process started by [Start].
type Options struct {
	// Name labels the process in log output and names its log file, e.g.
	// "worker-1". Default: the binary's base name.
	Name string
	// Args are the command-line arguments.
	Args []string
	// Env holds KEY=value pairs added to the base environment: PATH, HOME
	// and TMPDIR of the test process, nothing else unless InheritEnv, so
	// that a developer's REDIS_URL or TELEGRAM_BOT_TOKEN never leaks in.
	Env []string
	// InheritEnv starts from the test process's whole environment.
	InheritEnv bool
	// Dir is the working directory; default the test's.
	Dir string
	// StopTimeout bounds how long the cleanup waits after SIGKILL. Default
	// 10s.
	StopTimeout time.Duration
}

// Process is a running (or exited) child process whose stdout and stderr go
// to a log file.
type Process struct {
	// Name is Options.Name.
	Name string
	// LogPath is the file holding the process's stdout and stderr.
	LogPath string

	cmd     *exec.Cmd
	logFile *os.File
	done    chan struct{} // closed when the process has exited and been reaped
	started time.Time

	mu       sync.Mutex
	exitedAt time.Time
	state    *os.ProcessState
}

// Start starts bin with opts. The process is killed (SIGKILL) when the test
// ends if it is still running; if the test failed, the tail of its log is
// printed with t.Log.
func Start(tb testing.TB, bin string, opts Options) *Process {
	tb.Helper()
	p, err := start(tb.TempDir(), bin, opts)
	if err != nil {
		tb.Fatalf("proctest: %v", err)
	}
	tb.Cleanup(func() {
		p.stop(opts.StopTimeout)
		if tb.Failed() {
			tb.Logf("--- %s (pid %d, %s) log tail:\n%s", p.Name, p.PID(), p.describeExit(), p.Tail(64<<10))
		}
	})
	return p
}

func start(logDir, bin string, opts Options) (*Process, error) {
	if opts.Name == "" {
		opts.Name = filepath.Base(bin)
	}
	logPath := filepath.Join(logDir, sanitize(opts.Name)+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, opts.Args...)
	cmd.Dir = opts.Dir
	cmd.Env = environment(opts)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group, so that a terminal's ^C reaches only the test;
	// SIGKILL if the test process dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", opts.Name, err)
	}
	p := &Process{Name: opts.Name, LogPath: logPath, cmd: cmd, logFile: f, done: make(chan struct{}), started: time.Now()}
	go func() {
		_ = cmd.Wait()
		p.mu.Lock()
		p.exitedAt, p.state = time.Now(), cmd.ProcessState
		p.mu.Unlock()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

func environment(opts Options) []string {
	var env []string
	if opts.InheritEnv {
		env = os.Environ()
	} else {
		for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
			if v, ok := os.LookupEnv(k); ok {
				env = append(env, k+"="+v)
			}
		}
	}
	return append(env, opts.Env...)
}

func sanitize(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, name)
}

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Started is when the process was started.
func (p *Process) Started() time.Time { return p.started }

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Running reports whether the process has not exited yet.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Signal sends sig to the process. It is an error once the process has
// exited.
func (p *Process) Signal(sig syscall.Signal) error {
	if !p.Running() {
		return fmt.Errorf("proctest: %s has exited", p.Name)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("proctest: signal %s: %w", p.Name, err)
	}
	return nil
}

// Kill sends SIGKILL, as a crash or an OOM kill would, and waits until the
// process is gone. It returns when the kill happened.
func (p *Process) Kill() time.Time {
	at := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	return at
}

// Exit describes how a process ended.
type Exit struct {
	// Code is the exit status, or -1 if a signal ended the process.
	Code int
	// Signal is the signal that ended the process, or 0.
	Signal syscall.Signal
	// At is when the process was reaped.
	At time.Time
}

// Clean reports whether the process exited by itself with status 0.
func (e Exit) Clean() bool { return e.Code == 0 && e.Signal == 0 }

func (e Exit) String() string {
	if e.Signal != 0 {
		return "signal: " + e.Signal.String()
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// Wait waits up to timeout for the process to exit and returns how it
// ended. On timeout the process keeps running and the error says so.
func (p *Process) Wait(timeout time.Duration) (Exit, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return p.exit(), nil
	case <-t.C:
		return Exit{}, fmt.Errorf("proctest: %s still running after %v", p.Name, timeout)
	}
}

// ExitStatus returns how the process ended; ok is false while it runs.
func (p *Process) ExitStatus() (e Exit, ok bool) {
	if p.Running() {
		return Exit{}, false
	}
	return p.exit(), true
}

func (p *Process) exit() Exit {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := Exit{Code: p.state.ExitCode(), At: p.exitedAt}
	if ws, ok := p.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Signal = ws.Signal()
	}
	return e
}

func (p *Process) describeExit() string {
	if e, ok := p.ExitStatus(); ok {
		return e.String()
	}
	return "running"
}

// stop kills the process if it still runs and waits, bounded, for it.
func (p *Process) stop(timeout time.Duration) {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if p.Running() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
	}
}

// Log returns everything the process wrote so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// Tail returns at most the last n bytes of the log, starting at a line.
func (p *Process) Tail(n int) string {
	b, _ := os.ReadFile(p.LogPath)
	if len(b) <= n {
		return string(b)
	}
	b = b[len(b)-n:]
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return "…\n" + string(b)
}

// LogCount returns how many lines of the log contain s.
func (p *Process) LogCount(s string) int {
	n := 0
	for _, line := range strings.Split(p.Log(), "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// ErrExited is returned by [Process.WaitLog] when the process exits before
// writing what was waited for.
var ErrExited = errors.New("proctest: process exited")

// WaitLog polls the log until a line contains s, the process exits, or ctx
// ends.
func (p *Process) WaitLog(ctx context.Context, s string) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if strings.Contains(p.Log(), s) {
			return nil
		}
		select {
		case <-p.done:
			if strings.Contains(p.Log(), s) {
				return nil
			}
			return fmt.Errorf("%w: %s (%s) before logging %q", ErrExited, p.Name, p.describeExit(), s)
		case <-ctx.Done():
			return fmt.Errorf("proctest: %s did not log %q: %w", p.Name, s, ctx.Err())
		case <-tick.C:
		}
	}
}
