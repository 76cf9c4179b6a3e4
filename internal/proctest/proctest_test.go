package proctest_test

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/telequeue/telequeue/internal/proctest"
)

func TestMain(m *testing.M) { os.Exit(proctest.Run(m)) }

const sleeper = "./internal/proctest/testdata/sleeper"

func TestStartSignalWait(t *testing.T) {
	t.Setenv("PROCTEST_VALUE", "leaked")
	bin := proctest.Binary(t, sleeper)
	if again := proctest.Binary(t, sleeper); again != bin {
		t.Fatalf("second Build rebuilt: %s != %s", again, bin)
	}
	p := proctest.Start(t, bin, proctest.Options{Name: "sleeper/1", Env: []string{"PROCTEST_VALUE=given"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitLog(ctx, "ready given"); err != nil {
		t.Fatalf("%v; log: %q", err, p.Log())
	}
	st, err := p.Stat()
	if err != nil || st.State == 'Z' {
		t.Fatalf("stat = %+v, %v", st, err)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exit, err := p.Wait(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if exit.Code != 3 || exit.Signal != 0 || exit.Clean() {
		t.Errorf("exit = %+v, want status 3", exit)
	}
	if p.LogCount("terminating") != 1 {
		t.Errorf("log = %q", p.Log())
	}
	if p.Running() || p.Signal(syscall.SIGTERM) == nil {
		t.Error("signal after exit succeeded")
	}
}

func TestKillAndCPU(t *testing.T) {
	bin := proctest.Binary(t, sleeper)
	p := proctest.Start(t, bin, proctest.Options{Args: []string{"-spin", "2s"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitLog(ctx, "ready"); err != nil {
		t.Fatal(err)
	}
	from, err := p.Stat()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	to, err := p.Stat()
	if err != nil {
		t.Fatal(err)
	}
	// A busy loop uses most of a core; the bound is loose for loaded CI
	// machines, an idle process reads 0.
	if share := proctest.CPUShare(from, to); share < 0.05 || share > 1.5 {
		t.Errorf("CPU share of a busy loop = %.2f", share)
	}
	p.Kill()
	exit, ok := p.ExitStatus()
	if !ok || exit.Signal != syscall.SIGKILL || exit.Code != -1 {
		t.Errorf("exit = %+v, %v; want killed by SIGKILL", exit, ok)
	}
	if err := p.WaitLog(ctx, "never written"); err == nil {
		t.Error("WaitLog on an exited process succeeded")
	}
}
