package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SANDBOX_RATE_CHAT": "1", "SANDBOX_RATE_PAID": "2.5", "SANDBOX_LATENCY": "1ms"}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"-addr", "127.0.0.1:0", "-rate-group", "20"}, func(k string) string { return env[k] }, pw)
		_ = pw.Close()
		done <- err
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("no output: %v", lines.Err())
	}
	url, ok := strings.CutPrefix(lines.Text(), "sandbox listening on ")
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("first line %q", lines.Text())
	}
	go func() { // keep draining logs
		for lines.Scan() {
		}
	}()

	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url + "/sandbox/limits")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`"chat":1`, `"group":20`, `"paid":2.5`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("limits = %s, want %s", b, want)
		}
	}
	if strings.Contains(string(b), "tolerance") {
		t.Errorf("limits = %s: tolerance is gone", b)
	}
	bot := url + "/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawX"
	resp, err = c.Get(bot + "/getMe")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("getMe status %d", resp.StatusCode)
	}
	// The chat limit is on: 1 per second.
	for i, want := range []int{200, 429} {
		resp, err = c.Post(bot+"/sendMessage", "application/json", strings.NewReader(`{"chat_id":5,"text":"hi"}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("send %d: %d %s, want %d", i, resp.StatusCode, b, want)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func TestRunBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad latency", nil, map[string]string{"SANDBOX_LATENCY": "soon"}, "latency"},
		{"bad rate", []string{"-rate-global", "fast"}, nil, "rate-global"},
		{"negative rate", []string{"-rate-chat", "-1"}, nil, "chat"},
		{"bad token", []string{"-tokens", "hunter2"}, nil, "token #0"},
		{"bad address", []string{"-addr", "256.0.0.1:1"}, nil, "listen"},
		{"tolerance flag removed", []string{"-tolerance", "0.5"}, nil, "-tolerance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out strings.Builder
			err := run(t.Context(), tt.args, func(k string) string { return tt.env[k] }, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run = %v, want error mentioning %q", err, tt.want)
			}
			if strings.Contains(out.String()+errString(err), "hunter2") {
				t.Error("token echoed")
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
