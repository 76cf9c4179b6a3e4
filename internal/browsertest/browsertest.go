// Package browsertest runs Debian's chromium in headless mode for tests that
// look at telequeue's pages as a person would, driven from Go with chromedp.
//
// The browser gets a fresh profile and reaches loopback only: every host name
// but localhost resolves to nothing, and the background services that would
// call out (sync, component updates, QUIC probes) are off.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// ChromiumPath is where Debian's chromium package installs the browser.
const ChromiumPath = "/usr/bin/chromium"

// New starts a headless chromium for the test and returns a chromedp context
// on its first tab; the browser stops when the test ends. When chromium is
// missing the test is skipped, unless CI=true, where it fails: CI must run
// the browser tests.
func New(t testing.TB) context.Context {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browsertest: %s is missing under CI=true: install Debian's chromium package (apt-get install -y chromium): %v", ChromiumPath, err)
		}
		t.Skipf("browsertest: %s is missing (apt-get install -y chromium); skipping the browser test outside CI", ChromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater"),
		// No name resolves except localhost: the browser cannot reach
		// anything but loopback even if some service tries.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]"),
		chromedp.Flag("proxy-server", "direct://"),
		chromedp.Flag("proxy-bypass-list", "*"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Do starts the browser; its context must not time out, as
	// the browser lives as long as it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browsertest: start %s: %v", ChromiumPath, err)
	}
	return ctx
}

// Tab opens another tab of the browser of ctx, closed when the test ends.
// Tabs have their own extra headers (see [SetHeaders]).
func Tab(t testing.TB, ctx context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("browsertest: open tab: %v", err)
	}
	return tab
}

// SetHeaders makes the tab send headers with every request, e.g. an
// Authorization header for HTTP Basic auth.
func SetHeaders(headers map[string]string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		h := network.Headers{}
		for k, v := range headers {
			h[k] = v
		}
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return fmt.Errorf("network.enable: %w", err)
		}
		if _, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h}); err != nil {
			return fmt.Errorf("set extra headers: %w", err)
		}
		return nil
	})
}

// WithTimeout returns a context for one step, derived from a chromedp
// context that has run once.
func WithTimeout(t testing.TB, ctx context.Context, d time.Duration) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	t.Cleanup(cancel)
	return c
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// SaveScreenshot writes png to $SCREENSHOT_DIR (default: a
// telequeue-screenshots directory under os.TempDir()) as name.png and returns
// the path.
func SaveScreenshot(t testing.TB, name string, png []byte) string {
	t.Helper()
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Fatalf("browsertest: screenshot %s is not a PNG (%d bytes)", name, len(png))
	}
	dir := os.Getenv("SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "telequeue-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	path, err := filepath.Abs(filepath.Join(dir, unsafeName.ReplaceAllString(name, "_")+".png"))
	if err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("browsertest: save screenshot: %v", err)
	}
	return path
}
