package redisha

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/tasks"
)

// TestTLSAndUserName is scenario 6: a PaaS-like Redis that speaks TLS
// only, with a self-signed certificate and an ACL user (the default user
// is off), reached with REDIS_URL=rediss://alice:pw@host:port/0.
func TestTLSAndUserName(t *testing.T) {
	if testing.Short() {
		t.Skip("fault tests start real processes; skipped with -short")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := redistest.StartTLS(t, "--user", "alice", "on", ">pw", "~*", "&*", "+@all", "--user", "default", "off")
	url := srv.URL("alice", "pw")
	sb := startSandbox(t, sandbox.Config{})
	e := baseEnv(sb.URL()).with(
		"REDIS_URL", url,
		"REDIS_TLS_SKIP_VERIFY", "true",
		"DASHBOARD_USER", "admin", "DASHBOARD_PASSWORD", "dash-pw",
		"API_TOKEN", "api-token",
	)

	t.Run("skip-verify", func(t *testing.T) {
		startWorker(t, "worker", e)
		_, base := startWeb(t, "web", e)
		c := newClient(t, e)

		// Client → worker → sandbox, and Status.
		r, err := c.SendMessage(ctx, &tasks.SendMessage{ChatID: telego.ChatID{ID: 7}, Text: "over TLS"})
		if err != nil {
			t.Fatal(err)
		}
		if err := sb.WaitFor(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if st := waitCompleted(ctx, t, c, r.ID); st.Result == nil || st.Result.MessageID != sb.Messages()[0].MessageID {
			t.Fatalf("status %+v", st)
		}

		// The HTTP API queues through web's own connection.
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/messages",
			strings.NewReader(`{"chat_id": 8, "text": "via the API over TLS"}`))
		req.Header.Set("Authorization", "Bearer api-token")
		req.Header.Set("Content-Type", "application/json")
		if code, body := do(t, req); code != http.StatusAccepted {
			t.Fatalf("POST /v1/messages: %d %s", code, body)
		}
		if err := sb.WaitFor(ctx, 2); err != nil {
			t.Fatal(err)
		}

		// Readiness and the dashboard's API (Asynqmon's inspector).
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if code, body := do(t, req); code != http.StatusOK {
			t.Fatalf("/readyz: %d %s", code, body)
		}
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+"/monitoring/api/queues", nil)
		req.SetBasicAuth("admin", "dash-pw")
		code, body := do(t, req)
		if code != http.StatusOK || !strings.Contains(body, `"queue":"default"`) {
			t.Fatalf("/monitoring/api/queues: %d %s", code, body)
		}
		var queues struct {
			Queues []struct {
				Queue     string `json:"queue"`
				Processed int    `json:"processed"`
			} `json:"queues"`
		}
		if err := json.Unmarshal([]byte(body), &queues); err != nil {
			t.Fatal(err)
		}
		t.Logf("dashboard over TLS: %+v", queues.Queues)

		// An inspector built from the same configuration.
		cfg, err := config.Load(e.lookup, true)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := cfg.Redis()
		if err != nil {
			t.Fatal(err)
		}
		insp := asynq.NewInspector(rc)
		defer insp.Close()
		qs, err := insp.Queues()
		if err != nil || !slices.Contains(qs, tasks.QueueDefault) {
			t.Fatalf("Inspector.Queues = %v, %v", qs, err)
		}
		servers, err := insp.Servers()
		if err != nil || len(servers) == 0 {
			t.Fatalf("Inspector.Servers = %d, %v", len(servers), err)
		}

		// The user name matters: asynq's own URL parser drops it and so
		// authenticates as the default user, which is off. Even with the
		// certificate check off, its connection fails where ours works.
		opt, err := asynq.ParseRedisURI(url)
		if err != nil {
			t.Fatal(err)
		}
		o := opt.(asynq.RedisClientOpt)
		if o.Username != "" {
			t.Logf("asynq.ParseRedisURI kept the user name %q: the caveat is gone", o.Username)
		}
		o.TLSConfig.InsecureSkipVerify = true //nolint:gosec // self-signed test certificate
		ac := asynq.NewClient(o)
		defer ac.Close()
		err = ac.Ping()
		if err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
			t.Fatalf("asynq.ParseRedisURI client: ping = %v, want WRONGPASS (user name dropped)", err)
		}
		t.Logf("asynq.ParseRedisURI(%q) → Username %q; ping: %v", strings.Replace(url, ":pw@", ":***@", 1), o.Username, err)
	})

	t.Run("verify", func(t *testing.T) {
		// Without REDIS_TLS_SKIP_VERIFY the self-signed certificate is
		// refused, with an error that says so.
		strict := e.with("REDIS_TLS_SKIP_VERIFY", "false")
		c := newClient(t, strict)
		err := c.Ping(ctx)
		if err == nil || !strings.Contains(err.Error(), "x509: certificate signed by unknown authority") {
			t.Fatalf("client ping: %v, want an x509 error", err)
		}
		t.Logf("client without REDIS_TLS_SKIP_VERIFY: %v", err)

		// The worker keeps running, as it does through a Redis outage, and
		// says why it cannot work.
		w := startWorker(t, "worker-strict", strict)
		wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
		defer wcancel()
		if err := w.WaitLog(wctx, "x509: certificate signed by unknown authority"); err != nil {
			t.Fatalf("worker log names no x509 error: %v", err)
		}
		web, base := startWeb(t, "web-strict", strict)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if code, body := do(t, req); code != http.StatusServiceUnavailable {
			t.Fatalf("/readyz without skip-verify: %d %s, want 503", code, body)
		}
		if err := web.WaitLog(wctx, "x509: certificate signed by unknown authority"); err != nil {
			t.Fatalf("web log names no x509 error: %v", err)
		}
	})

	// Both at once, with the certificate trusted properly: go-redis takes
	// a CA through no URL parameter, so a trusted self-signed certificate
	// needs the system trust store (or REDIS_TLS_SKIP_VERIFY). Checked here
	// with a direct client so the certificate itself is known to be valid.
	t.Run("certificate-valid", func(t *testing.T) {
		rc, err := config.NewRedisConn(url)
		if err != nil {
			t.Fatal(err)
		}
		o, err := rc.Universal()
		if err != nil {
			t.Fatal(err)
		}
		o.TLSConfig = &tls.Config{RootCAs: srv.RootCAs(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
		cl := redisUniversal(o)
		defer cl.Close()
		if err := cl.Ping(ctx).Err(); err != nil {
			t.Fatalf("trusted certificate: %v", err)
		}
	})
}

// do runs req and returns the status and body.
func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
