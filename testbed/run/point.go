package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tbctl/tbctl/internal/clock"
	"github.com/tbctl/tbctl/roles"
	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/experiment"
	"github.com/tbctl/tbctl/testbed/fault"
	"github.com/tbctl/tbctl/testbed/gather"
	"github.com/tbctl/tbctl/testbed/instance"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
	"github.com/tbctl/tbctl/testbed/provider/remote"
)

// Point is the outcome of one run: a sweep point and a repetition.
type Point struct {
	Label     string                  `json:"label"`
	Point     int                     `json:"point"` // 0-based sweep point
	Rep       int                     `json:"rep"`   // 1-based
	Values    map[string]any          `json:"values,omitempty"`
	Seed      int64                   `json:"seed"`
	Dir       string                  `json:"dir"`
	Lab       string                  `json:"lab"`
	Status    string                  `json:"status"`
	Error     string                  `json:"error,omitempty"`
	Instances []*instance.Result      `json:"instances"`
	Checks    []Check                 `json:"expectations"`
	Schedule  []*experiment.FaultSpec `json:"schedule,omitempty"` // the faults asked for, chaos draws included
	Faults    []*fault.Fault          `json:"faults,omitempty"`   // ground truth: every fault and how it ended
	Provider  string                  `json:"provider,omitempty"`
	// Mechanisms says how the lab's features were served: the emulation
	// used, and on the containerlab provider its version and node image.
	Mechanisms map[string]string `json:"mechanisms,omitempty"`
	// Machines are the remote hosts the lab ran on: identity, kernel,
	// NICs, clock offset to this machine.
	Machines []*lab.Machine `json:"machines,omitempty"`
	Start    time.Time      `json:"start"`
	End      time.Time      `json:"end"`
}

// runPoint carries out one run and never leaves its lab behind unless keep
// is set.
func runPoint(ctx context.Context, pl *Plan, i, n int, keep bool, prog Progress) *Point {
	pt := &Point{Label: pl.Label(), Point: pl.Point.Index, Rep: pl.Rep, Values: pl.Point.Values, Seed: pl.Seed, Dir: pl.Dir, Lab: pl.Lab, Start: time.Now().UTC()}
	tl, err := openTimeline(pl.Dir)
	if err != nil {
		pt.fail(err)
		return pt
	}
	defer tl.Close()
	phase := func(name string, d time.Duration) {
		tl.Emit("phase", map[string]any{"phase": name})
		if prog != nil {
			prog.Phase(i, n, pt.Label, name, d)
		}
	}
	if err := writeInputs(pl); err != nil {
		pt.fail(err)
		return pt
	}

	phase("deploy", 0)
	rec, err := testbed.Deploy(ctx, testbed.DeployOptions{File: filepath.Join(pl.Dir, "topology.yaml"), Provider: pl.Provider, Name: pl.Lab, Progress: provider.NoProgress{}})
	if err != nil {
		pt.fail(err)
		tl.Emit("lab-failed", map[string]any{"error": err.Error()})
		finishPoint(pt, pl, nil, tl, ctx.Err() != nil)
		return pt
	}
	tl.Emit("lab-up", map[string]any{"lab": rec.Name, "provider": pl.Provider})
	pt.Provider, pt.Mechanisms, pt.Machines = pl.Provider, rec.Mechanisms, rec.Machines
	if len(rec.Machines) > 0 {
		if err := remote.RecordNICs(pl.Dir, rec.Machines); err != nil {
			tl.Emit("record-warning", map[string]any{"what": "the hosts' NICs in inventory.yaml", "error": err.Error()})
		}
	}
	var procs []*instance.Proc
	defer func() {
		if keep && ctx.Err() == nil {
			// The instances keep running in the kept lab; destroy ends them.
			tl.Emit("lab-kept", map[string]any{"lab": pl.Lab})
			for _, p := range procs {
				p.Detach()
			}
			finishPoint(pt, pl, procs, tl, false)
			return
		}
		for _, p := range procs {
			p.Stop()
		}
		{
			phase("destroy", 0)
			if err := testbed.Destroy(context.WithoutCancel(ctx), pl.Lab); err != nil {
				pt.fail(fmt.Errorf("destroy: %w", err))
			}
			tl.Emit("lab-down", nil)
		}
		finishPoint(pt, pl, procs, tl, ctx.Err() != nil)
	}()

	col, err := startCollectors(ctx, pl, rec, tl)
	if err != nil {
		pt.fail(err)
		return pt
	}
	defer func() {
		if err := col.stop(); err != nil {
			pt.fail(err)
		}
	}()
	phase("start roles", 0)
	procs, err = startWaves(ctx, pl, tl, col)
	if err != nil {
		pt.fail(err)
		return pt
	}
	if pl.Exp.Warmup > 0 {
		phase("warm-up", pl.Exp.Warmup)
		if !clock.Sleep(ctx, pl.Exp.Warmup) {
			return pt
		}
	}
	phase("measure", pl.Exp.Duration)
	tl.Emit("measure-start", nil)
	stopFaults := scheduleFaults(ctx, pl, tl, pt)
	completed := clock.Sleep(ctx, pl.Exp.Duration)
	stopFaults()
	if !completed {
		return pt
	}
	tl.Emit("measure-end", nil)
	// Instances with a duration of their own end by themselves about now.
	waitAll(procs, 3*time.Second)
	phase("stop", 0)
	return pt
}

