package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mymmrac/telego"
	tu "github.com/mymmrac/telego/telegoapi"
	tg "github.com/mymmrac/telego/telegoutil"
)

func TestFaultKindsTelego(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		rule     Rule
		chat     telego.ChatID
		wantCode int // 0: not an API error
		wantDesc string
		check    func(t *testing.T, e *tu.Error)
		wantErr  string // substring of a non-API error
	}{
		{name: "429", rule: Rule{Kind: KindTooManyRequests, RetryAfter: 7}, chat: tg.ID(1),
			wantCode: 429, wantDesc: "Too Many Requests: retry after 7",
			check: func(t *testing.T, e *tu.Error) {
				if e.Parameters == nil || e.Parameters.RetryAfter != 7 {
					t.Errorf("parameters = %+v", e.Parameters)
				}
			}},
		{name: "429 default retry", rule: Rule{Kind: KindTooManyRequests}, chat: tg.ID(1),
			wantCode: 429, wantDesc: "Too Many Requests: retry after 1"},
		{name: "blocked", rule: Rule{Kind: KindBlocked}, chat: tg.ID(1),
			wantCode: 403, wantDesc: "Forbidden: bot was blocked by the user"},
		{name: "deactivated", rule: Rule{Kind: KindDeactivated}, chat: tg.ID(1),
			wantCode: 403, wantDesc: "Forbidden: user is deactivated"},
		{name: "kicked group", rule: Rule{Kind: KindKicked}, chat: tg.ID(-5),
			wantCode: 403, wantDesc: "Forbidden: bot was kicked from the group chat"},
		{name: "kicked short -100 id is a group", rule: Rule{Kind: KindKicked}, chat: tg.ID(-1005),
			wantCode: 403, wantDesc: "Forbidden: bot was kicked from the group chat"},
		{name: "kicked real supergroup id", rule: Rule{Kind: KindKicked}, chat: tg.ID(-1001234567890),
			wantCode: 403, wantDesc: "Forbidden: bot was kicked from the supergroup chat"},
		{name: "chat not found", rule: Rule{Kind: KindChatNotFound}, chat: tg.Username("@gone"),
			wantCode: 400, wantDesc: "Bad Request: chat not found"},
		{name: "migrate derived", rule: Rule{Kind: KindMigrate}, chat: tg.ID(-123),
			wantCode: 400, wantDesc: "Bad Request: group chat was upgraded to a supergroup chat",
			check: func(t *testing.T, e *tu.Error) {
				if e.Parameters == nil || e.Parameters.MigrateToChatID != -1000000000123 {
					t.Errorf("parameters = %+v", e.Parameters)
				}
			}},
		{name: "migrate explicit", rule: Rule{Kind: KindMigrate, Chat: "-42", MigrateTo: -1009999999999}, chat: tg.ID(-42),
			wantCode: 400, wantDesc: "Bad Request: group chat was upgraded to a supergroup chat",
			check: func(t *testing.T, e *tu.Error) {
				if e.Parameters == nil || e.Parameters.MigrateToChatID != -1009999999999 {
					t.Errorf("parameters = %+v", e.Parameters)
				}
			}},
		{name: "unauthorized", rule: Rule{Kind: KindUnauthorized}, chat: tg.ID(1),
			wantCode: 401, wantDesc: "Unauthorized"},
		{name: "description override", rule: Rule{Kind: KindBlocked, Description: "Forbidden: bot can't initiate conversation with a user"},
			chat: tg.ID(1), wantCode: 403, wantDesc: "Forbidden: bot can't initiate conversation with a user"},
		{name: "500", rule: Rule{Kind: KindServerError}, chat: tg.ID(1), wantErr: "internal server error: 500"},
		{name: "502", rule: Rule{Kind: KindBadGateway}, chat: tg.ID(1), wantErr: "internal server error: 502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, Config{})
			s.AddRule(tt.rule)
			b := newBot(t, s, token1)
			_, err := b.SendMessage(ctx(t), tg.Message(tt.chat, "x"))
			if err == nil {
				t.Fatal("SendMessage succeeded")
			}
			var e *tu.Error
			isAPI := errors.As(err, &e)
			if tt.wantCode == 0 {
				if isAPI || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want a plain error with %q", err, tt.wantErr)
				}
			} else {
				if !isAPI {
					t.Fatalf("err = %v, want *telegoapi.Error", err)
				}
				if e.ErrorCode != tt.wantCode || e.Description != tt.wantDesc {
					t.Errorf("got %d %q, want %d %q", e.ErrorCode, e.Description, tt.wantCode, tt.wantDesc)
				}
				if tt.check != nil {
					tt.check(t, e)
				}
			}
			if strings.Contains(err.Error(), token1) {
				t.Errorf("error contains the token: %v", err)
			}
			st := s.Stats()
			if st.Delivered != 0 || s.Count() != 0 || st.Faults[tt.rule.Kind] != 1 {
				t.Errorf("stats = %+v", st)
			}
			checkConsistent(t, st)
		})
	}
}

