package faulttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/proctest"
	"github.com/telequeue/telequeue/tasks"
)

// TestRedisOutage kills redis-server (-9) under load, keeps it down 10 s and
// restarts it from its AOF (appendfsync always) on the same port, while
// three workers and web keep running and producers keep sending through the
// Go client and the HTTP API.
//
// Asserted: every message the client or the API accepted is delivered; none
// twice, including those whose send Telegram confirmed while Redis was down
// (their handlers hold on to the sent marker until Redis answers); no
// process exits or spins a core during the outage; the API answers 503 with
// Retry-After and /readyz 503 while Redis is down, and both recover without
// a restart.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	const (
		workers  = 3
		outage   = 10 * time.Second
		apiToken = "fault-test-api-token"
	)
	r := newRig(t, rigOptions{
		latency:   50 * time.Millisecond,
		redisArgs: []string{"--appendonly", "yes", "--appendfsync", "always"},
	})
	procs := make([]*proctest.Process, 0, workers+1)
	for i := range workers {
		procs = append(procs, r.startWorker(fmt.Sprintf("worker-%d", i+1)))
	}
	web, base := r.startWeb("web", apiToken)
	procs = append(procs, web)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	viaClient := &producer{name: "client", send: func(ctx context.Context, text string, i int) error {
		_, err := r.client.SendMessage(ctx, &tasks.SendMessage{ChatID: chatID(int64(1000 + i%50)), Text: text})
		return err
	}}
	hc := &http.Client{Timeout: 10 * time.Second}
	viaAPI := &producer{name: "api", send: func(ctx context.Context, text string, i int) error {
		return postMessage(ctx, hc, base, apiToken, 2000+i%50, text)
	}}
	var wg sync.WaitGroup
	for _, p := range []*producer{viaClient, viaAPI} {
		wg.Go(func() { p.run(ctx) })
	}
	stopProducers := func() {
		cancel()
		wg.Wait()
	}
	defer stopProducers()

	// A backlog keeps all 30 senders busy when Redis dies.
	backlog, _ := r.enqueue(messages("backlog", 1500))

	waitCtx, waitCancel := context.WithTimeout(context.Background(), time.Minute)
	defer waitCancel()
	if err := r.sandbox.WaitFor(waitCtx, 300); err != nil {
		t.Fatalf("no load before the outage: %v", err)
	}

	killedAt := time.Now()
	r.redis.Kill()
	cpuFrom := stats(t, procs)
	// Readiness and the API while Redis is down, polled through the outage.
	var readyz []int
	for end := killedAt.Add(outage); time.Now().Before(end); {
		readyz = append(readyz, getStatus(hc, base+"/readyz"))
		time.Sleep(500 * time.Millisecond)
	}
	cpuTo := stats(t, procs)
	deliveredAtRestart := r.sandbox.Count()
	restartCtx, restartCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer restartCancel()
	if err := r.redis.Restart(restartCtx); err != nil {
		t.Fatalf("restart redis: %v", err)
	}
	restartedAt := time.Now()
	readyAgain := waitStatus(hc, base+"/readyz", http.StatusOK, 30*time.Second)

	// Producers go on for a while after the restart, then stop.
	time.Sleep(3 * time.Second)
	stopProducers()

	accepted := append(append(backlog, viaClient.accepted()...), viaAPI.accepted()...)
	tl := r.waitDelivered(accepted, 3*time.Minute)
	q, drainedAt := r.waitDrained(3 * time.Minute)
	all := r.tally(r.allTexts()) // unaccepted messages that got through count too
	var resumedAt time.Time
	for _, m := range r.sandbox.Messages() {
		if m.At.After(restartedAt) && (resumedAt.IsZero() || m.At.Before(resumedAt)) {
			resumedAt = m.At
		}
	}
	heldMarkers, markersWritten := 0, 0
	for _, p := range procs[:workers] {
		heldMarkers += p.LogCount("cannot write sent marker")
		markersWritten += p.LogCount("sent marker written after retries")
	}

	t.Logf("accepted: client %d (refused %d: %v), API %d (refused %d: %v); delivered before restart %d",
		len(viaClient.accepted()), viaClient.refused(), viaClient.errorKinds(),
		len(viaAPI.accepted()), viaAPI.refused(), viaAPI.errorKinds(), deliveredAtRestart)
	t.Logf("sends confirmed while Redis was down (marker held until Redis answered): %d, markers written after retries: %d",
		heldMarkers, markersWritten)
	t.Logf("restart → /readyz 200 %v; → first delivery %v; → all accepted delivered %v; → queues drained %v",
		sinceOrNever(readyAgain, restartedAt), sinceOrNever(resumedAt, restartedAt),
		sinceOrNever(tl.last, restartedAt), drainedAt.Sub(restartedAt).Round(100*time.Millisecond))
	t.Logf("duplicates: %d of %d delivered texts; queues: %v; completed tasks by their last error: %v",
		all.dups, len(all.times), q, r.lastErrors())
	for _, p := range procs {
		t.Logf("CPU during the outage: %s %.1f%% of a core", p.Name, 100*proctest.CPUShare(cpuFrom[p.Name], cpuTo[p.Name]))
	}
	t.Logf("/readyz during the outage: %v", readyz)

	if len(tl.missing) > 0 {
		t.Errorf("%d accepted messages lost: %v", len(tl.missing), firstN(tl.missing, 10))
	}
	if all.dups > 0 {
		t.Errorf("%d duplicates: %v", all.dups, firstN(all.dupTexts, 10))
	}
	if heldMarkers == 0 {
		t.Errorf("no send was confirmed while Redis was down: the outage missed the sends in flight")
	}
	if q.archived != 0 {
		t.Errorf("archived tasks: %v", q)
	}
	assertAlive(t, procs...)
	for _, p := range procs {
		if share := proctest.CPUShare(cpuFrom[p.Name], cpuTo[p.Name]); share > 0.5 {
			t.Errorf("%s used %.0f%% of a core while Redis was down", p.Name, 100*share)
		}
	}
	for i, code := range readyz {
		if code != http.StatusServiceUnavailable {
			t.Errorf("/readyz during the outage, poll %d: %d, want 503", i, code)
			break
		}
	}
	if readyAgain.IsZero() {
		t.Errorf("/readyz did not answer 200 after Redis came back")
	}
	if viaAPI.countPrefix("503 Retry-After: ") == 0 || viaAPI.count("503 Retry-After: ") > 0 {
		t.Errorf("the API never answered 503 with Retry-After during the outage: %v", viaAPI.errorKinds())
	}
	if viaClient.count("unavailable") == 0 {
		t.Errorf("the client never reported ErrUnavailable during the outage: %v", viaClient.errorKinds())
	}
	if len(viaClient.accepted()) == 0 || len(viaAPI.accepted()) == 0 {
		t.Errorf("a producer got nothing accepted")
	}
	if p := panics(procs...); len(p) > 0 {
		t.Errorf("panics: %v", p)
	}
}

