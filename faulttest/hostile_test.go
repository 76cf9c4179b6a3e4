package faulttest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/tasks"
)

// TestHostileInput feeds a running worker and web what a careless or hostile
// producer might: payloads that break our format, enqueued raw with asynq
// past our client, task types nobody handles, and HTTP requests built to
// hurt. Each must end as a clear error at enqueue or as an archived task
// whose last error says why; no panic, no crashed process, and the worker
// still delivers good messages afterwards.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	const apiToken = "fault-test-api-token"
	r := newRig(t, rigOptions{})
	worker := r.startWorker("worker")
	web, base := r.startWeb("web", apiToken)

	raw := asynq.NewClient(asynq.RedisClientOpt{Addr: r.redis.Addr()})
	defer raw.Close()
	huge := `{"chat_id":1,"text":"` + strings.Repeat("a", 5<<20) + `"}`
	deep := `{"chat_id":1,"text":"x","reply_markup":{"inline_keyboard":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`
	cases := []struct {
		name, typ, payload string
		want               string // in the archived task's last error
	}{
		{"truncated_json", tasks.TypeSendMessage, `{"chat_id":1,"text":`, "malformed payload"},
		{"binary", tasks.TypeSendMessage, "\x00\x01\x02\xff", "not valid UTF-8"},
		{"empty", tasks.TypeSendMessage, ``, "malformed payload"},
		{"json_null", tasks.TypeSendMessage, `null`, "not a JSON object"},
		{"json_array", tasks.TypeSendMessage, `[{"chat_id":1,"text":"x"}]`, "malformed payload"},
		{"oversized_5MB", tasks.TypeSendMessage, huge, "text is too long"},
		{"deep_nesting", tasks.TypeSendMessage, deep, "invalid"},
		{"invalid_utf8", tasks.TypeSendMessage, "{\"chat_id\":1,\"text\":\"bad \xff\xfe bytes\"}", "not valid UTF-8"},
		{"absurd_chat_id", tasks.TypeSendMessage, `{"chat_id":4611686018427387904,"text":"x"}`, "out of range"},
		{"chat_id_overflow", tasks.TypeSendMessage, `{"chat_id":1e300,"text":"x"}`, "chat_id"},
		{"chat_id_object", tasks.TypeSendMessage, `{"chat_id":{"id":1},"text":"x"}`, "chat_id"},
		{"unknown_bot", tasks.TypeSendMessage, `{"bot":"ghost","chat_id":1,"text":"x"}`, "unknown bot"},
		{"token_as_bot", tasks.TypeSendMessage, `{"bot":"123456789:AAAA","chat_id":1,"text":"x"}`, "bot name is invalid"},
		{"unknown_field", tasks.TypeSendMessage, `{"chat_id":1,"text":"x","photo":"p"}`, "unknown field"},
		{"newer_version", tasks.TypeSendMessage, `{"v":99,"chat_id":1,"text":"x"}`, "version 99"},
		{"newer_version_new_field", tasks.TypeSendMessage, `{"v":2,"chat_id":1,"text":"x","sticker":"s"}`, "version 2"},
		{"unknown_type", "telegram:send_hologram", `{"chat_id":1,"hologram":"s"}`, "unknown task type"},
		{"type_with_known_prefix", tasks.TypeSendMessage + "_v2", `{"chat_id":1,"text":"must not be sent"}`, "unknown task type"},
		{"empty_type_payload", "x", ``, "unknown task type"},
	}
	for _, c := range cases {
		// MaxRetry 1: what is retried gets one more attempt, then is
		// archived, so the test sees the final state within seconds.
		_, err := raw.Enqueue(asynq.NewTask(c.typ, []byte(c.payload)),
			asynq.TaskID("hostile-"+c.name), asynq.Queue(tasks.QueueDefault), asynq.MaxRetry(1))
		if err != nil {
			t.Fatalf("enqueue %s: %v", c.name, err)
		}
	}
	for _, c := range cases {
		info := r.waitArchived(tasks.QueueDefault, "hostile-"+c.name, time.Minute)
		if info == nil {
			continue
		}
		t.Logf("%-24s archived after %d retries: %.160s", c.name, info.Retried, info.LastErr)
		if !strings.Contains(info.LastErr, c.want) {
			t.Errorf("%s: last error %q, want it to mention %q", c.name, info.LastErr, c.want)
		}
		if strings.Contains(strings.ToLower(info.LastErr), "panic") {
			t.Errorf("%s: handler panicked: %s", c.name, info.LastErr)
		}
	}
	if n := r.sandbox.Count(); n != 0 {
		t.Errorf("hostile tasks made %d sends: %v", n, r.sandbox.Messages())
	}

	t.Run("client", func(t *testing.T) {
		ctx := context.Background()
		for _, c := range []struct {
			name string
			msg  *tasks.SendMessage
			want error
		}{
			{"invalid_utf8", &tasks.SendMessage{ChatID: chatID(1), Text: "bad \xff"}, tasks.ErrInvalidText},
			{"too_long", &tasks.SendMessage{ChatID: chatID(1), Text: strings.Repeat("я", 4097)}, tasks.ErrTextTooLong},
			{"absurd_chat", &tasks.SendMessage{ChatID: chatID(1 << 60), Text: "x"}, tasks.ErrInvalidChat},
			{"no_chat", &tasks.SendMessage{Text: "x"}, tasks.ErrMissingChat},
			{"newer_version", &tasks.SendMessage{Version: 99, ChatID: chatID(1), Text: "x"}, tasks.ErrUnsupportedVersion},
		} {
			_, err := r.client.SendMessage(ctx, c.msg)
			if !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, err, c.want)
			}
		}
	})

	t.Run("api", func(t *testing.T) {
		hc := &http.Client{Timeout: 30 * time.Second}
		for _, c := range []struct {
			name, body, contentType string
			status                  int
			want                    string
		}{
			{"truncated_json", `{"chat_id":1,"text":`, "application/json", 400, "malformed_json"},
			{"not_json", "\x00\x01", "application/json", 400, "malformed_json"},
			{"invalid_utf8", "{\"chat_id\":1,\"text\":\"bad \xff\"}", "application/json", 400, "UTF-8"},
			{"absurd_chat_id", `{"chat_id":4611686018427387904,"text":"x"}`, "application/json", 400, "chat_id"},
			{"unknown_bot", `{"bot":"ghost","chat_id":1,"text":"x"}`, "application/json", 400, "bot"},
			{"newer_version", `{"v":99,"chat_id":1,"text":"x"}`, "application/json", 400, "version"},
			{"too_long", `{"chat_id":1,"text":"` + strings.Repeat("a", 4097) + `"}`, "application/json", 400, "too long"},
			{"text_plain", `{"chat_id":1,"text":"x"}`, "text/plain", 415, "unsupported_media_type"},
			{"body_1MB", `{"chat_id":1,"text":"` + strings.Repeat("a", 1<<20) + `"}`, "application/json", 413, "body_too_large"},
		} {
			t.Run(c.name, func(t *testing.T) {
				req, err := http.NewRequest(http.MethodPost, base+"/v1/messages", strings.NewReader(c.body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", c.contentType)
				req.Header.Set("Authorization", "Bearer "+apiToken)
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				resp.Body.Close()
				if resp.StatusCode != c.status || !strings.Contains(string(b), c.want) {
					t.Errorf("%d %s, want %d mentioning %q", resp.StatusCode, b, c.status, c.want)
				}
			})
		}
		t.Run("body_10MB_bounded", func(t *testing.T) { testHugeBodyIsBounded(t, base, apiToken) })
	})

	// Still alive and still delivering.
	good := messages("after-hostile", 20)
	texts, _ := r.enqueue(good)
	tl := r.waitDelivered(texts, time.Minute)
	if len(tl.missing) > 0 || tl.dups > 0 {
		t.Errorf("after the hostile input: %d good messages missing, %d duplicates", len(tl.missing), tl.dups)
	}
	if n, want := r.sandbox.Count(), len(good); n != want {
		t.Errorf("sandbox got %d messages, want only the %d good ones", n, want)
	}
	assertAlive(t, worker, web)
	if p := panics(worker, web); len(p) > 0 {
		t.Errorf("panics: %v", p)
	}
}

// testHugeBodyIsBounded announces a 10 MB body but sends only its first
// 256 KB: web must answer 413 at once, having read no more than its limit
// (plus buffers), instead of waiting for the rest.
func testHugeBodyIsBounded(t *testing.T, base, token string) {
	t.Helper()
	const announced = 10 << 20
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	head := fmt.Sprintf("POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", token, announced)
	start := time.Now()
	if _, err := io.WriteString(conn, head+`{"chat_id":1,"text":"`+strings.Repeat("a", 256<<10)); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a 10 MB body after 256 KB: %v", err)
	}
	defer resp.Body.Close()
	t.Logf("10 MB body announced, 256 KB sent: %d after %v", resp.StatusCode, time.Since(start).Round(time.Millisecond))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", resp.StatusCode)
	}
}

// waitArchived polls a task until it is archived; it fails the test and
// returns nil if it is not within timeout.
func (r *rig) waitArchived(queue, id string, timeout time.Duration) *asynq.TaskInfo {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		info, err := r.insp.GetTaskInfo(queue, id)
		if err == nil && info.State == asynq.TaskStateArchived {
			return info
		}
		if time.Now().After(deadline) {
			state := "?"
			if info != nil {
				state = fmt.Sprintf("%v (retried %d, last error %q)", info.State, info.Retried, info.LastErr)
			}
			r.t.Errorf("task %s not archived after %v: %s %v", id, timeout, state, err)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}
