package metrics_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/telequeue/telequeue/internal/broadcast"
	"github.com/telequeue/telequeue/internal/metrics"
	"github.com/telequeue/telequeue/internal/redistest"
)

// exported returns the names of every metric telequeue's processes export:
// the collectors web registers and the sender metrics of workers. Histogram
// names come with their _bucket, _sum and _count series.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	reg := prometheus.NewRegistry()
	metrics.NewSenderMetrics(reg)
	descs := make(chan *prometheus.Desc, 100)
	for _, c := range []prometheus.Collector{
		metrics.NewQueueCollector(newInspector(t, srv)),
		metrics.NewBroadcastCollector(broadcast.NewStore(rdb), nil),
		reg,
	} {
		c.Describe(descs)
	}
	close(descs)
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for d := range descs {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no name in %s", d)
		}
		names[m[1]] = true
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			names[m[1]+suffix] = true
		}
	}
	return names
}

// TestMonitoringKitNamesExportedMetrics checks that every metric the Grafana
// dashboard and the alert rules under deploy/ name is one telequeue exports,
// so that a renamed metric cannot leave a silent panel or an alert that never
// fires.
func TestMonitoringKitNamesExportedMetrics(t *testing.T) {
	t.Parallel()
	names := exported(t)
	metricName := regexp.MustCompile(`\btelequeue_[a-z0-9_]+`)
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, f := range files {
		if !strings.HasSuffix(f, ".json") && !strings.HasSuffix(f, ".yml") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".json") && !json.Valid(b) {
			t.Errorf("%s is not valid JSON", f)
		}
		for _, n := range metricName.FindAllString(string(b), -1) {
			used[n] = true
			if !names[n] {
				t.Errorf("%s names %s, which telequeue does not export", f, n)
			}
		}
	}
	// The kit covers what the issue asks for.
	for _, want := range []string{
		"telequeue_queue_size", "telequeue_queue_latency_seconds", "telequeue_sends_total",
		"telequeue_telegram_429_total", "telequeue_rate_limit_waits_total",
		"telequeue_telegram_request_seconds_bucket", "telequeue_broadcast_recipients",
		"telequeue_workers", "telequeue_queue_inspector_up", "telequeue_queue_tasks",
	} {
		if !used[want] {
			t.Errorf("the monitoring kit does not use %s", want)
		}
	}
	if len(used) == 0 {
		t.Fatal("no metric found under deploy/")
	}
}

func TestBroadcastCollector(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	store := broadcast.NewStore(rdb)
	if err := store.Create(ctx, &broadcast.Spec{
		ID: "b1", Bot: "default", Message: []byte(`{"text":"hi"}`), Recipients: []int64{1, 2, 3},
		ChunkSize: 10, Lanes: 1, TTL: time.Hour,
	}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewBroadcastCollector(store, nil))
	got := gather(t, reg, "telequeue_broadcast_recipients")
	want := map[string]float64{
		"bot=default,id=b1,state=pending": 3, "bot=default,id=b1,state=sent": 0,
		"bot=default,id=b1,state=failed": 0, "bot=default,id=b1,state=blocked": 0,
		"bot=default,id=b1,state=cancelled": 0,
	}
	keys := func(m map[string]float64) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	if !slices.Equal(keys(got), keys(want)) {
		t.Fatalf("series %v, want %v", keys(got), keys(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
