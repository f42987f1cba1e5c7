package experiment

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/testbed/fault"
	"github.com/tbctl/tbctl/testbed/topo"
	"github.com/tbctl/tbctl/testbed/topo/gen"

	"github.com/tbctl/tbctl/internal/suggest"

	"github.com/tbctl/tbctl/internal/yamlnode"
)

var (
	topFields       = []string{"name", "claim", "topology", "provider", "duration", "warmup", "repetitions", "seed", "roles", "faults", "chaos", "collect", "sweep", "expect", "compare", "reproduce"}
	reproduceFields = []string{"tolerance", "metrics"}
	chaosFields     = []string{"seed", "count", "for", "gap", "pick", "faults"}
	faultFields     = []string{"name", "code", "target", "params", "at", "for", "every"}
	topologyFields  = []string{"file", "inline", "generate"}
	generateFields  = []string{"shape", "hosts", "depth", "fanout", "spines", "leaves", "k"}
	instanceFields  = []string{"role", "node", "after", "params"}
	sweepFields     = []string{"cartesian", "zip"}
)

var (
	nameRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	instanceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
)

// sweepAxis is an axis with the nodes of its values, for checking each.
type sweepAxis struct {
	path   string
	values []*yaml.Node
}

// decode turns the document into an Experiment, reporting every problem.
func (p *parser) decode(root *yaml.Node) (*Experiment, []sweepAxis) {
	e := &Experiment{Provider: DefaultProvider, Repetitions: DefaultRepetitions, Seed: DefaultSeed}
	top := p.fields(root, "", topFields)
	e.Name = p.requiredString(root, top, "name", "add name: <experiment> at the top of the file")
	if v, ok := top["name"]; ok && e.Name != "" {
		p.checkName(v.value, e.Name)
	}
	e.Claim = p.requiredString(root, top, "claim", "add claim: \"...\" saying what the experiment reproduces")
	if v, ok := top["provider"]; ok {
		e.Provider = p.str(v.value, "provider")
	}
	p.topology(root, top, e)
	p.times(root, top, e)
	if v, ok := top["repetitions"]; ok {
		if n, ok := p.integer(v.value, "repetitions"); ok {
			if n < 1 || n > MaxRepetitions {
				p.add(v.value, fmt.Sprintf("use 1 to %d", MaxRepetitions), "repetitions must be between 1 and %d, got %d", MaxRepetitions, n)
			}
			e.Repetitions = int(n)
		}
	}
	if v, ok := top["seed"]; ok {
		if n, ok := p.integer(v.value, "seed"); ok {
			e.Seed = n
		}
	}
	afters := p.roles(root, top, e)
	if v, ok := top["faults"]; ok {
		e.Faults = p.faults(v.value, "faults", e)
	}
	if v, ok := top["chaos"]; ok {
		e.Chaos = p.chaos(v.value, e)
	}
	e.Collect = Collect{Interval: DefaultCollectInterval, Scrape: DefaultScrape, Sources: DefaultSources}
	if v, ok := top["collect"]; ok {
		p.collect(v.value, e)
	}
	var axes []sweepAxis
	if v, ok := top["sweep"]; ok {
		axes = p.sweep(root, v.value, e)
	}
	p.checkAfter(e, afters)
	if v, ok := top["expect"]; ok {
		e.Expect = p.expectations(v.value, "expect", e)
	}
	if v, ok := top["compare"]; ok {
		e.Compare = p.expectations(v.value, "compare", e)
	}
	e.Reproduce.Tolerance = DefaultTolerance
	if v, ok := top["reproduce"]; ok {
		p.reproduce(v.value, e)
	}
	return e, axes
}

// fields checks that n is a mapping with only the allowed keys and returns
// its entries by key.
func (p *parser) fields(n *yaml.Node, path string, allowed []string) map[string]entry {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		p.typeProblem(n, path, "a mapping")
		return nil
	}
	out := map[string]entry{}
	for _, e := range entries(n) {
		if !contains(allowed, e.key.Value) {
			p.add(e.key, suggest.Hint(e.key.Value, allowed, "fields"+under(path)), "unknown field %q", e.key.Value)
			continue
		}
		out[e.key.Value] = entry{e.key, deref(e.value)}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var typeHints = map[string]string{
	"a string":   "write a single value; quote it if it looks like a number or boolean",
	"an integer": "write a whole number without quotes",
	"a list":     "write a list: [a, b] or one \"- item\" per line",
	"a mapping":  "write \"key: value\" pairs",
}

func (p *parser) typeProblem(n *yaml.Node, path, want string) {
	p.add(n, typeHints[want], "%s: expected %s, got %s", path, want, yamlnode.Describe(n))
}

func (p *parser) str(n *yaml.Node, path string) string {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		p.typeProblem(n, path, "a string")
		return ""
	}
	return n.Value
}

