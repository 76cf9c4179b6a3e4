package web_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// TestDashboardMetricsView: with DashboardPrometheusURL set, the dashboard's
// Metrics view queries that Prometheus, for asynq's metric names (which
// deploy/prometheus/asynqmon-rules.yml records from telequeue's).
func TestDashboardMetricsView(t *testing.T) {
	t.Parallel()
	var (
		mu      sync.Mutex
		queries []string
	)
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.Query().Get("query"))
		mu.Unlock()
		if r.URL.Path != "/api/v1/query_range" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"matrix","result":[]}}`))
	}))
	defer prom.Close()

	cfg := fullConfig()
	cfg.DashboardPrometheusURL = prom.URL
	b := setup(t, cfg)
	r := b.do(t, request{method: http.MethodGet, path: "/monitoring/api/metrics?duration_sec=3600", user: testUser, pass: testPassword})
	if r.status != http.StatusOK {
		t.Fatalf("GET /monitoring/api/metrics: %d %s", r.status, r.body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(queries) != 9 || !slices.Contains(queries, "asynq_queue_size{}") {
		t.Errorf("Prometheus got %d queries %q, want Asynqmon's 9 including asynq_queue_size", len(queries), queries)
	}
}
