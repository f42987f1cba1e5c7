package run

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/roles"
	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/experiment"
	"github.com/tbctl/tbctl/testbed/topo"
	"github.com/tbctl/tbctl/testbed/topo/gen"
)

// Plan is one run (a sweep point and a repetition), checked against its
// topology and its roles before anything is deployed.
type Plan struct {
	Exp      *experiment.Experiment // the experiment at this point
	Point    experiment.Point
	Points   int // how many sweep points the experiment has
	Rep      int // 1-based
	Seed     int64
	TopoSrc  []byte // the topology file to deploy
	Topology *topo.Topology
	Waves    [][]*Start // instances in start order

	Dir string // set when it runs
	Lab string
}

// Start is one role instance of a plan, its parameters decoded and its node
// references resolved to addresses.
type Start struct {
	Inst   *experiment.Instance
	Role   *roles.Role
	Params map[string]any
}

// Label names the run in progress lines and tables.
func (p *Plan) Label() string {
	l := p.Point.Label
	if p.Exp.Repetitions > 1 {
		if l != "" {
			l += " "
		}
		l += fmt.Sprintf("rep %d", p.Rep)
	}
	if l == "" {
		l = "run"
	}
	return l
}

// Subdir is where the run goes inside the experiment's run directory: the
// directory itself for a single run, else one folder per point and
// repetition.
func (p *Plan) Subdir(total int) string {
	if total == 1 {
		return "."
	}
	name := fmt.Sprintf("p%02d", p.Point.Index+1)
	if p.Point.Label != "" {
		name += "-" + sanitize(p.Point.Label)
	}
	return filepath.Join(name, fmt.Sprintf("r%02d", p.Rep))
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}

// PlanAll checks every sweep point of an experiment and returns one plan per
// point and repetition. All problems found come back at once.
func PlanAll(exp *experiment.Experiment) ([]*Plan, error) {
	var plans []*Plan
	var problems []string
	points := exp.Points()
	for _, pt := range points {
		at, err := exp.At(pt)
		if err != nil {
			return nil, err
		}
		base, err := planPoint(at, pt)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		base.Points = len(points)
		for rep := 1; rep <= at.Repetitions; rep++ {
			p := *base
			p.Rep = rep
			p.Seed = at.SeedFor(pt.Index, rep-1)
			plans = append(plans, &p)
		}
	}
	if len(problems) > 0 {
		return nil, errkind.User("%s", strings.Join(dedupe(problems), "\n"))
	}
	return plans, nil
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func planPoint(exp *experiment.Experiment, pt experiment.Point) (*Plan, error) {
	src, name, err := topologySource(exp)
	if err != nil {
		return nil, err
	}
	t, _, err := testbed.ResolveData(src, name, exp.Provider)
	if err != nil {
		return nil, err
	}
	order, err := exp.StartOrder()
	if err != nil {
		return nil, err
	}
	p := &Plan{Exp: exp, Point: pt, TopoSrc: src, Topology: t}
	var errs []string
	for _, wave := range order {
		var starts []*Start
		for _, in := range wave {
			s, err := planInstance(exp, t, in)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			starts = append(starts, s)
		}
		p.Waves = append(p.Waves, starts)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return p, nil
}

// topologySource returns the topology file an experiment names, as bytes,
// and a name for messages.
func topologySource(exp *experiment.Experiment) ([]byte, string, error) {
	ref := exp.Topology
	switch {
	case ref.File != "":
		data, err := os.ReadFile(ref.File)
		if err != nil {
			return nil, "", errkind.User("%s: topology: %v", exp.File, err)
		}
		return data, ref.File, nil
	case ref.Inline != nil:
		data, err := yaml.Marshal(ref.Inline)
		return data, exp.File + " (inline topology)", err
	case ref.Generate != nil:
		g := ref.Generate
		f, err := gen.Generate(g.Shape, gen.Params{Name: exp.Name, Hosts: g.Hosts, Depth: g.Depth, Fanout: g.Fanout, Spines: g.Spines, Leaves: g.Leaves, K: g.K, Mgmt: true})
		if err != nil {
			return nil, "", errkind.User("%s: topology.generate: %v", exp.File, err)
		}
		data, err := gen.Marshal(f)
		return data, exp.File + " (generated " + g.Shape + ")", err
	}
	return nil, "", errkind.User("%s: no topology", exp.File)
}

// planInstance checks an instance: its role exists, its node is in the
// topology, its parameters decode and its node references resolve.
func planInstance(exp *experiment.Experiment, t *topo.Topology, in *experiment.Instance) (*Start, error) {
	where := fmt.Sprintf("%s: roles.%s", in.Pos, in.Name)
	r, err := roles.Get(in.Role)
	if err != nil {
		return nil, fmt.Errorf("%s.role: %v", where, err)
	}
	if t.Node(in.Node) == nil {
		return nil, fmt.Errorf("%s.node: no node %q in the topology", where, in.Node)
	}
	params := map[string]any{}
	for k, v := range in.Params {
		params[k] = v
	}
	if hasParam(r, "duration") {
		if _, set := params["duration"]; !set {
			params["duration"] = (exp.Warmup + exp.Duration).String()
		}
	}
	for _, name := range r.RefParams() {
		v, ok := params[name].(string)
		if !ok {
			continue
		}
		addr, err := resolveRef(t, v)
		if err != nil {
			return nil, fmt.Errorf("%s.params.%s: %v", where, name, err)
		}
		params[name] = addr
	}
	if _, err := r.Decode(params, fmt.Sprintf("%s.params", where)); err != nil {
		return nil, err
	}
	return &Start{Inst: in, Role: r, Params: params}, nil
}

func hasParam(r *roles.Role, name string) bool {
	for _, p := range r.Describe() {
		if p.Name == name {
			return true
		}
	}
	return false
}

// resolveRef turns "node" or "node:iface" into an address: the interface's
// first address, or the node's first data-plane address (eth0, the
// management interface, is left out). An address stays as it is.
func resolveRef(t *topo.Topology, ref string) (string, error) {
	if a, err := netip.ParseAddr(ref); err == nil {
		return a.String(), nil
	}
	nodeName, iface, _ := strings.Cut(ref, ":")
	n := t.Node(nodeName)
	if n == nil {
		return "", fmt.Errorf("no node %q in the topology", nodeName)
	}
	ifaces := append([]*topo.Interface(nil), n.Interfaces...)
	sort.Slice(ifaces, func(i, j int) bool { return ifaces[i].Name < ifaces[j].Name })
	for _, ifc := range ifaces {
		if (iface == "" || ifc.Name == iface) && len(ifc.Addrs) > 0 {
			return ifc.Addrs[0].Addr().String(), nil
		}
	}
	if iface != "" {
		return "", fmt.Errorf("node %s has no addressed interface %q", nodeName, iface)
	}
	return "", fmt.Errorf("node %s has no data-plane address (give its interfaces addresses, or add `addressing: {}` to the topology)", nodeName)
}
