// Package wire is what the remote provider on the controller and tbctl on
// a host say to each other: the tunnels a host makes, the fault requests
// and replies of `tbctl remote faults`, and the messages of `tbctl remote
// collect`. It holds types only.
package wire

import (
	"github.com/tbctl/tbctl/collectors"
	"github.com/tbctl/tbctl/testbed/fault"
)

// Tunnel is one end of a link between nodes on two hosts: a veth from the
// node to the host (Veth), bridged to a VXLAN device (VXLAN) that reaches
// the other host. It is what `tbctl remote tunnel` makes on a host.
type Tunnel struct {
	Lab    string `json:"lab"` // the host's lab, whose alias marks the devices
	Veth   string `json:"veth"`
	Bridge string `json:"bridge"`
	VXLAN  string `json:"vxlan"`
	VNI    int    `json:"vni"`
	Remote string `json:"remote"` // the other host's underlay address
	Port   int    `json:"port"`
	MTU    int    `json:"mtu"`
}

// FaultRequest is one line the controller sends to `tbctl remote faults`.
type FaultRequest struct {
	Op     string            `json:"op"` // inject, clear, list, ping
	Code   string            `json:"code,omitempty"`
	Target string            `json:"target,omitempty"`
	Params map[string]string `json:"params,omitempty"`
	ID     string            `json:"id,omitempty"`
}

// FaultReply is the answer to one request.
type FaultReply struct {
	Faults []*fault.Fault `json:"faults,omitempty"`
	Error  string         `json:"error,omitempty"`
}

// CollectInstance is one line the controller sends to `tbctl remote
// collect`: a role instance started on the host, to put in its node's
// cgroup and scrape.
type CollectInstance struct {
	Node     string `json:"node"`
	Instance string `json:"instance"`
	PID      int    `json:"pid"`
	Metrics  string `json:"metrics,omitempty"` // host:port, "" for none
}

// CollectMessage is one line `tbctl remote collect` writes: first Ready
// (or Error when it could not start), then samples and timeline events as
// they come, and, once its stdin has ended and it has stopped, Error for
// what failed and Done.
type CollectMessage struct {
	Ready   bool                `json:"ready,omitempty"`
	Samples []collectors.Sample `json:"samples,omitempty"`
	Event   string              `json:"event,omitempty"`
	Fields  map[string]any      `json:"fields,omitempty"`
	Error   string              `json:"error,omitempty"`
	Done    bool                `json:"done,omitempty"`
}
