package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestGoRedisLogsStructured(t *testing.T) {
	var buf bytes.Buffer
	g := GoRedis{L: New(&buf, "json", slog.LevelInfo)}
	g.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %s", 5, "dial tcp 127.0.0.1:1: connect: connection refused")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON record: %v\n%s", err, buf.String())
	}
	want := map[string]any{
		"level":     "WARN",
		"component": "go-redis",
		"msg":       "connection pool: failed to dial after 5 attempts: dial tcp 127.0.0.1:1: connect: connection refused",
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %v, want %v", k, rec[k], v)
		}
	}
}