func TestMigrateThenNewID(t *testing.T) {
	t.Parallel()
	for _, rule := range []Rule{
		{Kind: KindMigrate, Chat: "-123"},
		{Kind: KindMigrate}, // any basic group
		{Kind: KindMigrate, MigrateTo: -1000000000123},
	} {
		s := start(t, Config{})
		s.AddRule(rule)
		b := newBot(t, s, token1)
		for range 2 { // the old id keeps failing
			_, err := send(ctx(t), b, tg.ID(-123), "old")
			e := apiError(t, err)
			if e.Parameters == nil || e.Parameters.MigrateToChatID != -1000000000123 {
				t.Fatalf("rule %+v: %v", rule, e)
			}
		}
		msg, err := send(ctx(t), b, tg.ID(-1000000000123), "new")
		if err != nil || msg.Chat.Type != "supergroup" {
			t.Errorf("rule %+v: send to new id: %v %+v", rule, err, msg)
		}
	}
}

func TestRuleMatching(t *testing.T) {
	t.Parallel()
	type call struct {
		token string
		chat  telego.ChatID
		ok    bool
	}
	tests := []struct {
		name  string
		rules []Rule
		calls []call
	}{
		{"times", []Rule{{Kind: KindBlocked, Times: 2}}, []call{
			{token1, tg.ID(1), false}, {token1, tg.ID(2), false}, {token1, tg.ID(1), true}}},
		{"chat", []Rule{{Kind: KindBlocked, Chat: "7"}}, []call{
			{token1, tg.ID(1), true}, {token1, tg.ID(7), false}, {token1, tg.ID(7), false}}},
		{"username case-insensitive", []Rule{{Kind: KindChatNotFound, Chat: "@News"}}, []call{
			{token1, tg.Username("@news"), false}, {token1, tg.Username("@other"), true}}},
		{"bot", []Rule{{Kind: KindUnauthorized, Bot: bot2}}, []call{
			{token1, tg.ID(1), true}, {token2, tg.ID(1), false}}},
		{"first match wins", []Rule{{Kind: KindLatency, Chat: "1"}, {Kind: KindBlocked}}, []call{
			{token1, tg.ID(1), true}, {token1, tg.ID(2), false}}},
		{"method getMe only", []Rule{{Kind: KindServerError, Method: "getMe"}}, []call{
			{token1, tg.ID(1), true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, Config{})
			for _, r := range tt.rules {
				s.AddRule(r)
			}
			for i, c := range tt.calls {
				_, err := send(ctx(t), newBot(t, s, c.token), c.chat, "x")
				if (err == nil) != c.ok {
					t.Errorf("call %d: err = %v, want ok %v", i, err, c.ok)
				}
			}
			checkConsistent(t, s.Stats())
		})
	}
}

