package experiment

import (
	"errors"

	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/testbed/topo"

	"github.com/tbctl/tbctl/internal/suggest"
)

// expectations parses an expect or compare list and checks its references
// against the instances and the sweep.
func (p *parser) expectations(n *yaml.Node, section string, e *Experiment) []*Expectation {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.typeProblem(n, section, "a list")
		return nil
	}
	var out []*Expectation
	for _, item := range n.Content {
		item = deref(item)
		text := p.str(item, section)
		if text == "" {
			continue
		}
		x, err := ParseExpr(text)
		var exprErr *ExprError
		if errors.As(err, &exprErr) {
			p.addAt(p.exprPos(item, exprErr.Offset), exprErr.Hint, "%s: %s", section, exprErr.Msg)
			continue
		}
		out = append(out, &Expectation{Text: text, Expr: x, Pos: p.pos(item)})
		p.checkRefs(item, section, x, e)
	}
	return out
}

// exprPos is the position of byte off of the expression written in n, when
// it can be known (a plain or quoted scalar on one line).
func (p *parser) exprPos(n *yaml.Node, off int) topo.Pos {
	pos := p.pos(n)
	if pos.Line == 0 {
		return pos
	}
	switch n.Style {
	case 0:
		pos.Col += off
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		pos.Col += off + 1
	}
	return pos
}

func (p *parser) checkRefs(n *yaml.Node, section string, x Expr, e *Experiment) {
	var names []string
	for _, in := range e.Roles {
		names = append(names, in.Name)
	}
	var keys []string
	for _, ax := range e.Sweep.axes() {
		keys = append(keys, lastElement(ax.Path))
	}
	for _, r := range refsOf(x) {
		in := e.Instance(r.Instance)
		switch {
		case in == nil:
			p.addAt(p.exprPos(n, r.off), suggest.Hint(r.Instance, names, "instances"), "%s: unknown instance %q in %s", section, r.Instance, r)
			continue
		case r.Role != "" && in.Role != "" && r.Role != in.Role:
			p.addAt(p.exprPos(n, r.off), "write "+r.Instance+"."+r.Key+" or "+in.Role+"."+r.Instance+"."+r.Key,
				"%s: instance %s runs role %q, not %q", section, r.Instance, in.Role, r.Role)
		}
		for _, s := range r.selector {
			switch {
			case section == "expect":
				p.addAt(p.exprPos(n, s.off), "move the line to compare, which sees every run", "expect: selectors apply only in compare; expect is checked on each run")
			case !contains(keys, s.key):
				hint := suggest.Hint(s.key, keys, "sweep keys")
				if len(keys) == 0 {
					hint = "add a sweep: to select on"
				}
				p.addAt(p.exprPos(n, s.off), hint, "%s: selector key %q is not a swept parameter", section, s.key)
			}
		}
	}
}
