package remote

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"

	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider/remote/facts"
	"github.com/tbctl/tbctl/testbed/provider/remote/sshx"
	"github.com/tbctl/tbctl/testbed/provider/remote/wire"
)

// state is what the controller records of a remote lab, in the lab's
// directory, before anything is made on a host: enough to reach every
// host again and remove the lab there, also from another tbctl process
// after this one was killed.
type state struct {
	Mode  string       `json:"mode"`
	Hosts []*hostState `json:"hosts"`
}

// hostState is one host of a lab.
type hostState struct {
	Target   sshx.Target       `json:"target"`
	Sub      string            `json:"lab"` // the host's own lab
	Nodes    []string          `json:"nodes"`
	Underlay string            `json:"underlay,omitempty"`
	Tunnels  []*wire.Tunnel    `json:"tunnels,omitempty"`
	Facts    json.RawMessage   `json:"facts,omitempty"`
	Clock    facts.Offset      `json:"clock"`
	Timings  map[string]string `json:"timings,omitempty"` // deploy step → duration
}

// dir is the host's directory for the lab.
func (h *hostState) dir() string { return path.Join(HostLabs, h.Sub) }

const stateFile = "remote.json"

func saveState(l *lab.Lab, st *state) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := l.Path(stateFile + ".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, l.Path(stateFile))
}

// loadState reads a lab's state; a lab without one made nothing remote.
func loadState(l *lab.Lab) (*state, error) {
	data, err := os.ReadFile(l.Path(stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", l.Path(stateFile), err)
	}
	return &st, nil
}

// hostOf returns the host that runs node.
func (st *state) hostOf(node string) (*hostState, error) {
	for _, h := range st.Hosts {
		for _, n := range h.Nodes {
			if n == node {
				return h, nil
			}
		}
	}
	return nil, fmt.Errorf("node %s is on none of the lab's hosts", node)
}

func (st *state) targets() []sshx.Target {
	var ts []sshx.Target
	for _, h := range st.Hosts {
		ts = append(ts, h.Target)
	}
	return ts
}

func (st *state) host(name string) *hostState {
	for _, h := range st.Hosts {
		if h.Target.Name == name {
			return h
		}
	}
	return nil
}