func TestRuleProbabilitySeeded(t *testing.T) {
	t.Parallel()
	run := func() (failures []int) {
		s := start(t, Config{Seed: 42})
		id := s.AddRule(Rule{Kind: KindBlocked, Probability: 0.3})
		b := newBot(t, s, token1)
		for i := range 200 {
			if _, err := send(ctx(t), b, tg.ID(1), "p"); err != nil {
				failures = append(failures, i)
			}
		}
		if got := s.Stats().Faults[KindBlocked]; got != len(failures) {
			t.Errorf("Faults = %d, failures = %d", got, len(failures))
		}
		if r := s.Rules(); len(r) != 1 || r[0].ID != id || r[0].Hits != len(failures) {
			t.Errorf("Rules = %+v", r)
		}
		return failures
	}
	a, b := run(), run()
	if len(a) < 30 || len(a) > 90 {
		t.Errorf("%d of 200 failed with probability 0.3", len(a))
	}
	if len(a) != len(b) {
		t.Fatalf("same seed, different outcomes: %d vs %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different outcomes at %d", i)
		}
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	s := start(t, Config{Latency: 30 * time.Millisecond})
	s.AddRule(Rule{Kind: KindLatency, Latency: 70 * time.Millisecond, Times: 1})
	b := newBot(t, s, token1)
	for _, want := range []time.Duration{100 * time.Millisecond, 30 * time.Millisecond} {
		t0 := time.Now()
		if _, err := send(ctx(t), b, tg.ID(1), "slow"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(t0); d < want {
			t.Errorf("call took %v, want >= %v", d, want)
		}
	}
	if st := s.Stats(); st.Delivered != 2 || st.Faults[KindLatency] != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestTimeoutNeverDelivers(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	s.AddRule(Rule{Kind: KindTimeout, Times: 1})
	b := newBot(t, s, token1)
	short, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err := send(short, b, tg.ID(1), "lost")
	if err == nil {
		t.Fatal("SendMessage succeeded")
	}
	var e *tu.Error
	if errors.As(err, &e) {
		t.Errorf("timeout surfaced as an API error: %v", e)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("client gave up after %v", d)
	}
	if s.Count() != 0 {
		t.Errorf("timeout delivered %d", s.Count())
	}
	if _, err := send(ctx(t), b, tg.ID(1), "next"); err != nil {
		t.Errorf("after Times ran out: %v", err)
	}
}

func TestTimeoutHangEndsWith504(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	s.AddRule(Rule{Kind: KindTimeout, Latency: 50 * time.Millisecond})
	code, body := rawCall(t, "POST", s.URL()+"/bot"+token1+"/sendMessage", "application/json", `{"chat_id":1,"text":"x"}`)
	if code != 504 || !strings.Contains(body, "504 Gateway Time-out") {
		t.Errorf("got %d %q", code, body)
	}
}

func TestCloseReleasesHungRequests(t *testing.T) {
	t.Parallel()
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	s.AddRule(Rule{Kind: KindTimeout})
	// Dial directly so we know the request is in before closing.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("GET /bot" + token1 + "/sendMessage?chat_id=1&text=x HTTP/1.1\r\nHost: x\r\n\r\n"))
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Faults[KindTimeout] == 0 { // bounded wait for the handler
		if time.Now().After(deadline) {
			t.Fatal("request never reached the rule")
		}
		time.Sleep(time.Millisecond)
	}
	shut, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	t0 := time.Now()
	if err := s.Shutdown(shut); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("hung request got a reply: n=%d err=%v", n, err)
	}
}

func TestDropAfterDeliver(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	s.AddRule(Rule{Kind: KindDropAfterDeliver, Times: 1})
	b := newBot(t, s, token1)
	_, err := send(ctx(t), b, tg.ID(1), "reply lost")
	if err == nil {
		t.Fatal("SendMessage succeeded")
	}
	var e *tu.Error
	if errors.As(err, &e) {
		t.Errorf("dropped reply surfaced as an API error: %v", e)
	}
	msgs := s.Messages()
	if len(msgs) != 1 || msgs[0].Text != "reply lost" {
		t.Fatalf("recorded %+v", msgs)
	}
	msg, err := send(ctx(t), b, tg.ID(1), "next")
	if err != nil || msg.MessageID != 2 {
		t.Errorf("next send: %v %+v", err, msg)
	}
	if st := s.Stats(); st.Delivered != 2 || st.Faults[KindDropAfterDeliver] != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRuleJSONAndValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Rule
		wantErr bool // decoding or validation
	}{
		{`{"kind":"latency","latency":"150ms"}`, Rule{Kind: KindLatency, Latency: 150 * time.Millisecond}, false},
		{`{"kind":"latency","latency":1000}`, Rule{Kind: KindLatency, Latency: 1000}, false},
		{`{"kind":"429","chat":-100123,"retry_after":3,"times":2}`, Rule{Kind: KindTooManyRequests, Chat: "-100123", RetryAfter: 3, Times: 2}, false},
		{`{"kind":"migrate","chat":"-5","migrate_to":-1005}`, Rule{Kind: KindMigrate, Chat: "-5", MigrateTo: -1005}, false},
		{`{"kind":"nope"}`, Rule{Kind: "nope"}, true},
		{`{"kind":"blocked","probability":2}`, Rule{Kind: KindBlocked, Probability: 2}, true},
		{`{"kind":"blocked","chat":"x"}`, Rule{Kind: KindBlocked, Chat: "x"}, true},
		{`{"kind":"latency","latency":"soon"}`, Rule{}, true},
		{`{"kind":"not_editable","method":"editMessageCaption"}`, Rule{Kind: KindNotEditable, Method: "editMessageCaption"}, false},
		{`{"kind":"blocked","method":"sendphoto"}`, Rule{Kind: KindBlocked, Method: "sendphoto"}, false},
		{`{"kind":"blocked","method":"getMe"}`, Rule{Kind: KindBlocked, Method: "getMe"}, false},
		{`{"kind":"blocked","method":"*"}`, Rule{Kind: KindBlocked, Method: "*"}, false},
		{`{"kind":"blocked","method":"sendFoto"}`, Rule{Kind: KindBlocked, Method: "sendFoto"}, true},
	}
	for _, tt := range tests {
		var r Rule
		err := json.Unmarshal([]byte(tt.in), &r)
		if err == nil {
			err = r.Validate()
		}
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v, want error %v", tt.in, err, tt.wantErr)
		}
		if err == nil && r != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.in, r, tt.want)
		}
		if err == nil { // round trip
			b, _ := json.Marshal(r)
			var back Rule
			if err := json.Unmarshal(b, &back); err != nil || back != r {
				t.Errorf("round trip %s: %v %+v", b, err, back)
			}
		}
	}
	for _, k := range FaultKinds() {
		if err := (Rule{Kind: k}).Validate(); err != nil {
			t.Errorf("kind %q: %v", k, err)
		}
	}
}
