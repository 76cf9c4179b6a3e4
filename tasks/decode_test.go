package tasks_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/telequeue/telequeue/tasks"
)

// decoders are every task-payload decoder of the package, each with a valid
// payload of its type. They all go through one strict decoder; this table
// keeps them honest.
// badUTF8 is the valid payload with an invalid byte in a string field.
var decoders = []struct {
	name    string
	decode  func([]byte) error
	valid   string
	badUTF8 string
}{
	{"ParseSendMessage", func(b []byte) error { _, err := tasks.ParseSendMessage(b); return err },
		`{"chat_id":42,"text":"hi"}`, "{\"chat_id\":42,\"text\":\"h\xffi\"}"},
	{"DecodeSendMessage", func(b []byte) error { _, err := tasks.DecodeSendMessage(b); return err },
		`{"chat_id":42,"text":"hi"}`, "{\"chat_id\":42,\"text\":\"h\xffi\"}"},
	{"ParseSendMessages", func(b []byte) error { _, err := tasks.ParseSendMessages(b); return err },
		`{"chat_id":42,"parts":[{"text":"a"},{"text":"b"}]}`, "{\"chat_id\":42,\"parts\":[{\"text\":\"a\"},{\"text\":\"b\xff\"}]}"},
	{"ParseBroadcastChunk", func(b []byte) error { _, err := tasks.ParseBroadcastChunk(b); return err },
		`{"broadcast":"abc","chunk":3}`, "{\"broadcast\":\"a\xffc\",\"chunk\":3}"},
	{"ParseBroadcastMessage", func(b []byte) error { _, err := tasks.ParseBroadcastMessage(b); return err },
		`{"text":"hi","bot":"alerts"}`, "{\"text\":\"h\xffi\",\"bot\":\"alerts\"}"},
	{"ReadOrderKey", func(b []byte) error { _, err := tasks.ReadOrderKey(b); return err },
		`{"chat_id":42,"text":"hi"}`, "{\"chat_id\":42,\"text\":\"h\xffi\"}"},
}

func TestDecodersAreStrict(t *testing.T) {
	t.Parallel()
	// Every payload refused here is refused as a whole: the error wraps
	// ErrMalformedPayload.
	cases := []struct {
		name   string
		mangle func(valid, badUTF8 string) string
		ok     bool
	}{
		{"valid", func(v, _ string) string { return v }, true},
		{"trailing whitespace", func(v, _ string) string { return v + " \n\t\r\n" }, true},
		{"leading whitespace", func(v, _ string) string { return "\n " + v }, true},
		{"invalid UTF-8 in a string", func(_, bad string) string { return bad }, false},
		{"invalid UTF-8 after the object", func(v, _ string) string { return v + "\xff" }, false},
		{"trailing }", func(v, _ string) string { return v + "}" }, false},
		{"trailing ]", func(v, _ string) string { return v + "]" }, false},
		{"two JSON values", func(v, _ string) string { return v + v }, false},
		{"two JSON values, spaced", func(v, _ string) string { return v + "\n" + v }, false},
		{"trailing garbage", func(v, _ string) string { return v + "xyz" }, false},
		{"trailing number", func(v, _ string) string { return v + " 1" }, false},
		{"truncated", func(v, _ string) string { return v[:len(v)-1] }, false},
		{"null", func(_, _ string) string { return "null" }, false},
		{"array", func(v, _ string) string { return "[" + v + "]" }, false},
		{"empty", func(_, _ string) string { return "" }, false},
		{"duplicate key", func(v, _ string) string { return v[:len(v)-1] + "," + v[1:] }, false},
	}
	for _, d := range decoders {
		for _, c := range cases {
			t.Run(d.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				in := c.mangle(d.valid, d.badUTF8)
				err := d.decode([]byte(in))
				if c.ok {
					if err != nil {
						t.Fatalf("%q: %v", in, err)
					}
					return
				}
				if !errors.Is(err, tasks.ErrMalformedPayload) {
					t.Fatalf("%q: got %v, want an error wrapping ErrMalformedPayload", in, err)
				}
			})
		}
	}
}

// TestDecodersRejectUnknownFields: every decoder refuses a field it does not
// know (ReadOrderKey one that neither payload it reads has).
func TestDecodersRejectUnknownFields(t *testing.T) {
	t.Parallel()
	for _, d := range decoders {
		in := d.valid[:len(d.valid)-1] + `,"colour":"red"}`
		var ve *tasks.ValidationError
		if err := d.decode([]byte(in)); !errors.As(err, &ve) || ve.Field != "colour" {
			t.Errorf("%s(%s) = %v, want a ValidationError on colour", d.name, in, err)
		}
	}
}

// TestDuplicateKeys: encoding/json keeps the last of two equal keys and
// matches keys to fields ignoring case, so a payload naming a key twice
// could mean one chat to one reader and another to the next: refused, at
// any depth.
func TestDuplicateKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"distinct keys", `{"chat_id":1,"text":"x","entities":[{"type":"bold","offset":0,"length":1}]}`, true},
		{"same key in sibling objects", `{"chat_id":1,"parts":[{"text":"a"},{"text":"b"}]}`, true},
		{"same key at two depths", `{"chat_id":1,"text":"x","reply_parameters":{"chat_id":2,"message_id":1}}`, true},
		{"key equal to a string value", `{"chat_id":1,"text":"text"}`, true},
		{"duplicate chat_id", `{"chat_id":1,"chat_id":"@other_channel","text":"x"}`, false},
		{"duplicate in another case", `{"chat_id":1,"CHAT_ID":2,"text":"x"}`, false},
		{"duplicate by Unicode folding", `{"chat_id":1,"text":"x","disable_notification":true,"diſable_notification":false}`, false},
		{"duplicate in a nested object", `{"chat_id":1,"text":"x","reply_parameters":{"message_id":1,"message_id":2}}`, false},
		{"duplicate in an array's object", `{"chat_id":1,"parts":[{"text":"a"},{"text":"b","TEXT":"c"}]}`, false},
		{"duplicate in reply_markup", `{"chat_id":1,"text":"x","reply_markup":{"force_reply":true,"force_reply":false}}`, false},
		{"duplicate written with an escape", `{"chat_id":1,"text":"x","\u0063hat_id":2}`, false},
		{"escaped key, distinct", `{"chat_id":1,"\u0074ext":"x"}`, true},
		{"key-like text inside an escaped string", `{"chat_id":1,"text":"a\"}, {\"chat_id\":2, [\\"}`, true},
		{"duplicate after an escaped string", `{"text":"a\\","chat_id":1,"Chat_Id":2}`, false},
		{"duplicate after an array of objects", `{"entities":[{"type":"bold"},{"type":"code"}],"chat_id":1,"text":"x","chat_id":3}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var err error
			if strings.Contains(tt.in, "parts") {
				_, err = tasks.ParseSendMessages([]byte(tt.in))
			} else {
				_, err = tasks.ParseSendMessage([]byte(tt.in))
			}
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, tasks.ErrMalformedPayload)) {
				t.Fatalf("%s: %v, want ok=%v or ErrMalformedPayload", tt.in, err, tt.ok)
			}
		})
	}
}