func (p *parser) requiredString(root *yaml.Node, top map[string]entry, key, hint string) string {
	v, ok := top[key]
	if !ok {
		if top != nil {
			p.add(root, hint, "missing %s", key)
		}
		return ""
	}
	s := p.str(v.value, key)
	if s == "" && v.value.ShortTag() == "!!str" {
		p.add(v.value, hint, "%s is empty", key)
	}
	return s
}

func (p *parser) integer(n *yaml.Node, path string) (int64, bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return i, true
		}
	}
	p.typeProblem(n, path, "an integer")
	return 0, false
}

func (p *parser) duration(n *yaml.Node, path string) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!str" && n.ShortTag() != "!!int") {
		p.add(n, "write a number and a unit, e.g. 10s or 1m30s", "%s: expected a duration, got %s", path, yamlnode.Describe(n))
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	switch {
	case err != nil && n.ShortTag() == "!!int":
		p.add(n, "write a unit, e.g. "+n.Value+"s", "%s: %s has no unit", path, n.Value)
	case err != nil:
		p.add(n, "write a number and a unit, e.g. 10s or 1m30s", "%s: %q is not a duration", path, n.Value)
	case d < 0:
		p.add(n, "write a positive duration", "%s: %s is negative", path, n.Value)
	default:
		return d, true
	}
	return 0, false
}

func (p *parser) checkName(n *yaml.Node, name string) {
	switch {
	case len(name) > MaxName:
		p.add(n, fmt.Sprintf("use at most %d characters", MaxName), "experiment name %q is longer than %d characters", name, MaxName)
	case !nameRE.MatchString(name):
		p.add(n, "use letters, digits, '_', '.' and '-', starting with a letter or digit", "experiment name %q has invalid characters", name)
	}
}

func (p *parser) times(root *yaml.Node, top map[string]entry, e *Experiment) {
	v, ok := top["duration"]
	durationOK := false
	switch {
	case ok:
		if e.Duration, durationOK = p.duration(v.value, "duration"); durationOK && e.Duration == 0 {
			p.add(v.value, "write how long the roles run, e.g. 10s", "duration must be more than zero")
			durationOK = false
		}
	case top != nil:
		p.add(root, "add duration: <how long the roles run>, e.g. 10s", "missing duration")
	}
	w, ok := top["warmup"]
	if !ok {
		return
	}
	var warmupOK bool
	if e.Warmup, warmupOK = p.duration(w.value, "warmup"); warmupOK && durationOK && e.Warmup >= e.Duration {
		p.add(w.value, "make the warmup shorter than the duration", "warmup %s must be shorter than duration %s", e.Warmup, e.Duration)
	}
}

func (p *parser) topology(root *yaml.Node, top map[string]entry, e *Experiment) {
	v, ok := top["topology"]
	if !ok {
		if top != nil {
			p.add(root, "add topology: with one of file:, inline: or generate:", "missing topology")
		}
		return
	}
	t := p.fields(v.value, "topology", topologyFields)
	if t == nil {
		return
	}
	var given []entry
	for _, f := range topologyFields {
		if s, ok := t[f]; ok {
			given = append(given, s)
		}
	}
	switch {
	case len(given) == 0:
		p.add(v.value, "give one of file:, inline: or generate:", "topology: no source given")
		return
	case len(given) > 1:
		p.add(given[1].key, "keep only one of them", "topology: both %s and %s given; use exactly one source", given[0].key.Value, given[1].key.Value)
		return
	}
	src := given[0]
	switch src.key.Value {
	case "file":
		if f := p.str(src.value, "topology.file"); f != "" {
			e.Topology.File = resolvePath(p.file, f)
		} else if src.value.ShortTag() == "!!str" {
			p.add(src.value, "name a topology file relative to the experiment", "topology.file is empty")
		}
	case "inline":
		if src.value.Kind != yaml.MappingNode {
			p.typeProblem(src.value, "topology.inline", "a mapping")
			return
		}
		if err := src.value.Decode(&e.Topology.Inline); err != nil {
			p.add(src.value, "", "topology.inline: %v", err)
		}
	case "generate":
		e.Topology.Generate = p.generate(src.value)
	}
}

