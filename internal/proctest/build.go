package proctest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// build is the state of the binaries built by this test binary run.
var build struct {
	mu   sync.Mutex
	dir  string            // shared output directory, removed by Run
	bins map[string]string // package ("./cmd/worker") → binary path
}

// Build compiles the main packages pkgs, given relative to the module root
// (e.g. "./cmd/worker", "./cmd/web"), with one `go build -o DIR pkgs...`, and
// returns their binaries by package. Packages built earlier in this test
// binary run are not built again, so every test can call Build for what it
// needs. A build failure fails tb with the compiler's output.
func Build(tb testing.TB, pkgs ...string) map[string]string {
	tb.Helper()
	build.mu.Lock()
	defer build.mu.Unlock()
	if build.bins == nil {
		build.bins = make(map[string]string)
	}
	var todo []string
	for _, p := range pkgs {
		if _, ok := build.bins[p]; !ok {
			todo = append(todo, p)
		}
	}
	if len(todo) > 0 {
		if err := buildLocked(todo); err != nil {
			tb.Fatalf("proctest: %v", err)
		}
	}
	out := make(map[string]string, len(pkgs))
	for _, p := range pkgs {
		out[p] = build.bins[p]
	}
	return out
}

// Binary is Build for one package: it returns the path of its binary.
func Binary(tb testing.TB, pkg string) string {
	tb.Helper()
	return Build(tb, pkg)[pkg]
}

func buildLocked(pkgs []string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	if build.dir == "" {
		dir, err := os.MkdirTemp("", "proctest-bin-")
		if err != nil {
			return err
		}
		build.dir = dir
	}
	// Each batch gets its own directory: `go build -o DIR` names binaries
	// after their package, and two batches may hold the same base name.
	out, err := os.MkdirTemp(build.dir, "b")
	if err != nil {
		return err
	}
	goBin, err := goTool()
	if err != nil {
		return err
	}
	args := append([]string{"build", "-o", out + string(filepath.Separator)}, pkgs...)
	cmd := exec.Command(goBin, args...)
	cmd.Dir = root
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, buf.String())
	}
	for _, p := range pkgs {
		bin := filepath.Join(out, path.Base(p))
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("go build %s produced no binary %s: %w", p, bin, err)
		}
		build.bins[p] = bin
	}
	return nil
}

// Run runs the tests of m and then removes the binaries [Build] made. Call it
// from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(proctest.Run(m)) }
//
// Without it the binaries stay in a proctest-bin-* directory under the
// system's temporary directory.
func Run(m *testing.M) int {
	code := m.Run()
	build.mu.Lock()
	defer build.mu.Unlock()
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
		build.dir, build.bins = "", nil
	}
	return code
}

// ModuleRoot returns the directory of the main module's go.mod, found by
// walking up from the working directory (a test runs in its package's
// directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("proctest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// goTool finds the go command: $GOROOT/bin/go when `go test` set GOROOT,
// else go from PATH.
func goTool() (string, error) {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("proctest: go command not found: %w", err)
	}
	return p, nil
}
