// Package agent is what tbctl does on a remote host for the controller:
// it joins the host's share of a lab to the other hosts with VXLAN tunnels,
// and runs role instances under a watch that stops them when the
// controller's SSH session ends. The `tbctl remote` commands call it; they
// run on the host, started by the remote provider over SSH.
//
// It touches only the tunnel devices it is asked to make (marked with the
// host lab's alias, so that destroy there removes them) and the processes
// it starts.
package agent
