package proctest

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports (sysconf(_SC_CLK_TCK) would
// need cgo).
const clockTicks = 100

// Stat is what /proc/<pid>/stat tells about a process at one moment.
type Stat struct {
	// At is when it was read.
	At time.Time
	// State is the one-letter state: R running, S sleeping, D disk wait,
	// Z zombie, T stopped, …
	State byte
	// CPU is user plus system time used so far, in 10 ms ticks.
	CPU time.Duration
}

// ReadStat reads /proc/<pid>/stat (Linux only).
func ReadStat(pid int) (Stat, error) {
	now := time.Now()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, fmt.Errorf("proctest: %w", err)
	}
	// "pid (comm) state ppid …": comm may hold spaces and parentheses, so
	// fields are counted after the last ')'. utime and stime are fields 14
	// and 15, i.e. the 12th and 13th after comm.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, fmt.Errorf("proctest: /proc/%d/stat: unexpected format", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return Stat{}, fmt.Errorf("proctest: /proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil || len(f[0]) != 1 {
		return Stat{}, fmt.Errorf("proctest: /proc/%d/stat: unexpected format", pid)
	}
	return Stat{At: now, State: f[0][0], CPU: time.Duration(utime+stime) * time.Second / clockTicks}, nil
}

// Stat reads the process's /proc/<pid>/stat.
func (p *Process) Stat() (Stat, error) { return ReadStat(p.PID()) }

// CPUShare returns the share of one core used between two reads of the
// same process: 1.0 means one core busy all the time.
func CPUShare(from, to Stat) float64 {
	wall := to.At.Sub(from.At)
	if wall <= 0 {
		return 0
	}
	return float64(to.CPU-from.CPU) / float64(wall)
}