func resolvePath(experimentFile, path string) string {
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(experimentFile), path)
	}
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

func (p *parser) generate(n *yaml.Node) *Generate {
	f := p.fields(n, "topology.generate", generateFields)
	if f == nil {
		return nil
	}
	g := &Generate{}
	ints := map[string]*int{"hosts": &g.Hosts, "depth": &g.Depth, "fanout": &g.Fanout, "spines": &g.Spines, "leaves": &g.Leaves, "k": &g.K}
	ok := true
	for key, dst := range ints {
		if v, given := f[key]; given {
			i, good := p.integer(v.value, "topology.generate."+key)
			*dst, ok = int(i), ok && good
		}
	}
	v, given := f["shape"]
	if !given {
		p.add(n, "add shape: "+strings.Join(shapeNames(), ", "), "topology.generate: missing shape")
		return g
	}
	if g.Shape = p.str(v.value, "topology.generate.shape"); g.Shape == "" {
		return g
	}
	if !contains(shapeNames(), g.Shape) {
		p.add(v.value, suggest.Hint(g.Shape, shapeNames(), "shapes"), "unknown shape %q", g.Shape)
		return g
	}
	if ok {
		params := gen.Params{Hosts: g.Hosts, Depth: g.Depth, Fanout: g.Fanout, Spines: g.Spines, Leaves: g.Leaves, K: g.K}
		if _, err := gen.Generate(g.Shape, params); err != nil {
			p.add(n, "", "topology.generate: %s", strings.ReplaceAll(err.Error(), "--", ""))
		}
	}
	return g
}

func shapeNames() []string {
	var names []string
	for _, s := range gen.Shapes() {
		names = append(names, s.Name)
	}
	return names
}

// roles decodes the instances and returns the nodes of their after lists.
func (p *parser) roles(root *yaml.Node, top map[string]entry, e *Experiment) map[*Instance][]*yaml.Node {
	v, ok := top["roles"]
	if !ok {
		if top != nil {
			p.add(root, "add roles: mapping instance names to {role, node, params}", "missing roles")
		}
		return nil
	}
	n := v.value
	if n.Kind != yaml.MappingNode {
		p.typeProblem(n, "roles", "a mapping")
		return nil
	}
	if len(n.Content) == 0 {
		p.add(n, "add at least one instance", "roles: no instances")
	}
	afters := map[*Instance][]*yaml.Node{}
	for _, kv := range entries(n) {
		in := &Instance{Name: kv.key.Value, Pos: p.pos(kv.key)}
		if !instanceRE.MatchString(in.Name) {
			p.add(kv.key, "use letters, digits, '_' and '-', starting with a letter or digit", "instance name %q has invalid characters", in.Name)
		}
		e.Roles = append(e.Roles, in)
		path := "roles." + in.Name
		f := p.fields(kv.value, path, instanceFields)
		if f == nil {
			continue
		}
		in.Role = p.requiredField(kv.value, f, path, "role", "name the role to run, e.g. role: traffic")
		in.Node = p.requiredField(kv.value, f, path, "node", "name the node to run it on, e.g. node: h1")
		if a, ok := f["after"]; ok {
			afters[in] = p.after(a.value, path+".after", in)
		}
		if pr, ok := f["params"]; ok && !isNull(pr.value) {
			if pr.value.Kind != yaml.MappingNode {
				p.typeProblem(pr.value, path+".params", "a mapping")
			} else if err := pr.value.Decode(&in.Params); err != nil {
				p.add(pr.value, "", "%s.params: %v", path, err)
			}
		}
		if in.Params == nil {
			in.Params = map[string]any{}
		}
	}
	return afters
}

func (p *parser) requiredField(n *yaml.Node, f map[string]entry, path, key, hint string) string {
	v, ok := f[key]
	if !ok {
		p.add(n, hint, "%s: missing %s", path, key)
		return ""
	}
	s := p.str(v.value, path+"."+key)
	if s == "" && v.value.ShortTag() == "!!str" {
		p.add(v.value, hint, "%s.%s is empty", path, key)
	}
	return s
}

// after reads an after list (or a single name).
func (p *parser) after(n *yaml.Node, path string, in *Instance) []*yaml.Node {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var out []*yaml.Node
	for _, item := range items {
		item = deref(item)
		if name := p.str(item, path); name != "" {
			in.After = append(in.After, name)
			out = append(out, item)
		}
	}
	return out
}

