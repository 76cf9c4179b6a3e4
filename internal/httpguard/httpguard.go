// Package httpguard holds the checks that protect telequeue's
// unauthenticated local endpoints (the dev dashboard, dev mode's Bot API
// sandbox) from other machines and from web pages open in the developer's
// browser.
package httpguard

import (
	"net"
	"net/http"
	"strings"
)

// Local admits a request only from a loopback client that addresses a
// loopback host (127.0.0.1, ::1 or localhost), which also defeats DNS
// rebinding, and refuses cross-origin browser requests with unsafe methods
// (http.CrossOriginProtection), so that a page the developer has open cannot
// POST to it.
func Local(what string, next http.Handler) http.Handler {
	return Loopback(what, http.NewCrossOriginProtection().Handler(next))
}

// Loopback admits a request only from a loopback client that addresses a
// loopback host; others get 403 naming what refused them.
func Loopback(what string, next http.Handler) http.Handler {
	msg := "403 Forbidden: " + what + " answers loopback clients only"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLoopback(hostOnly(r.RemoteAddr)) || !IsLoopbackHost(hostOnly(r.Host)) {
			http.Error(w, msg, http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// IsLoopbackHost reports whether host (without a port) is "localhost" or a
// loopback IP address.
func IsLoopbackHost(host string) bool {
	return strings.EqualFold(host, "localhost") || isLoopback(host)
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