func (pt *Point) fail(err error) {
	if pt.Error == "" {
		pt.Error = err.Error()
	}
	pt.Status = StatusFailed
}

// scheduleFaults applies the experiment's faults at their times in the
// measured window and reverts them after their duration. The returned
// function reverts whatever is still active, waits for the schedule to end
// and records the faults in the run's summary.
func scheduleFaults(ctx context.Context, pl *Plan, tl *timeline, pt *Point) func() {
	specs := append([]*experiment.FaultSpec(nil), pl.Exp.Faults...)
	if c := pl.Exp.Chaos; c != nil {
		drawn := c.Schedule(pl.Exp.Duration, pl.Seed)
		tl.Emit("chaos-schedule", map[string]any{"seed": chaosSeed(c, pl.Seed), "faults": drawn})
		specs = append(specs, drawn...)
	}
	pt.Schedule = specs
	if len(specs) == 0 {
		return func() {}
	}
	engine, err := testbed.Faults(pl.Lab)
	if err != nil {
		pt.fail(err)
		return func() {}
	}
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []error
	start := time.Now()
	for _, fs := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for at := fs.At; ; at += fs.Every {
				if !clock.Sleep(sctx, at-time.Since(start)) {
					return
				}
				tl.Emit("fault-requested", map[string]any{"name": fs.Name, "code": fs.Code, "target": fs.Target, "params": fs.Params})
				f, err := engine.Inject(sctx, fs.Code, fs.Target, fs.Params, true)
				if err != nil {
					tl.Emit("fault-failed", map[string]any{"code": fs.Code, "target": fs.Target, "error": err.Error()})
					mu.Lock()
					failures = append(failures, fmt.Errorf("%s: fault %s on %s: %w", fs.Pos, fs.Code, fs.Target, err))
					mu.Unlock()
					return
				}
				fields := faultFields(f)
				fields["name"] = fs.Name
				tl.Emit("fault-applied", fields)
				if fs.For == 0 || !clock.Sleep(sctx, fs.For) {
					return
				}
				cleared, _ := engine.Clear(f.ID)
				for _, c := range cleared {
					tl.Emit("fault-reverted", faultFields(c))
				}
				if fs.Every == 0 {
					return
				}
			}
		}()
	}
	return func() {
		cancel()
		wg.Wait()
		for _, err := range failures {
			pt.fail(err)
		}
		cleared, err := engine.Clear("")
		for _, c := range cleared {
			tl.Emit("fault-reverted", faultFields(c))
		}
		if err != nil {
			pt.fail(fmt.Errorf("revert faults: %w", err))
		}
		pt.Faults, _ = engine.List()
		engine.Close()
	}
}

