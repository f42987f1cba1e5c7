package fault

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/roles"

	internalproc "github.com/tbctl/tbctl/internal/proc"
)

// States of a fault in the journal.
const (
	StateApplying = "applying" // journaled, being applied: revert it if found so
	StateApplied  = "applied"  // applied and verified
	StateReverted = "reverted" // reverted and verified
	StateFailed   = "failed"   // could not be applied; whatever was done was undone
)

// Fault is one fault as the journal records it. Every state change appends
// the whole record; the last line for an ID is its state.
type Fault struct {
	ID        string            `json:"id"`
	Code      string            `json:"code"`
	Target    string            `json:"target"`
	Params    map[string]string `json:"params,omitempty"`
	Mechanism string            `json:"mechanism,omitempty"`
	State     string            `json:"state"`
	Verified  bool              `json:"verified"`
	Detail    string            `json:"detail,omitempty"` // what verification read back
	Error     string            `json:"error,omitempty"`
	// Undo is how to revert it, written before it is applied, so any later
	// tbctl can revert it.
	Undo []Step `json:"undo,omitempty"`
	// Owner, when set, is the tbctl process that holds the fault: the fault
	// ends with it, and a tbctl that finds the owner dead reverts it.
	Owner *Owner `json:"owner,omitempty"`
	Time  string `json:"time"`
	Mono  int64  `json:"mono_ns"`
}

// Owner identifies a process across PID reuse by its start time.
type Owner struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"` // field 22 of /proc/PID/stat
}

func self() *Owner {
	return &Owner{PID: os.Getpid(), Start: startTime(os.Getpid())}
}

// Alive tells whether the owner process still runs.
func (o *Owner) Alive() bool {
	return o != nil && startTime(o.PID) == o.Start && o.Start != 0
}

// startTime is a process's start time, 0 when it is gone.
func startTime(pid int) uint64 {
	start, _, _ := internalproc.Stat(pid)
	return start
}

// journal is a lab's fault journal: JSON lines, synced after each line.
type journal struct{ path string }

func openJournal(dir string) *journal { return &journal{path: filepath.Join(dir, "faults.jsonl")} }

// lock takes the journal's exclusive lock.
func (j *journal) lock() (func(), error) {
	f, err := os.OpenFile(j.path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// write appends the fault's current record and syncs it to disk.
func (j *journal) write(f *Fault) error {
	f.Time = time.Now().UTC().Format(time.RFC3339Nano)
	f.Mono = roles.MonotonicNS()
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	out, err := os.OpenFile(j.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open fault journal: %w", err)
	}
	defer out.Close()
	if _, err := out.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("write fault journal: %w", err)
	}
	return out.Sync()
}

// history returns every record in order.
func (j *journal) history() ([]*Fault, error) {
	f, err := os.Open(j.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []*Fault
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec Fault
		if json.Unmarshal(sc.Bytes(), &rec) == nil {
			out = append(out, &rec)
		}
	}
	return out, sc.Err()
}

// current returns the last record of every fault, by ID order.
func (j *journal) current() ([]*Fault, error) {
	hist, err := j.history()
	if err != nil {
		return nil, err
	}
	last := map[string]*Fault{}
	for _, f := range hist {
		last[f.ID] = f
	}
	out := make([]*Fault, 0, len(last))
	for _, f := range last {
		out = append(out, f)
	}
	sort.Slice(out, func(a, b int) bool { return idNum(out[a].ID) < idNum(out[b].ID) })
	return out, nil
}

func (j *journal) nextID() (string, error) {
	cur, err := j.current()
	if err != nil {
		return "", err
	}
	n := 0
	for _, f := range cur {
		n = max(n, idNum(f.ID))
	}
	return "f" + strconv.Itoa(n+1), nil
}

func idNum(id string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(id, "f"))
	return n
}

// Active reports whether the fault may be in effect.
func (f *Fault) Active() bool { return f.State == StateApplying || f.State == StateApplied }
