package web_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/web"
)

// redisAddr is the address of the redis-server that TestMain starts for the
// Examples (redistest.Main); the tests start their own.
var redisAddr string

// An app mounts telequeue's HTTP API, dashboard and health checks in its own
// mux, next to its own routes, with public types only.
func Example() {
	redisOpt := asynq.RedisClientOpt{Addr: redisAddr} // the queues' Redis
	// Bots names the bots the workers know (without it, the client asks the
	// registry the running workers keep in Redis).
	cl, err := client.New(client.Config{Redis: redisOpt, Bots: []string{"default"}})
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	tq, err := web.New(web.Config{
		Redis:    redisOpt,
		Client:   cl,
		APIToken: "s3cret-api-token",
		// DashboardUser and DashboardPassword would serve the dashboard.
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	defer tq.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "my app") })
	mux.Handle("/v1/", tq.Handler())                // the HTTP API
	mux.Handle(web.DashboardPath+"/", tq.Handler()) // the dashboard
	mux.Handle("GET /readyz", tq.Handler())         // Redis reachable?

	ts := httptest.NewServer(mux)
	defer ts.Close()
	show := func(req *http.Request) {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Println(req.Method, req.URL.Path, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/hello", nil)
	show(req)
	req, _ = http.NewRequest(http.MethodGet, ts.URL+"/readyz", nil)
	show(req)
	req, _ = http.NewRequest(http.MethodPost, ts.URL+"/v1/messages", strings.NewReader(`{"chat_id": 42, "text": "Hello"}`))
	req.Header.Set("Authorization", "Bearer s3cret-api-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(req.Method, req.URL.Path, resp.StatusCode)
	// Output:
	// GET /hello 200 my app
	// GET /readyz 200 ok
	// POST /v1/messages 202
}
