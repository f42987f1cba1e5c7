// Package gen generates standard topology shapes as topology files.
package gen

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tbctl/tbctl/testbed/topo"
)

// MaxNodes bounds the size of a generated topology.
const MaxNodes = 5000

// Params size a shape. Zero values take the shape's defaults; a shape
// refuses a nonzero parameter it does not use.
type Params struct {
	Name           string // lab name; defaults to the shape and its size, e.g. "linear-4"
	Hosts          int    // hosts (single), switches and hosts (linear), hosts per side (dumbbell), hosts per leaf (leaf-spine)
	Depth, Fanout  int    // tree
	Spines, Leaves int    // leaf-spine
	K              int    // fat-tree
	Mgmt           bool   // keep the management network; otherwise `mgmt: {disabled: true}`
}

// Shape describes one generator for help text.
type Shape struct {
	Name    string
	Summary string
	Params  []string // names of the Params fields it uses, lower case
}

type shape struct {
	Shape
	defaults func(p *Params)
	validate func(p Params) error
	nodes    func(p Params) int
	name     func(p Params) string
	build    func(b *builder, p Params)
}

var shapes = []shape{single, linear, tree, dumbbell, leafSpine, fatTree}

// Shapes lists the shapes Generate knows.
func Shapes() []Shape {
	out := make([]Shape, len(shapes))
	for i, s := range shapes {
		out[i] = s.Shape
	}
	return out
}

// Generate builds the topology file of a shape.
func Generate(shapeName string, p Params) (*topo.File, error) {
	s, err := lookup(shapeName)
	if err != nil {
		return nil, err
	}
	if err := checkUnused(s, p); err != nil {
		return nil, err
	}
	s.defaults(&p)
	if err := s.validate(p); err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	if n := s.nodes(p); n > MaxNodes {
		return nil, fmt.Errorf("%s: %d nodes is more than the limit of %d; choose smaller parameters", s.Name, n, MaxNodes)
	}
	if p.Name == "" {
		p.Name = s.name(p)
	}
	b := newBuilder(p)
	s.build(b, p)
	return b.f, nil
}

func lookup(name string) (shape, error) {
	var names []string
	for _, s := range shapes {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return shape{}, fmt.Errorf("unknown shape %q; choose one of %s", name, strings.Join(names, ", "))
}

// checkUnused refuses parameters the shape would silently ignore.
func checkUnused(s shape, p Params) error {
	given := map[string]int{"hosts": p.Hosts, "depth": p.Depth, "fanout": p.Fanout, "spines": p.Spines, "leaves": p.Leaves, "k": p.K}
	for _, used := range s.Params {
		delete(given, used)
	}
	var extra []string
	for name, v := range given {
		if v != 0 {
			extra = append(extra, "--"+name)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	return fmt.Errorf("%s does not use %s; it takes %s", s.Name, strings.Join(extra, ", "), flagList(s.Params))
}

func flagList(params []string) string {
	if len(params) == 0 {
		return "no size parameters"
	}
	flags := make([]string, len(params))
	for i, p := range params {
		flags[i] = "--" + p
	}
	return strings.Join(flags, ", ")
}

// atLeast checks one parameter against a minimum and the node limit.
func atLeast(least int, name string, v int) error {
	if v < least {
		return fmt.Errorf("--%s must be at least %d, got %d", name, least, v)
	}
	if v > MaxNodes {
		return fmt.Errorf("--%s %d is more than the limit of %d nodes", name, v, MaxNodes)
	}
	return nil
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func orDefault(v *int, def int) {
	if *v == 0 {
		*v = def
	}
}
