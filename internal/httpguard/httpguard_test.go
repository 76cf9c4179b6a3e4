package httpguard

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestLocal(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := Local("the test endpoint", ok)
	tests := []struct {
		name   string
		method string
		remote string
		host   string
		header map[string]string
		want   int
	}{
		{"loopback IPv4", http.MethodGet, "127.0.0.1:5000", "127.0.0.1:8080", nil, http.StatusNoContent},
		{"loopback IPv6", http.MethodGet, "[::1]:5000", "[::1]:8080", nil, http.StatusNoContent},
		{"localhost", http.MethodGet, "127.0.0.1:5000", "LOCALHOST:8080", nil, http.StatusNoContent},
		{"remote client", http.MethodGet, "192.0.2.7:5000", "127.0.0.1:8080", nil, http.StatusForbidden},
		{"rebound host name", http.MethodGet, "127.0.0.1:5000", "evil.example:8080", nil, http.StatusForbidden},
		{"host without port", http.MethodGet, "127.0.0.1:5000", "evil.example", nil, http.StatusForbidden},
		{"cross-site POST", http.MethodPost, "127.0.0.1:5000", "127.0.0.1:8080",
			map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"foreign origin POST", http.MethodPost, "127.0.0.1:5000", "127.0.0.1:8080",
			map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"same-origin POST", http.MethodPost, "127.0.0.1:5000", "127.0.0.1:8080",
			map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusNoContent},
		{"POST without browser headers", http.MethodPost, "127.0.0.1:5000", "127.0.0.1:8080", nil, http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tt.method, "http://"+tt.host+"/x", nil)
			r.RemoteAddr, r.Host = tt.remote, tt.host
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
		})
	}
}
