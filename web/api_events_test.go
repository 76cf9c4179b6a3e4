package web_test

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telequeue/telequeue/internal/events"
	"github.com/telequeue/telequeue/tasks"
)

func appendEvents(t *testing.T, b *bundle, outcomes ...tasks.Outcome) {
	t.Helper()
	w := events.NewWriter(b.redis.Client(t), 0)
	for i, o := range outcomes {
		e := &tasks.Event{Outcome: o, TaskID: "t" + strconv.Itoa(i), Method: "sendMessage", Type: tasks.TypeSendMessage, Bot: "default", Chat: "42"}
		if o == tasks.OutcomeSent {
			e.MessageIDs = []int64{int64(100 + i)}
		}
		if err := w.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEventsLongPoll(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	get := func(query string) eventsPageT {
		t.Helper()
		res := b.do(t, request{method: "GET", path: "/v1/events" + query, token: testToken})
		res.wantAnswer(t, http.StatusOK, "", "")
		var p eventsPageT
		res.json(t, &p)
		return p
	}
	// From now on: nothing yet, and a place to resume from.
	first := get("")
	if len(first.Events) != 0 || first.Next != "0-0" {
		t.Fatalf("empty stream: %+v", first)
	}
	appendEvents(t, b, tasks.OutcomeSent, tasks.OutcomeBlocked, tasks.OutcomeSent)
	all := get("?after=" + first.Next)
	if len(all.Events) != 3 || all.Events[0].TaskID != "t0" || all.Events[0].MessageIDs[0] != 100 || all.Events[1].Outcome != tasks.OutcomeBlocked {
		t.Fatalf("after 0-0: %+v", all)
	}
	if all.Next != all.Events[2].ID {
		t.Errorf("next = %s, want the last event's id %s", all.Next, all.Events[2].ID)
	}
	// Resumable, limited, filtered.
	if p := get("?after=0&limit=1"); len(p.Events) != 1 || p.Events[0].TaskID != "t0" || p.Next != p.Events[0].ID {
		t.Errorf("limit 1: %+v", p)
	}
	if p := get("?after=0&outcome=blocked"); len(p.Events) != 1 || p.Events[0].TaskID != "t1" || p.Next != all.Next {
		t.Errorf("outcome=blocked: %+v (next should pass the skipped events)", p)
	}
	if p := get("?after=" + all.Next); len(p.Events) != 0 || p.Next != all.Next {
		t.Errorf("after the last: %+v", p)
	}
	// A long poll returns as soon as an event arrives.
	done := make(chan eventsPageT, 1)
	go func() { done <- get("?wait=20s&after=" + all.Next) }()
	time.Sleep(100 * time.Millisecond) // the poll is usually waiting by now; correct either way
	appendEvents(t, b, tasks.OutcomeArchived)
	select {
	case p := <-done:
		if len(p.Events) != 1 || p.Events[0].Outcome != tasks.OutcomeArchived {
			t.Errorf("long poll: %+v", p)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the long poll did not return when an event arrived")
	}

	for _, q := range []struct{ query, field string }{
		{"?after=abc", "after"}, {"?limit=0", "limit"}, {"?limit=5000", "limit"},
		{"?wait=1h", "wait"}, {"?wait=x", "wait"}, {"?outcome=delivered", "outcome"},
	} {
		b.do(t, request{method: "GET", path: "/v1/events" + q.query, token: testToken}).wantAnswer(t, http.StatusBadRequest, "invalid_field", q.field)
	}
	b.do(t, request{method: "GET", path: "/v1/events"}).wantAnswer(t, http.StatusUnauthorized, "unauthorized", "")
}

type eventsPageT struct {
	Events []tasks.Event `json:"events"`
	Next   string        `json:"next"`
}

func TestEventsServerSent(t *testing.T) {
	t.Parallel()
	b := setup(t, fullConfig())
	appendEvents(t, b, tasks.OutcomeSent, tasks.OutcomeBlocked)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	open := func(lastID string) (*http.Response, *bufio.Reader) {
		req, err := http.NewRequestWithContext(ctx, "GET", b.ts.URL+"/v1/events", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Last-Event-ID", lastID)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("status %d, content type %q", res.StatusCode, res.Header.Get("Content-Type"))
		}
		return res, bufio.NewReader(res.Body)
	}
	// readEvent returns the id and event name of the next event.
	readEvent := func(r *bufio.Reader) (id, name, data string) {
		t.Helper()
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read stream: %v", err)
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, "id: "):
				id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			case line == "" && id != "":
				return id, name, data
			}
		}
	}
	res, r := open("0")
	id0, name0, data0 := readEvent(r)
	_, name1, _ := readEvent(r)
	if name0 != "sent" || name1 != "blocked" || !strings.Contains(data0, `"task_id":"t0"`) {
		t.Fatalf("events %s %s, data %s", name0, name1, data0)
	}
	// Live: an event appended now arrives on the open stream.
	appendEvents(t, b, tasks.OutcomeArchived)
	if _, name, _ := readEvent(r); name != "archived" {
		t.Errorf("live event %q, want archived", name)
	}
	res.Body.Close()
	// Reconnecting with Last-Event-ID resumes after it.
	res, r = open(id0)
	defer res.Body.Close()
	if _, name, _ := readEvent(r); name != "blocked" {
		t.Errorf("resumed after %s with %q, want blocked", id0, name)
	}
}
