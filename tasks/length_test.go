package tasks_test

import (
	"testing"
	"unicode/utf16"

	"github.com/telequeue/telequeue/tasks"
)

// utf16LenOfRunes is UTF16Len as a range loop over the runes, each invalid
// byte read as U+FFFD: what UTF16Len's ASCII shortcut must agree with.
func utf16LenOfRunes(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

func TestUTF16Len(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"hello", 5},
		{"привет", 6},
		{"😀", 2},
		{"a😀b", 4},
		{"\xff", 1},         // one invalid byte is one U+FFFD
		{"\xf0\x9f\x98", 3}, // a truncated sequence is U+FFFD a byte
		{"\xed\xa0\x80", 3}, // an encoded surrogate is not valid UTF-8
		{"a\x00b", 3},
	}
	for _, tt := range tests {
		if got := tasks.UTF16Len(tt.in); got != tt.want || got != utf16LenOfRunes(tt.in) {
			t.Errorf("UTF16Len(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func FuzzUTF16Len(f *testing.F) {
	for _, s := range []string{"", "hello", "привет 😀", "\xff\xf0\x9f\x98", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := tasks.UTF16Len(s), utf16LenOfRunes(s); got != want {
			t.Fatalf("UTF16Len(%q) = %d, a range loop counts %d", s, got, want)
		}
	})
}
