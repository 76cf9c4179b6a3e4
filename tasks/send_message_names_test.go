package tasks

import (
	"regexp"
	"strings"
	"testing"
)

// The regexps validName and validUsername stand for; the tests check the
// loops against them.
var (
	nameRE     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	usernameRE = regexp.MustCompile(`^@[A-Za-z][A-Za-z0-9_]{3,31}$`)
)

func TestValidNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in             string
		name, username bool
	}{
		{"", false, false},
		{"a", true, false},
		{"default", true, false},
		{"alerts-2_B", true, false},
		{strings.Repeat("a", 64), true, false},
		{strings.Repeat("a", 65), false, false},
		{"123:token", false, false},
		{"a b", false, false},
		{"a\n", false, false},
		{"é", false, false},
		{"@", false, false},
		{"@abc", false, false},
		{"@abcd", false, true},
		{"@my_channel", false, true},
		{"@A123", false, true},
		{"@1abc", false, false},
		{"@_abc", false, false},
		{"@ab-cd", false, false},
		{"@" + strings.Repeat("a", 32), false, true},
		{"@" + strings.Repeat("a", 33), false, false},
		{"@abcd\n", false, false},
		{"@[bcd", false, false},
		{"@`bcd", false, false},
		{"@{bcd", false, false},
		{"`{[@", false, false},
	}
	for _, tt := range tests {
		if got := validName(tt.in); got != tt.name || got != nameRE.MatchString(tt.in) {
			t.Errorf("validName(%q) = %v, want %v", tt.in, got, tt.name)
		}
		if got := validUsername(tt.in); got != tt.username || got != usernameRE.MatchString(tt.in) {
			t.Errorf("validUsername(%q) = %v, want %v", tt.in, got, tt.username)
		}
	}
}

// FuzzValidNames checks the hand-written name checks against the regexps.
func FuzzValidNames(f *testing.F) {
	for _, s := range []string{"", "default", "@my_channel", "@1abc", "123:token", strings.Repeat("a", 64), "@[x]_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validName(s), nameRE.MatchString(s); got != want {
			t.Fatalf("validName(%q) = %v, the regexp says %v", s, got, want)
		}
		if got, want := validUsername(s), usernameRE.MatchString(s); got != want {
			t.Fatalf("validUsername(%q) = %v, the regexp says %v", s, got, want)
		}
	})
}
