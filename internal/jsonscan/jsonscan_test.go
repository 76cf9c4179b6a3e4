package jsonscan

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzString checks String against encoding/json: whatever String reads,
// json.Unmarshal reads as the same string.
func FuzzString(f *testing.F) {
	for _, v := range []string{`"abc"`, `"a\"\\\/\b\f\n\r\t\u00E9"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\u0000"`, `"é"`, `""`, `"\u12"`, `"a`} {
		f.Add([]byte(v))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return // String's callers check first: see its documentation
		}
		s := Scanner{B: b}
		got, ok := s.String()
		if !ok || !s.End() {
			return
		}
		var want string
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("String took %q (%q), encoding/json refuses it: %v", b, got, err)
		}
		if string(got) != want {
			t.Fatalf("String(%q) = %q, encoding/json %q", b, got, want)
		}
	})
}

func TestInt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"-0", 0, true}, {" 42", 42, true}, {"-9223372036854775808", -1 << 63, true},
		{"9223372036854775807", 1<<63 - 1, true}, {"9223372036854775808", 0, false}, {"01", 0, false},
		{"1.5", 0, false}, {"1e3", 0, false}, {"-", 0, false}, {"", 0, false}, {"x", 0, false},
	} {
		s := Scanner{B: []byte(tc.in)}
		if got, ok := s.Int(); got != tc.want || ok != tc.ok {
			t.Errorf("Int(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
