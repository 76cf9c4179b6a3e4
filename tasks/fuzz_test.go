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
// validator that workers run on every task (and the HTTP API on every body),
// and to every other payload decoder (see checkDecoders), so that CI's short
// run covers them all; the corpus holds payloads of every task type.
// Invariants of ParseSendMessage:
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
		checkDecoders(t, data)
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

// checkRefusal fails unless a decoder either accepted the payload or refused
// it with one of the package's classified errors, not both.
func checkRefusal(t *testing.T, name string, accepted bool, err error) {
	t.Helper()
	if accepted == (err != nil) {
		t.Fatalf("%s: accepted=%v with error %v", name, accepted, err)
	}
	var ve *tasks.ValidationError
	if err != nil && !errors.As(err, &ve) && !errors.Is(err, tasks.ErrMalformedPayload) {
		t.Fatalf("%s: unclassified error %T: %v", name, err, err)
	}
}

// checkDecoders runs every payload decoder on data. Invariants:
//
//   - no panic, and every refusal is classified (see checkRefusal);
//   - a payload any decoder accepts is in the strict form: valid UTF-8, one
//     JSON object, nothing after it;
//   - what ParseSendMessage or ParseSendMessages accepts, ReadOrderKey reads
//     the same bot and chat from, and DecodeSendMessage decodes the same;
//   - an accepted payload makes a task, and its encoding is stable across a
//     decode.
func checkDecoders(t *testing.T, data []byte) {
	t.Helper()
	strict := utf8.Valid(data) && json.Valid(data) && bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{"))
	accepted := func(name string, ok bool, err error) bool {
		t.Helper()
		checkRefusal(t, name, ok, err)
		if ok && !strict {
			t.Fatalf("%s accepted a payload not in the strict form: %q", name, data)
		}
		return ok
	}
	key, err := tasks.ReadOrderKey(data)
	keyOK := accepted("ReadOrderKey", err == nil, err)

	decoded, err := tasks.DecodeSendMessage(data)
	accepted("DecodeSendMessage", decoded != nil, err)
	if m, err := tasks.ParseSendMessage(data); accepted("ParseSendMessage", m != nil, err) {
		if !reflect.DeepEqual(m, decoded) {
			t.Fatalf("ParseSendMessage %+v, DecodeSendMessage %+v", m, decoded)
		}
		if want := tasks.OrderKeyOf(m.BotName(), m.ChatID.String()); !keyOK || key != want {
			t.Fatalf("ReadOrderKey = %+v (ok %v), want %+v", key, keyOK, want)
		}
	}

	if r, err := tasks.ParseSendMessages(data); accepted("ParseSendMessages", r != nil, err) {
		if want := tasks.OrderKeyOf(r.BotName(), r.ChatID.String()); !keyOK || key != want {
			t.Fatalf("ReadOrderKey = %+v (ok %v), want %+v", key, keyOK, want)
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("accepted reply fails Validate: %v", err)
		}
		for i, p := range r.Parts {
			if p.BotName() != r.BotName() || p.ChatID != r.ChatID {
				t.Fatalf("part %d goes to %s/%s, the reply to %s/%s", i, p.BotName(), p.ChatID.String(), r.BotName(), r.ChatID.String())
			}
		}
		if _, err := tasks.NewSendMessagesTask(r); err != nil {
			t.Fatalf("accepted reply makes no task: %v", err)
		}
		stableEncoding(t, r, func(b []byte) (any, error) { return tasks.ParseSendMessages(b) })
	}

	if c, err := tasks.ParseBroadcastChunk(data); accepted("ParseBroadcastChunk", c != nil, err) {
		if _, err := tasks.NewBroadcastChunkTask(c); err != nil {
			t.Fatalf("accepted chunk makes no task: %v", err)
		}
		stableEncoding(t, c, func(b []byte) (any, error) { return tasks.ParseBroadcastChunk(b) })
	}

	if m, err := tasks.ParseBroadcastMessage(data); accepted("ParseBroadcastMessage", m != nil, err) {
		if !reflect.DeepEqual(m, decoded) {
			t.Fatalf("ParseBroadcastMessage %+v, DecodeSendMessage %+v", m, decoded)
		}
		if err := tasks.ValidateBroadcastMessage(m); err != nil {
			t.Fatalf("accepted broadcast message fails validation: %v", err)
		}
		stableEncoding(t, m, func(b []byte) (any, error) { return tasks.ParseBroadcastMessage(b) })
	}
}

// stableEncoding checks that v encodes to JSON that parse accepts and that
// encodes again to the same bytes.
func stableEncoding(t *testing.T, v any, parse func([]byte) (any, error)) {
	t.Helper()
	enc, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	v2, err := parse(enc)
	if err != nil {
		t.Fatalf("re-encoded %T rejected: %v\nencoded: %s", v, err, enc)
	}
	enc2, err := json.Marshal(v2)
	if err != nil {
		t.Fatalf("encode %T: %v", v2, err)
	}
	if !bytes.Equal(enc, enc2) {
		t.Fatalf("%T encoding is not stable:\n%s\n%s", v, enc, enc2)
	}
}
