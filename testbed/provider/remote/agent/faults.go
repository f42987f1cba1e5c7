package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/fault"
	"github.com/tbctl/tbctl/testbed/provider/remote/wire"
)

// Faults serves the controller's fault requests for the host's lab sub,
// one JSON line in, one out, until in ends. It is the faults' dead-man
// switch on this host: when in ends (the controller's session is gone) or
// no line has come for deadman, it reverts every fault it applied and
// returns. The faults are owned by this process, so if it is killed the
// next tbctl that opens the lab here (destroy, for one) reverts them.
//
// Unless allowSSHCut is set, it refuses faults that would cut the SSH
// session carrying the controller's control of this host.
func Faults(ctx context.Context, sub string, deadman time.Duration, allowSSHCut bool, in io.Reader, out io.Writer) error {
	l, rec, _, err := testbed.Open(sub)
	if err != nil {
		return err
	}
	e := fault.Open(l, rec)
	var path *sshPath
	if !allowSSHCut {
		path = currentSSHPath()
	}
	lines := make(chan []byte)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- append([]byte(nil), sc.Bytes()...)
		}
	}()
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	reply := func(r wire.FaultReply) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(r)
	}
	timer := time.NewTimer(deadman)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				return revertAll(e, "the controller's session ended")
			}
			timer.Reset(deadman)
			var req wire.FaultRequest
			if err := json.Unmarshal(line, &req); err != nil {
				reply(wire.FaultReply{Error: fmt.Sprintf("bad request: %v", err)})
				continue
			}
			if why := path.cuts(rec, req); req.Op == "inject" && why != "" {
				reply(wire.FaultReply{Error: "refused: " + why + "; set remote.allow_ssh_cut: true in the topology to allow it (the host then reverts it " +
					deadman.String() + " after losing the controller)"})
				continue
			}
			reply(serve(ctx, e, req))
		case <-timer.C:
			return revertAll(e, fmt.Sprintf("no word from the controller for %s", deadman))
		case <-ctx.Done():
			return revertAll(e, "stopped")
		}
	}
}

func serve(ctx context.Context, e *fault.Engine, req wire.FaultRequest) wire.FaultReply {
	var r wire.FaultReply
	var err error
	switch req.Op {
	case "ping":
	case "inject":
		var f *fault.Fault
		f, err = e.Inject(ctx, req.Code, req.Target, req.Params, true)
		if f != nil {
			r.Faults = []*fault.Fault{f}
		}
	case "clear":
		if req.ID == "" {
			r.Faults, err = e.ClearOwned()
		} else {
			r.Faults, err = e.Clear(req.ID)
		}
	case "list":
		r.Faults, err = e.List()
	default:
		err = fmt.Errorf("unknown op %q", req.Op)
	}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// revertAll reverts every fault this process applied and has not
// cleared; why says what ended the session, in the error when reverting
// fails.
func revertAll(e *fault.Engine, why string) error {
	if _, err := e.ClearOwned(); err != nil {
		return fmt.Errorf("%s; reverting the faults failed: %w", why, err)
	}
	return nil
}
