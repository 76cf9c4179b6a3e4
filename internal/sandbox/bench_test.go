package sandbox

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
)

// BenchmarkSendMessage pushes sendMessage calls through a started sandbox
// with a keep-alive net/http client from parallel goroutines. ns/op is the
// wall time per message at GOMAXPROCS-way parallelism; allocs/op include the
// client's.
func BenchmarkSendMessage(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"params", Config{}},
		{"no_params", Config{NoRecordParams: true}},
		{"limits", Config{NoRecordParams: true, Limits: Limits{Global: 1e9, Chat: 1e9, Group: 1e9}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := New(bc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			base, err := s.Start("127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
			defer hc.CloseIdleConnections()
			u := base + "/bot" + token1 + "/sendMessage"
			var chat atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				body := []byte(`{"chat_id":` + strconv.FormatInt(-chat.Add(1), 10) +
					`,"text":"benchmark message with a little text","parse_mode":"HTML"}`)
				for pb.Next() {
					resp, err := hc.Post(u, "application/json", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.StopTimer()
			if s.Count() != b.N {
				b.Errorf("delivered %d of %d", s.Count(), b.N)
			}
		})
	}
}

// BenchmarkServeHTTP measures the handler alone, without sockets or
// request parsing: what the sandbox itself costs per message.
func BenchmarkServeHTTP(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"params", Config{}},
		{"no_params", Config{NoRecordParams: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := New(bc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			body := []byte(`{"chat_id":42,"text":"benchmark message with a little text"}`)
			r := httptest.NewRequest(http.MethodPost, "/bot"+token1+"/sendMessage", nil)
			r.Header.Set("Content-Type", "application/json")
			rd := bytes.NewReader(body)
			r.Body = io.NopCloser(rd)
			w := &discardWriter{h: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(body)
				w.code = 0
				s.ServeHTTP(w, r)
				if w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
			}
		})
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
