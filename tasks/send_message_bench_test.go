package tasks_test

import (
	"strings"
	"testing"

	"github.com/telequeue/telequeue/tasks"
)

// commonPayload is the sendMessage payload most tasks carry: an integer
// chat id, a 150-character text, the default bot and the current version.
var commonPayload = []byte(`{"v":1,"bot":"default","chat_id":123456789,"text":"` +
	strings.Repeat("Your order #1234 has shipped. ", 5) + `"}`)

// BenchmarkParseSendMessage measures what a worker spends decoding and
// validating the common payload of every sendMessage task.
func BenchmarkParseSendMessage(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tasks.ParseSendMessage(commonPayload); err != nil {
			b.Fatal(err)
		}
	}
}
