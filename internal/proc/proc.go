// Package proc reads what tbctl needs from /proc: when a process started,
// so that a recorded PID is not mistaken for a later process that reused
// it, and its state (/proc/PID/stat); and lines of files such as
// /proc/cpuinfo and /proc/meminfo.
package proc

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Stat returns a process's start time (field 22 of /proc/PID/stat, in
// clock ticks since boot) and state letter (field 3: R, S, T, Z, ...).
func Stat(pid int) (start uint64, state byte, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return start, f[0][0], err
}

// Field returns the value of the "key: value" line of a /proc file such
// as /proc/cpuinfo or /proc/meminfo, trimmed; "" when there is none.
func Field(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