// checkAfter reports after entries naming unknown instances, and cycles.
func (p *parser) checkAfter(e *Experiment, afters map[*Instance][]*yaml.Node) {
	names := make([]string, len(e.Roles))
	for i, in := range e.Roles {
		names[i] = in.Name
	}
	unknown := false
	for _, in := range e.Roles {
		for _, n := range afters[in] {
			if !contains(names, n.Value) {
				p.add(n, suggest.Hint(n.Value, names, "instances"), "roles.%s.after: unknown instance %q", in.Name, n.Value)
				unknown = true
			}
		}
	}
	if unknown {
		return
	}
	if _, err := startOrder(e.Roles); err != nil {
		p.probs = append(p.probs, err...)
	}
}

func (p *parser) sweep(root, n *yaml.Node, e *Experiment) []sweepAxis {
	f := p.fields(n, "sweep", sweepFields)
	var axes []sweepAxis
	seen := map[string]topo.Pos{}
	for _, kind := range sweepFields {
		v, ok := f[kind]
		if !ok || isNull(v.value) {
			continue
		}
		if v.value.Kind != yaml.MappingNode {
			p.typeProblem(v.value, "sweep."+kind, "a mapping")
			continue
		}
		var list []Axis
		for _, kv := range entries(v.value) {
			ax, values, ok := p.axis(root, kv, "sweep."+kind, seen)
			if ok {
				list = append(list, ax)
				axes = append(axes, sweepAxis{ax.Path, values})
			}
		}
		if kind == "zip" {
			p.checkZip(v.value, list)
		}
		if kind == "cartesian" {
			e.Sweep.Cartesian = list
		} else {
			e.Sweep.Zip = list
		}
	}
	p.checkLabelKeys(e)
	return axes
}

func (p *parser) axis(root *yaml.Node, kv entry, where string, seen map[string]topo.Pos) (Axis, []*yaml.Node, bool) {
	path, list := kv.key.Value, deref(kv.value)
	ax := Axis{Path: path, Pos: p.pos(kv.key)}
	good := true
	if first, dup := seen[path]; dup {
		p.add(kv.key, "sweep each path once", "%s: %s is already swept at %s", where, path, first)
		good = false
	}
	seen[path] = ax.Pos
	if path == "sweep" || strings.HasPrefix(path, "sweep.") {
		p.add(kv.key, "sweep parameters of the experiment, not the sweep", "%s: cannot sweep %s", where, path)
		return ax, nil, false
	}
	if err := setPath(copyNode(root), path, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}); err != nil {
		p.add(kv.key, err.hint, "%s: %s", where, err.msg)
		good = false
	}
	switch {
	case list.Kind != yaml.SequenceNode:
		p.add(list, typeHints["a list"], "%s.%s: sweep values must be a list, got %s", where, path, yamlnode.Describe(list))
		return ax, nil, false
	case len(list.Content) == 0:
		p.add(list, "give at least one value", "%s.%s: no values", where, path)
		return ax, nil, false
	}
	for _, v := range list.Content {
		var x any
		if err := v.Decode(&x); err != nil {
			p.add(v, "", "%s.%s: %v", where, path, err)
			good = false
		}
		ax.Values = append(ax.Values, x)
	}
	return ax, list.Content, good
}

func (p *parser) checkZip(n *yaml.Node, list []Axis) {
	if len(list) < 2 {
		return
	}
	want := len(list[0].Values)
	for _, kv := range entries(n)[1:] {
		if l := deref(kv.value); l.Kind == yaml.SequenceNode && len(l.Content) != want && len(l.Content) > 0 {
			p.add(l, "give every zip list the same number of values",
				"sweep.zip: %s has %d values but %s has %d; zip lists must have equal lengths", kv.key.Value, len(l.Content), list[0].Path, want)
		}
	}
}

// checkLabelKeys reports two axes ending in the same key, which labels and
// selectors could not tell apart.
func (p *parser) checkLabelKeys(e *Experiment) {
	seen := map[string]Axis{}
	for _, ax := range e.Sweep.axes() {
		k := lastElement(ax.Path)
		if first, dup := seen[k]; dup {
			p.addAt(ax.Pos, "sweep parameters with different names, or zip them and select on the first", "sweep: %s and %s both end in %q; labels and selectors could not tell them apart", first.Path, ax.Path, k)
		}
		seen[k] = ax
	}
}

