package run

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/experiment"
	"github.com/tbctl/tbctl/testbed/instance"
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
	Provider string             // the provider that deploys it
	Waves    [][]*instance.Spec // instances in start order

	Dir string // set when it runs
	Lab string
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
	t, prov, err := testbed.ResolveData(src, name, exp.Provider)
	if err != nil {
		return nil, err
	}
	order, err := exp.StartOrder()
	if err != nil {
		return nil, err
	}
	p := &Plan{Exp: exp, Point: pt, TopoSrc: src, Topology: t, Provider: prov.Name()}
	var errs []string
	for _, c := range exp.Collect.Captures {
		if n := t.Node(c.Node); n == nil || n.Kind == topo.KindHost {
			errs = append(errs, fmt.Sprintf("%s: collect.capture: %q is not a node of the topology (%s)", exp.File, c.Node, name))
		}
	}
	for _, wave := range order {
		var starts []*instance.Spec
		for _, in := range wave {
			s, err := instance.Prepare(t, in.Name, in.Role, in.Node, in.Params, exp.Warmup+exp.Duration, fmt.Sprintf("%s: roles.%s", in.Pos, in.Name))
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
