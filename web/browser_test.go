package web_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/telequeue/telequeue/internal/browsertest"
)

// TestBrowserDashboard logs into the dashboard with headless chromium, opens
// the archived tasks of the default queue and waits for the failed message's
// error text; a wrong password gets a 401 and no dashboard.
func TestBrowserDashboard(t *testing.T) {
	t.Parallel()
	browser := browsertest.New(t)
	b := setup(t, fullConfig()) // httptest listens on 127.0.0.1

	// An archived message, failed by a worker as a blocked bot fails.
	r := b.post(t, `{"chat_id": 4242, "text": "blocked"}`, nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	var rc struct{ ID string }
	r.json(t, &rc)
	startWorker(t, b.opt, 1)
	b.waitState(t, rc.ID, "archived")

	archivedURL := b.ts.URL + "/monitoring/queues/default?status=archived"
	basic := func(user, pass string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
	}

	t.Run("wrong password", func(t *testing.T) {
		tab := browsertest.Tab(t, browser)
		ctx := browsertest.WithTimeout(t, tab, 30*time.Second)
		if err := chromedp.Do(ctx, browsertest.SetHeaders(basic(testUser, "wrong"))); err != nil {
			t.Fatal(err)
		}
		responses := chromedp.Events(browsertest.WithTimeout(t, tab, 10*time.Second), network.ResponseReceived)
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(archivedURL))
		status := 0
		switch {
		case err == nil:
			status = int(resp.Status)
		case strings.Contains(err.Error(), "ERR_INVALID_AUTH_CREDENTIALS"):
			// Headless chromium cannot ask for other credentials, so it
			// abandons the page; the document's response tells the status.
			for ev, err := range responses {
				if err != nil {
					t.Fatalf("no response event for the document: %v", err)
				}
				if ev.Type == network.ResourceTypeDocument {
					status = int(ev.Response.Status)
					break
				}
			}
		default:
			t.Fatalf("navigate: %v", err)
		}
		if status != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", status)
		}
		t.Logf("wrong password: document status %d, navigation error: %v", status, err)
		text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(text, blockedError) || strings.Contains(text, "Archived") {
			t.Errorf("a wrong password shows the dashboard: %q", text)
		}
		hasRoot, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("root") !== null`))
		if err != nil {
			t.Fatal(err)
		}
		if hasRoot {
			t.Error("a wrong password got Asynqmon's page")
		}
	})

	t.Run("right password", func(t *testing.T) {
		tab := browsertest.Tab(t, browser)
		ctx := browsertest.WithTimeout(t, tab, 60*time.Second)
		if err := chromedp.Do(ctx, browsertest.SetHeaders(basic(testUser, testPassword))); err != nil {
			t.Fatal(err)
		}
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(archivedURL))
		if err != nil {
			t.Fatalf("navigate: %v", err)
		}
		if resp.Status != http.StatusOK {
			t.Fatalf("status %d, want 200", resp.Status)
		}
		// The SPA loads the archived tasks through /monitoring/api/...;
		// wait until the error text is rendered.
		wait := fmt.Sprintf(`document.body && document.body.innerText.includes(%q)`, blockedError)
		if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](wait, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			text, _ := chromedp.Run(browsertest.WithTimeout(t, tab, 5*time.Second), chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			t.Fatalf("the archived task's error %q did not appear: %v\npage text:\n%s", blockedError, err, text)
		}
		text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			t.Fatal(err)
		}
		// The payload formatter's output, not the raw payload.
		if !regexp.MustCompile(`"chat":\s*"4242"`).MatchString(text) || strings.Contains(text, `"chat_id"`) {
			t.Errorf("the archived task's payload is not the formatted one:\n%s", text)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		path := browsertest.SaveScreenshot(t, "dashboard-archived", png)
		t.Logf("screenshot: %s", path)
	})
}
