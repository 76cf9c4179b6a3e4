package tasks

import (
	"encoding/json"
	"testing"
)

// FuzzDuplicateKey checks the one-pass duplicateKey against the
// token-decoding duplicateKeyDecoded on every valid JSON object.
func FuzzDuplicateKey(f *testing.F) {
	for _, s := range []string{
		`{"chat_id":1,"text":"x"}`,
		`{"chat_id":1,"CHAT_ID":2}`,
		`{"a":{"b":1,"B":2},"c":[{"d":1},{"d":2}]}`,
		`{"text":"a\"},{\"x\":1","x":2}`,
		`{"\u0063":1,"c":2}`,
		`{"diſable":1,"disable":2}`,
		`{"a":[[{"k":1}],{"k":2,"k":3}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v map[string]any
		if json.Unmarshal(b, &v) != nil {
			return // duplicateKey runs on decoded objects only
		}
		fast, slow := duplicateKey(b), duplicateKeyDecoded(b)
		if (fast == nil) != (slow == nil) {
			t.Fatalf("%s: duplicateKey %v, duplicateKeyDecoded %v", b, fast, slow)
		}
	})
}
