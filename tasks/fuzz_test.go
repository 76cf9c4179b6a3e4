package tasks_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/telequeue/telequeue/tasks"
)

// FuzzParseSendMessage feeds arbitrary bytes to the payload decoder and
// validator that workers run on every task (and the HTTP API on every body).
// Invariants:
//
//   - no panic;
//   - a rejection is a *tasks.ValidationError or wraps ErrMalformedPayload,
//     never a message and an error together;
//   - an accepted message has a chat, valid UTF-8 text of 1 to 4096 visible
//     UTF-16 units, passes Validate, converts to sendMessage parameters and
//     builds a task;
//   - an accepted message re-encodes to JSON that parses again to the same
//     message, and that encoding is stable.
//
// The seed corpus is in testdata/fuzz/FuzzParseSendMessage; plain go test
// runs it. CI fuzzes briefly:
//
//	go test -run='^$' -fuzz='^FuzzParseSendMessage$' -fuzztime=20s -fuzzminimizetime=2s ./tasks/
//
// -fuzzminimizetime matters: the corpus holds 8 KB texts, and minimizing
// each new interesting input for the default 60s stalls a short run.
func FuzzParseSendMessage(f *testing.F) {
	f.Add([]byte(`{"chat_id":42,"text":"hello"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := tasks.ParseSendMessage(data)
		if err != nil {
			if m != nil {
				t.Fatalf("both a message and an error: %v", err)
			}
			var ve *tasks.ValidationError
			if !errors.As(err, &ve) && !errors.Is(err, tasks.ErrMalformedPayload) {
				t.Fatalf("unclassified error %T: %v", err, err)
			}
			return
		}
		if m.ChatID.ID == 0 && m.ChatID.Username == "" {
			t.Fatalf("accepted without a chat: %q", data)
		}
		if !utf8.ValidString(m.Text) {
			t.Fatalf("accepted text is not valid UTF-8: %q", m.Text)
		}
		if n := tasks.VisibleLength(m.Text, m.ParseMode); n < 1 || n > tasks.MaxTextLength {
			t.Fatalf("accepted text has %d visible UTF-16 units", n)
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted message fails Validate: %v", err)
		}
		if _, err := m.Params(m.ChatID); err != nil {
			t.Fatalf("accepted message has no sendMessage parameters: %v", err)
		}
		if _, err := tasks.NewSendMessageTask(m); err != nil {
			t.Fatalf("accepted message makes no task: %v", err)
		}

		enc, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := tasks.ParseSendMessage(enc)
		if err != nil {
			t.Fatalf("re-encoded message rejected: %v\ninput: %q\nencoded: %s", err, data, enc)
		}
		if m2.ChatID != m.ChatID || m2.Text != m.Text || m2.ParseMode != m.ParseMode || m2.BotName() != m.BotName() ||
			m2.Version != m.Version || m2.MessageThreadID != m.MessageThreadID ||
			m2.DisableNotification != m.DisableNotification || m2.ProtectContent != m.ProtectContent ||
			m2.AllowPaidBroadcast != m.AllowPaidBroadcast || len(m2.Entities) != len(m.Entities) {
			t.Fatalf("re-parsed message differs:\nfirst  %+v\nsecond %+v", m, m2)
		}
		enc2, err := json.Marshal(m2)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, enc2)
		}
		m3, err := tasks.ParseSendMessage(enc2)
		if err != nil || !reflect.DeepEqual(m2, m3) {
			t.Fatalf("decoding is not stable: %v\n%+v\n%+v", err, m2, m3)
		}
	})
}
