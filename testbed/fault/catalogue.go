// Package fault is tbctl's fault engine: a catalogue of typed faults with
// taxonomy codes, the mechanism that serves each one chosen by what the
// kernel has, a journal written (and synced) before anything is applied,
// and verification after applying and after reverting. It touches only the
// labs it is given: their namespaces' qdiscs, links and nftables tables,
// the processes inside them, and the journal in the lab's directory.
package fault

import "sort"

// Kind is one type of fault in the catalogue.
type Kind struct {
	Code    string  `json:"code"`
	Target  string  `json:"target"` // link | interface | node | nodes | role
	Summary string  `json:"summary"`
	Params  []Param `json:"params,omitempty"`
	// Field names the failure class of published studies it stands for.
	Field string `json:"field"`
}

// Param documents one parameter of a fault.
type Param struct {
	Name    string `json:"name"`
	Type    string `json:"type"` // duration, percent, number, string, nodes
	Default string `json:"default,omitempty"`
	Help    string `json:"help"`
}

// Target kinds.
const (
	OnLink      = "link"      // "a:eth1" names the link through one of its ends
	OnInterface = "interface" // "a:eth1"
	OnNode      = "node"      // "a"
	OnNodes     = "nodes"     // "a,b|c,d": two sets
	OnRole      = "role"      // a role instance of the lab's supervisor
)

var catalogue = []Kind{
	{Code: "net.link_down", Target: OnLink, Summary: "take a link down at both ends", Field: "link failure (cable, transceiver, switch port)"},
	{Code: "net.link_flap", Target: OnLink, Summary: "take a link down and up repeatedly (needs --for)", Field: "link flap",
		Params: []Param{{"period", "duration", "2s", "one down-up cycle"}, {"duty", "percent", "50", "share of the period the link is down"}}},
	{Code: "host.nic_down", Target: OnInterface, Summary: "take one interface of a (multi-NIC) node down", Field: "NIC failure"},
	{Code: "switch.down", Target: OnNode, Summary: "take every port of a bridge (switch) node down", Field: "switch failure"},
	{Code: "net.rate", Target: OnInterface, Summary: "limit the rate leaving an interface (token bucket)", Field: "degraded link (congestion, lane loss)",
		Params: []Param{{"mbps", "number", "", "rate in Mbit/s"}, {"queue", "duration", "20ms", "queue size, as the time it takes to drain"}}},
	{Code: "net.delay", Target: OnLink, Summary: "delay every packet on a link, each way, with optional jitter", Field: "high latency (long or congested path, bufferbloat)",
		Params: []Param{{"delay", "duration", "", "added to every packet, each way"}, {"jitter", "duration", "0s", "spread of the delay"}, {"distribution", "string", "normal", "normal or uniform"}}},
	{Code: "net.reorder", Target: OnLink, Summary: "send a share of packets at once while the rest are delayed, each way", Field: "packet reordering (multipath, ECMP imbalance)",
		Params: []Param{{"percent", "percent", "", "share of packets not delayed"}, {"delay", "duration", "", "delay of the others"}}},
	{Code: "net.duplicate", Target: OnLink, Summary: "duplicate a share of packets on a link, each way", Field: "duplicated packets (retransmitting middleboxes, loops)",
		Params: []Param{{"percent", "percent", "", "share of packets sent twice"}}},
	{Code: "net.corrupt", Target: OnLink, Summary: "flip a bit in a share of packets on a link, each way", Field: "bit errors (bad optics, cables, NIC faults)",
		Params: []Param{{"percent", "percent", "", "share of packets damaged"}}},
	{Code: "net.loss_burst", Target: OnLink, Summary: "lose packets in bursts (Gilbert-Elliott model), each way", Field: "bursty loss (flapping optics, congestion drops)",
		Params: []Param{{"p", "percent", "", "chance per packet to enter the bad state"}, {"r", "percent", "", "chance per packet to leave it"}, {"h", "number", "0", "percent of packets delivered in the bad state"}, {"k", "number", "100", "percent delivered in the good state"}}},
	{Code: "net.loss", Target: OnInterface, Summary: "drop a share of the packets leaving an interface, at random", Field: "lossy link (bit errors, bad optics)",
		Params: []Param{{"percent", "percent", "", "share of packets dropped"}}},
	{Code: "net.partition", Target: OnNodes, Summary: "cut all traffic between two sets of nodes", Field: "network partition",
		Params: []Param{{"oneway", "bool", "false", "cut only from the first set to the second"}}},
	{Code: "net.blackhole", Target: OnNode, Summary: "drop what a node sends to a destination (and port)", Field: "routing black hole",
		Params: []Param{{"dst", "string", "", "destination: NODE, NODE:IFACE, address or prefix"}, {"proto", "string", "", "tcp or udp (with port)"}, {"port", "number", "0", "destination port; 0 for any"}}},
	{Code: "node.crash", Target: OnNode, Summary: "kill every process of a node (SIGKILL)", Field: "host crash"},
	{Code: "node.pause", Target: OnNode, Summary: "stop every process of a node (SIGSTOP) until the fault is cleared", Field: "host hang"},
	{Code: "node.cpu_straggler", Target: OnNode, Summary: "cap the CPU of a node's processes (a straggler)", Field: "straggler (slow host, thermal throttling)",
		Params: []Param{{"share", "percent", "", "share of one CPU the node's processes get"}}},
	{Code: "node.mem_pressure", Target: OnNode, Summary: "hold memory in a process of the node, leaving less to everything else", Field: "memory pressure (leaks, oversubscribed hosts)",
		Params: []Param{{"mb", "number", "", "MiB to hold"}}},
	{Code: "role.crash", Target: OnRole, Summary: "kill a role instance (SIGKILL)", Field: "software stack crash"},
	{Code: "role.hang", Target: OnRole, Summary: "stop a role instance (SIGSTOP) until the fault is cleared", Field: "software stack hang (stuck collective, deadlock)"},
}

// Catalogue returns every kind of fault, sorted by code.
func Catalogue() []Kind {
	out := append([]Kind(nil), catalogue...)
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// Lookup returns the kind with the given code.
func Lookup(code string) (Kind, bool) {
	for _, k := range catalogue {
		if k.Code == code {
			return k, true
		}
	}
	return Kind{}, false
}
