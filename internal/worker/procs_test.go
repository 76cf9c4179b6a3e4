package worker

import (
	"runtime"
	"testing"
)

func TestProcs(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want int
	}{
		{"unset", nil, DefaultProcs},
		{"empty", map[string]string{"GOMAXPROCS": ""}, DefaultProcs},
		{"blank", map[string]string{"GOMAXPROCS": " "}, DefaultProcs},
		{"set", map[string]string{"GOMAXPROCS": "4"}, 0},
		{"set to one", map[string]string{"GOMAXPROCS": "1"}, 0},
		// Go ignores a value it cannot use; the worker leaves Go's choice.
		{"invalid", map[string]string{"GOMAXPROCS": "many"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			if got := Procs(lookup); got != tc.want {
				t.Errorf("Procs = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestSetProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })

	runtime.GOMAXPROCS(3)
	if n, fromEnv := SetProcs(func(string) (string, bool) { return "", false }); n != DefaultProcs || fromEnv || runtime.GOMAXPROCS(0) != DefaultProcs {
		t.Errorf("unset: SetProcs = %d, %v; GOMAXPROCS %d; want %d, false", n, fromEnv, runtime.GOMAXPROCS(0), DefaultProcs)
	}
	runtime.GOMAXPROCS(3)
	if n, fromEnv := SetProcs(func(string) (string, bool) { return "3", true }); n != 3 || !fromEnv || runtime.GOMAXPROCS(0) != 3 {
		t.Errorf("set: SetProcs = %d, %v; GOMAXPROCS %d; want 3, true", n, fromEnv, runtime.GOMAXPROCS(0))
	}
}