// checkSweepValues decodes the document once per sweep value, so that a
// value the field cannot take is reported where it is written.
func (p *parser) checkSweepValues(root *yaml.Node, axes []sweepAxis) {
	for _, ax := range axes {
		for _, v := range ax.values {
			doc := copyNode(root)
			if setPath(doc, ax.path, v) != nil {
				continue
			}
			sub := &parser{file: p.file}
			sub.decode(doc)
			for _, q := range sub.probs {
				q.Msg = fmt.Sprintf("with %s = %s: %s", ax.path, nodeText(v), q.Msg)
				p.probs = append(p.probs, q)
			}
		}
	}
}

func nodeText(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	out, _ := yaml.Marshal(n)
	return strings.TrimSpace(string(out))
}

// faults decodes the fault schedule.
func (p *parser) faults(n *yaml.Node, where string, e *Experiment) []*FaultSpec {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.typeProblem(n, where, "a list")
		return nil
	}
	var out []*FaultSpec
	for i, item := range n.Content {
		path := fmt.Sprintf("%s[%d]", where, i)
		item = deref(item)
		f := p.fields(item, path, faultFields)
		if f == nil {
			continue
		}
		fs := &FaultSpec{Pos: p.pos(item), Params: map[string]string{}}
		fs.Code = p.requiredField(item, f, path, "code", "name a fault: tbctl fault list --catalogue")
		fs.Target = p.requiredField(item, f, path, "target", "name what it acts on: NODE:IFACE, NODE, A,B|C,D or a role instance")
		if v, ok := f["name"]; ok {
			fs.Name = p.str(v.value, path+".name")
			if !instanceRE.MatchString(fs.Name) || strings.ContainsAny(fs.Name, "-") {
				p.add(v.value, "use letters, digits and '_'", "%s.name %q: use letters, digits and '_' (it becomes part of metric names)", path, fs.Name)
			}
		}
		if v, ok := f["at"]; ok {
			fs.At, _ = p.duration(v.value, path+".at")
		}
		if v, ok := f["for"]; ok {
			fs.For, _ = p.duration(v.value, path+".for")
		}
		if v, ok := f["every"]; ok {
			fs.Every, _ = p.duration(v.value, path+".every")
			if fs.Every > 0 && fs.Every <= fs.For {
				p.add(v.value, "make every longer than for", "%s: every %s must be longer than for %s", path, fs.Every, fs.For)
			}
		}
		if v, ok := f["params"]; ok && !isNull(v.value) {
			if deref(v.value).Kind != yaml.MappingNode {
				p.typeProblem(v.value, path+".params", "a mapping")
			}
			for _, kv := range entries(deref(v.value)) {
				val := deref(kv.value)
				if val.Kind != yaml.ScalarNode {
					p.typeProblem(val, path+".params."+kv.key.Value, "a string")
					continue
				}
				fs.Params[kv.key.Value] = val.Value
			}
		}
		if fs.Code != "" {
			if err := fault.CheckSpec(fs.Code, fs.Params); err != nil {
				p.add(item, "tbctl fault list --catalogue lists the faults and their parameters", "%s: %v", path, err)
			}
		}
		if e.Duration > 0 && fs.At >= e.Duration {
			p.add(item, "start it inside the measured window", "%s: at %s is not before the end of duration %s", path, fs.At, e.Duration)
		}
		out = append(out, fs)
	}
	return out
}