func chaosSeed(c *experiment.Chaos, runSeed int64) int64 {
	if c.Seed != 0 {
		return c.Seed
	}
	return runSeed
}

// faultFields is a fault as a timeline event: taxonomy code, target,
// parameters, mechanism, what verification read, and the monotonic time of
// the journal record.
func faultFields(f *fault.Fault) map[string]any {
	return map[string]any{
		"id": f.ID, "code": f.Code, "target": f.Target, "params": f.Params, "mechanism": f.Mechanism,
		"verified": f.Verified, "detail": f.Detail, "error": f.Error, "journal_mono_ns": f.Mono,
	}
}

// writeInputs stores what the run was made from: the topology deployed and
// the experiment at this point.
func writeInputs(pl *Plan) error {
	if err := os.MkdirAll(pl.Dir, 0o755); err != nil {
		return err
	}
	src, err := remote.RecordInputs(pl.Dir, pl.Topology, pl.TopoSrc)
	if err != nil {
		return fmt.Errorf("record the remote inventory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(pl.Dir, "topology.yaml"), src, 0o644); err != nil {
		return err
	}
	return writeExperiment(pl.Dir, pl.Exp)
}

// writeExperiment writes the experiment as it was read, with its --set
// overrides, as experiment.yaml in dir, so that `tbctl run
// dir/experiment.yaml` runs it again with the same sweep order and seeds:
// a topology read from a file is referred to as the topology.yaml beside
// it.
func writeExperiment(dir string, exp *experiment.Experiment) error {
	data, err := exp.Document("topology.yaml")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "experiment.yaml"), data, 0o644)
}

// startWaves starts the instances wave by wave; a wave starts once every
// instance of the previous one is ready.
func startWaves(ctx context.Context, pl *Plan, tl *timeline, col *collection) ([]*instance.Proc, error) {
	l, rec, p, err := testbed.Open(pl.Lab)
	if err != nil {
		return nil, err
	}
	mgmt := mgmtAddrs(ctx, pl.Lab)
	ports := map[string]int{}
	var all []*instance.Proc
	for _, wave := range pl.Waves {
		var started []*instance.Proc
		for _, s := range wave {
			in := roles.Instance{
				Role: s.Role.Name, Lab: pl.Lab, Node: s.Node, Instance: s.Name,
				Dir: filepath.Join(pl.Dir, "roles", s.Name), Seed: pl.Seed, Params: s.Params,
			}
			if mgmt[s.Node] != "" || pl.Exp.Collect.Has("prom") {
				in.MetricsAddr = gather.MetricsAddr(mgmt[s.Node], ports[s.Node])
				ports[s.Node]++
			}
			pr, err := instance.Launch(l, rec, p, s, in)
			if err != nil {
				return all, err
			}
			tl.Emit("role-start", map[string]any{"instance": s.Name, "node": s.Node, "pid": pr.PID()})
			col.addInstance(s.Node, s.Name, pr.PID(), in.MetricsAddr)
			all = append(all, pr)
			started = append(started, pr)
		}
		if err := instance.WaitReady(ctx, started); err != nil {
			return all, err
		}
	}
	return all, nil
}

// mgmtAddrs maps each node to its management address, where it has one.
func mgmtAddrs(ctx context.Context, labName string) map[string]string {
	m := map[string]string{}
	insp, err := testbed.Inspect(ctx, labName)
	if err != nil {
		return m
	}
	for _, n := range insp.Nodes {
		m[n.Name] = n.MgmtIPv4
	}
	return m
}

// waitAll waits up to d for every process to exit by itself.
func waitAll(procs []*instance.Proc, d time.Duration) {
	deadline := time.After(d)
	for _, p := range procs {
		select {
		case <-p.Done():
		case <-deadline:
			return
		}
	}
}
