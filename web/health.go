package web

import (
	"fmt"
	"net/http"
)

// healthz answers 200 while the process can serve HTTP; it checks nothing
// else, so that a Redis outage does not get the process restarted.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, "ok")
}

// readyz answers 200 when Redis answers PING within ReadyTimeout, else 503.
// The Redis client reconnects by itself, so readiness returns with Redis.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.ping(r.Context()); err != nil {
		s.log.WarnContext(r.Context(), "web: not ready: redis ping failed", "err", err)
		w.Header().Set("Retry-After", fmt.Sprint(RetryAfterSeconds))
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "redis unreachable")
		return
	}
	fmt.Fprintln(w, "ok")
}