// producer sends numbered messages one after another until ctx ends and
// remembers which were accepted and why the others were refused.
type producer struct {
	name string
	send func(ctx context.Context, text string, i int) error

	mu   sync.Mutex
	ok   []string
	errs map[string]int
}

func (p *producer) run(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		text := textOf(p.name, i)
		// The send itself is not cut short by the end of the run: a
		// refusal then would be ours, not the system's.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		err := p.send(sctx, text, i)
		cancel()
		p.mu.Lock()
		if err == nil {
			p.ok = append(p.ok, text)
		} else {
			if p.errs == nil {
				p.errs = map[string]int{}
			}
			p.errs[errorKind(err)]++
		}
		p.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *producer) accepted() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.ok...)
}

func (p *producer) refused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.errs {
		n += c
	}
	return n
}

func (p *producer) errorKinds() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.errs))
	for k, v := range p.errs {
		out[k] = v
	}
	return out
}

func (p *producer) count(kind string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errs[kind]
}

func (p *producer) countPrefix(prefix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for k, v := range p.errs {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

// statusError is a non-202 answer of the API.
type statusError struct {
	code       int
	retryAfter string
	body       string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%d Retry-After: %s: %s", e.code, e.retryAfter, e.body)
}

func errorKind(err error) string {
	var se *statusError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%d Retry-After: %s", se.code, se.retryAfter)
	case errors.Is(err, client.ErrUnavailable):
		return "unavailable"
	}
	return err.Error()
}

func postMessage(ctx context.Context, hc *http.Client, base, token string, chat int, text string) error {
	body := fmt.Sprintf(`{"chat_id":%d,"text":%q}`, chat, text)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/messages", bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusAccepted {
		return &statusError{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b)}
	}
	return nil
}

// getStatus returns the status of GET url, or 0 if there was no answer.
func getStatus(hc *http.Client, url string) int {
	resp, err := hc.Get(url)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitStatus polls url until it answers want, and returns when; zero on
// timeout.
func waitStatus(hc *http.Client, url string, want int, timeout time.Duration) time.Time {
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if getStatus(hc, url) == want {
			return time.Now()
		}
	}
	return time.Time{}
}

func stats(t *testing.T, procs []*proctest.Process) map[string]proctest.Stat {
	t.Helper()
	out := make(map[string]proctest.Stat, len(procs))
	for _, p := range procs {
		st, err := p.Stat()
		if err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		out[p.Name] = st
	}
	return out
}

func sinceOrNever(at, from time.Time) string {
	if at.IsZero() {
		return "never"
	}
	return at.Sub(from).Round(100 * time.Millisecond).String()
}

// allTexts lists every text the sandbox received.
func (r *rig) allTexts() []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range r.sandbox.Messages() {
		if !seen[m.Text] {
			seen[m.Text] = true
			out = append(out, m.Text)
		}
	}
	return out
}