// chaos decodes a seeded random fault schedule.
func (p *parser) chaos(n *yaml.Node, e *Experiment) *Chaos {
	if isNull(n) {
		return nil
	}
	f := p.fields(n, "chaos", chaosFields)
	if f == nil {
		return nil
	}
	c := &Chaos{Count: 1, Pos: p.pos(n)}
	if v, ok := f["seed"]; ok {
		c.Seed, _ = p.integer(v.value, "chaos.seed")
	}
	if v, ok := f["count"]; ok {
		if k, ok := p.integer(v.value, "chaos.count"); ok {
			if k < 1 || k > 1000 {
				p.add(v.value, "use 1 to 1000", "chaos.count must be between 1 and 1000, got %d", k)
			}
			c.Count = int(k)
		}
	}
	if v, ok := f["for"]; ok {
		c.For, _ = p.duration(v.value, "chaos.for")
	}
	if c.For <= 0 {
		p.add(n, "add for: how long each chaos fault lasts, e.g. 1s", "chaos: missing or empty for")
	}
	if e.Duration > 0 && c.For >= e.Duration {
		p.add(n, "make for shorter than duration", "chaos.for %s must be shorter than duration %s", c.For, e.Duration)
	}
	if v, ok := f["gap"]; ok {
		c.Gap, _ = p.duration(v.value, "chaos.gap")
		if need := time.Duration(c.Count) * (c.For + c.Gap); c.Gap > 0 && e.Duration > 0 && need > e.Duration {
			p.add(v.value, "lower count, for or gap, or lengthen duration", "chaos: %d faults of %s, each after a gap of %s, need %s; duration is %s", c.Count, c.For, c.Gap, need, e.Duration)
		}
	}
	c.Pick = PickUniform
	if v, ok := f["pick"]; ok {
		switch v.value.Value {
		case PickUniform, PickEachCode:
			c.Pick = v.value.Value
		default:
			p.add(v.value, "use uniform or each-code", "chaos.pick must be uniform or each-code, got %q", v.value.Value)
		}
	}
	v, ok := f["faults"]
	if !ok {
		p.add(n, "list the faults chaos picks from: faults: [{code, target, params}]", "chaos: missing faults")
		return c
	}
	c.Faults = p.faults(v.value, "chaos.faults", e)
	if len(c.Faults) == 0 {
		p.add(v.value, "list at least one fault", "chaos.faults is empty")
	}
	return c
}

var (
	percentRE   = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?)\s*%$`)
	metricKeyRE = regexp.MustCompile(`^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$`)
)

// reproduce decodes how a rerun is judged: a tolerance written as a
// percentage and the key metrics (instead of those the expectations name).
func (p *parser) reproduce(n *yaml.Node, e *Experiment) {
	if isNull(n) {
		return
	}
	e.Reproduce.Pos = p.pos(n)
	f := p.fields(n, "reproduce", reproduceFields)
	if f == nil {
		return
	}
	if v, ok := f["tolerance"]; ok {
		if t, ok := p.percentage(v.value, "reproduce.tolerance"); ok {
			e.Reproduce.Tolerance = t
		}
	}
	v, ok := f["metrics"]
	if !ok || isNull(v.value) {
		return
	}
	if v.value.Kind != yaml.SequenceNode {
		p.typeProblem(v.value, "reproduce.metrics", "a list")
		return
	}
	var names []string
	for _, in := range e.Roles {
		names = append(names, in.Name)
	}
	seen := map[string]bool{}
	for _, item := range v.value.Content {
		item = deref(item)
		m := p.str(item, "reproduce.metrics")
		if m == "" {
			continue
		}
		inst, key, _ := strings.Cut(m, ".")
		switch {
		case key == "" || !metricKeyRE.MatchString(key):
			p.add(item, "write INSTANCE.KEY, e.g. flow1.throughput_mbps", "reproduce.metrics: %q is not a metric of an instance", m)
		case e.Instance(inst) == nil:
			p.add(item, suggest.Hint(inst, names, "instances"), "reproduce.metrics: unknown instance %q in %s", inst, m)
		case seen[m]:
			p.add(item, "list each metric once", "reproduce.metrics: %s is listed twice", m)
		default:
			seen[m] = true
			e.Reproduce.Metrics = append(e.Reproduce.Metrics, m)
		}
	}
}

// percentage reads "10%" or "2.5%" as a fraction (0.1, 0.025) between 0
// and 1.
func (p *parser) percentage(n *yaml.Node, path string) (float64, bool) {
	hint := "write a percentage, e.g. 10%"
	if n.Kind != yaml.ScalarNode {
		p.add(n, hint, "%s: expected a percentage, got %s", path, yamlnode.Describe(n))
		return 0, false
	}
	m := percentRE.FindStringSubmatch(strings.TrimSpace(n.Value))
	if m == nil {
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil && n.ShortTag() != "!!str" {
			hint = fmt.Sprintf("write the percent sign: %s%% (or %s%% for a fraction of %s)", n.Value, strconv.FormatFloat(f*100, 'f', -1, 64), n.Value)
		}
		p.add(n, hint, "%s: %q is not a percentage", path, n.Value)
		return 0, false
	}
	pct, _ := strconv.ParseFloat(m[1], 64)
	if pct > 100 {
		p.add(n, "use 0% to 100%", "%s: %s is more than 100%%", path, n.Value)
		return 0, false
	}
	return pct / 100, true
}
