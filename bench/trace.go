package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// tracer records every Bot API request of the compliance run (arrival,
// answer, chat) for -trace, to study what the sandbox counted as a violation.
type tracer struct {
	next http.Handler
	mu   sync.Mutex
	on   bool
	recs []traceRec
}

type traceRec struct {
	at     time.Time
	status int
	chat   string
	paid   bool
}

func (tr *tracer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tr.mu.Lock()
	on := tr.on
	tr.mu.Unlock()
	if !on {
		tr.next.ServeHTTP(w, r)
		return
	}
	at := time.Now()
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	tr.next.ServeHTTP(rec, r)
	var p struct {
		ChatID json.RawMessage `json:"chat_id"`
		Paid   bool            `json:"allow_paid_broadcast"`
	}
	_ = json.Unmarshal(body, &p)
	tr.mu.Lock()
	tr.recs = append(tr.recs, traceRec{at: at, status: rec.status, chat: string(p.ChatID), paid: p.Paid})
	tr.mu.Unlock()
}

func (tr *tracer) start() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.on, tr.recs = true, nil
}

// write stops recording and writes one line per request: milliseconds since
// the first, status, chat, "paid" for paid sends.
func (tr *tracer) write(path string) error {
	tr.mu.Lock()
	recs := tr.recs
	tr.on, tr.recs = false, nil
	tr.mu.Unlock()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, r := range recs {
		paid := ""
		if r.paid {
			paid = " paid"
		}
		fmt.Fprintf(w, "%10.3f %d %s%s\n", float64(r.at.Sub(recs[0].at))/float64(time.Millisecond), r.status, r.chat, paid)
	}
	return errors.Join(w.Flush(), f.Close())
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// serveTraced serves h on a free loopback port and returns its URL.
func serveTraced(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelDebug)}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}
