package experiment

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/testbed/topo"

	"github.com/tbctl/tbctl/internal/yamlnode"
)

// SetFile is the file named in the positions of problems caused by --set.
const SetFile = "--set"

// Load reads and parses the experiment file at path. sets are "KEY=VALUE"
// overrides applied to the document before it is decoded.
func Load(path string, sets []string) (*Experiment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path, sets)
}

// Parse decodes, resolves and validates an experiment file. file names the
// input in positions and anchors a relative topology file. Each of sets is
// "KEY=VALUE": KEY is a dotted path into the document (roles.flow1.params.
// streams, duration, topology.generate.hosts) and VALUE is read as a YAML
// scalar or flow value (4 is an integer, [1,2] a list, cubic a string). On
// failure the error is topo.Problems, listing every defect found.
func Parse(data []byte, file string, sets []string) (*Experiment, error) {
	return parse(data, file, sets, nil, true)
}

// override is a value put at a path before decoding.
type override struct {
	path  string
	value *yaml.Node
}

func parse(data []byte, file string, sets []string, overrides []override, checkSweep bool) (*Experiment, error) {
	p := &parser{file: file}
	root := p.document(data)
	if root == nil {
		return nil, p.result()
	}
	p.checkDuplicates(root)
	p.applySets(root, sets)
	for _, o := range overrides {
		if err := setPath(root, o.path, o.value); err != nil {
			p.add(o.value, err.hint, "%s: %s", o.path, err.msg)
		}
	}
	e, axes := p.decode(root)
	if len(p.probs) == 0 && checkSweep {
		p.checkSweepValues(root, axes)
	}
	if len(p.probs) == 0 {
		if err := root.Decode(&e.Doc); err != nil {
			p.add(root, "", "%v", err)
		}
	}
	if len(p.probs) > 0 {
		return nil, p.result()
	}
	e.File, e.data, e.sets = file, data, append([]string(nil), sets...)
	return e, nil
}

type parser struct {
	file  string
	probs topo.Problems
}

// pos is where n was written: nodes made from --set have no line.
func (p *parser) pos(n *yaml.Node) topo.Pos {
	if n.Line == 0 {
		return topo.Pos{File: SetFile}
	}
	return topo.Pos{File: p.file, Line: n.Line, Col: n.Column}
}

func (p *parser) add(n *yaml.Node, hint, format string, args ...any) {
	p.addAt(p.pos(n), hint, format, args...)
}

func (p *parser) addAt(pos topo.Pos, hint, format string, args ...any) {
	p.probs = append(p.probs, topo.Problem{Pos: pos, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// result is the problems sorted by position, each distinct problem once.
func (p *parser) result() topo.Problems { return topo.Problems(p.probs).Sorted() }

var yamlLine = regexp.MustCompile(`line (\d+)`)

// document parses the YAML and returns its top-level mapping, or nil.
func (p *parser) document(data []byte) *yaml.Node {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		pos := topo.Pos{File: p.file, Line: 1, Col: 1}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			pos.Line, _ = strconv.Atoi(m[1])
		}
		p.addAt(pos, "fix the YAML syntax", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil
	}
	if len(root.Content) == 0 {
		p.addAt(topo.Pos{File: p.file, Line: 1, Col: 1}, "write an experiment with name:, claim:, topology:, duration: and roles:", "the file is empty")
		return nil
	}
	doc := deref(root.Content[0])
	if doc.Kind != yaml.MappingNode {
		p.add(doc, "write \"key: value\" pairs", "expected a mapping at the top of the file, got %s", yamlnode.Describe(doc))
		return nil
	}
	return doc
}

// checkDuplicates reports keys written twice in one mapping, such as two
// instances with the same name.
func (p *parser) checkDuplicates(n *yaml.Node) {
	yamlnode.Duplicates(n, func(dup, first *yaml.Node) {
		p.add(dup, "remove or rename one of them", "duplicate key %q (first defined at %s)", dup.Value, p.pos(first))
	})
}

// applySets applies the --set overrides to the document.
func (p *parser) applySets(root *yaml.Node, sets []string) {
	at := topo.Pos{File: SetFile}
	for _, s := range sets {
		key, value, ok := strings.Cut(s, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			p.addAt(at, "write --set KEY=VALUE, e.g. --set roles.flow1.params.streams=4", "malformed --set %q: expected KEY=VALUE", s)
			continue
		}
		n, err := valueNode(value)
		if err != nil {
			p.addAt(at, "quote the value or fix its YAML syntax", "--set %s: cannot read value %q: %s", key, value, strings.TrimPrefix(err.Error(), "yaml: "))
			continue
		}
		clearPositions(n)
		if err := setPath(root, key, n); err != nil {
			p.addAt(at, err.hint, "--set %s: %s", key, err.msg)
		}
	}
}

// valueNode reads a --set value as YAML; an empty value is an empty string.
func valueNode(s string) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}, nil
	}
	return doc.Content[0], nil
}

func clearPositions(n *yaml.Node) { movePositions(n, 0, 0) }

func movePositions(n *yaml.Node, line, col int) {
	n.Line, n.Column = line, col
	for _, c := range n.Content {
		movePositions(c, line, col)
	}
}
