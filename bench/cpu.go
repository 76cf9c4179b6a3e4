package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ, 100
// on Linux).
const clockTick = 10 * time.Millisecond

// procCPU returns the user+system CPU time a process has used.
func procCPU(pid int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; fields after ')'.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: short stat line", path)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: bad utime/stime", path)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// cpuSnap is the CPU time used so far by the workers, Redis and the bench
// process (which serves the sandbox).
type cpuSnap struct {
	workers, redis, bench time.Duration
}

func (b *bench) cpu(ctx context.Context, g group) (cpuSnap, error) {
	var s cpuSnap
	for _, p := range g {
		d, err := procCPU(p.cmd.Process.Pid)
		if err != nil {
			return s, err
		}
		s.workers += d
	}
	m, err := b.info(ctx, "cpu")
	if err != nil {
		return s, err
	}
	user, _ := strconv.ParseFloat(m["used_cpu_user"], 64)
	sys, _ := strconv.ParseFloat(m["used_cpu_sys"], 64)
	s.redis = time.Duration((user + sys) * float64(time.Second))
	if s.bench, err = procCPU(0); err != nil {
		return s, err
	}
	return s, nil
}

// perMessage is the CPU each part used per message between two snapshots.
func (s cpuSnap) perMessage(to cpuSnap, n int) cpuSnap {
	return cpuSnap{
		workers: (to.workers - s.workers) / time.Duration(n),
		redis:   (to.redis - s.redis) / time.Duration(n),
		bench:   (to.bench - s.bench) / time.Duration(n),
	}
}

func (s cpuSnap) String() string {
	us := func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond)) }
	return fmt.Sprintf("workers %s, redis %s, sandbox+bench %s µs", us(s.workers), us(s.redis), us(s.bench))
}

// loadavg is the first three fields of /proc/loadavg.
func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
