package run

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/tbctl/tbctl/testbed/provider/remote"
	"github.com/tbctl/tbctl/testbed/provider/remote/cloud"
)

// SSHWait bounds how long new cloud hosts have to answer over SSH.
var SSHWait = 5 * time.Minute

// CloudDir is where a run directory keeps the stack of its cloud hosts.
const CloudDir = "cloud"

// provision creates the hosts of a remote topology that names a cloud
// module, once for the whole experiment: every run's lab is placed on the
// same hosts. It journals, applies, waits for SSH, and points every plan
// at the inventory the module output. The returned function destroys the
// hosts; `tbctl destroy --cloud DIR/cloud` does the same after an
// interrupted run.
func provision(ctx context.Context, plans []*Plan, dir string, prog Progress) (release func() error, err error) {
	none := func() error { return nil }
	if len(plans) == 0 {
		return none, nil
	}
	r := plans[0].Topology.Remote
	if r == nil || r.Cloud == nil {
		return none, nil
	}
	for _, pl := range plans[1:] {
		if c := pl.Topology.Remote; c == nil || c.Cloud == nil || c.Cloud.Module != r.Cloud.Module {
			return nil, fmt.Errorf("every run of an experiment must use the same cloud module (%s)", r.Cloud.Module)
		}
	}
	stack := filepath.Join(dir, CloudDir)
	release = func() error {
		if prog != nil {
			prog.Phase(len(plans), len(plans), "cloud hosts", "destroy", 0)
		}
		return cloud.Destroy(context.WithoutCancel(ctx), stack)
	}
	if prog != nil {
		prog.Phase(1, len(plans), "cloud hosts", "apply "+filepath.Base(r.Cloud.Module), 0)
	}
	inv, err := cloud.Apply(ctx, cloud.Stack{Module: r.Cloud.Module, Vars: r.Cloud.Vars, Dir: stack})
	if err == nil {
		if prog != nil {
			prog.Phase(1, len(plans), "cloud hosts", "wait for SSH", SSHWait)
		}
		err = remote.WaitForSSH(ctx, inv, SSHWait)
	}
	if err != nil {
		if derr := release(); derr != nil {
			return nil, fmt.Errorf("cloud hosts: %w (destroying them also failed: %v; run `tbctl destroy --cloud %s`)", err, derr, stack)
		}
		return nil, fmt.Errorf("cloud hosts: %w (what was created is destroyed)", err)
	}
	for _, pl := range plans {
		pl.Topology.Remote.Inventory = inv.File
	}
	return release, nil
}
