package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/internal/suggest"
	"github.com/tbctl/tbctl/internal/yamlnode"
	"github.com/tbctl/tbctl/testbed/topo"
)

var (
	topFields      = []string{"defaults", "hosts"}
	defaultsFields = []string{"user", "port", "identity", "known_hosts"}
	hostFields     = []string{"address", "tunnel_address", "user", "port", "identity", "host_key", "known_hosts", "labels", "nics"}
	nicFields      = []string{"name", "speed_mbps", "rdma"}
	rdmaFields     = []string{"device", "port"}
	// connFields are the fields of a host that say how to reach it.
	connFields = []string{"user", "port", "identity", "known_hosts", "host_key"}
)

// Load reads and parses the inventory file at path.
func Load(path string) (*Inventory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Parse decodes and validates an inventory. file names the input in
// positions and anchors relative paths. On failure the error is
// topo.Problems, listing every defect found.
func Parse(data []byte, file string) (*Inventory, error) {
	p := &parser{file: file, dir: filepath.Dir(file)}
	if abs, err := filepath.Abs(p.dir); err == nil {
		p.dir = abs
	}
	root := p.document(data)
	if root == nil {
		return nil, p.result()
	}
	p.checkDuplicates(root)
	inv := p.inventory(root)
	if len(p.probs) > 0 {
		return nil, p.result()
	}
	return inv, nil
}

type parser struct {
	file  string
	dir   string // absolute directory of file
	probs topo.Problems
}

type entry struct{ key, value *yaml.Node }

func (p *parser) pos(n *yaml.Node) topo.Pos {
	return topo.Pos{File: p.file, Line: n.Line, Col: n.Column}
}

func (p *parser) add(n *yaml.Node, hint, format string, args ...any) {
	p.probs = append(p.probs, topo.Problem{Pos: p.pos(n), Msg: fmt.Sprintf(format, args...), Hint: hint})
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
		p.probs = append(p.probs, topo.Problem{Pos: pos, Msg: strings.TrimPrefix(err.Error(), "yaml: "), Hint: "fix the YAML syntax"})
		return nil
	}
	if len(root.Content) == 0 {
		p.probs = append(p.probs, topo.Problem{Pos: topo.Pos{File: p.file, Line: 1, Col: 1}, Msg: "the file is empty", Hint: "write hosts: with at least one host"})
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
// hosts with the same name.
func (p *parser) checkDuplicates(n *yaml.Node) {
	yamlnode.Duplicates(n, func(dup, first *yaml.Node) {
		p.add(dup, "remove or rename one of them", "duplicate key %q (first defined at %s)", dup.Value, p.pos(first))
	})
}

func deref(n *yaml.Node) *yaml.Node { return yamlnode.Deref(n) }

// entries lists the entries of a mapping in order, first occurrence of a
// key only (duplicates are reported by checkDuplicates).
func entries(n *yaml.Node) []entry {
	var out []entry
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		if !seen[k.Value] {
			seen[k.Value] = true
			out = append(out, entry{k, v})
		}
	}
	return out
}

// fields returns the entries of the mapping n by name, reporting unknown
// ones; nil when n is not a mapping.
func (p *parser) fields(n *yaml.Node, path string, allowed []string) map[string]entry {
	if n.Kind != yaml.MappingNode {
		p.typeProblem(n, path, "a mapping")
		return nil
	}
	out := map[string]entry{}
	for _, e := range entries(n) {
		if !slices.Contains(allowed, e.key.Value) {
			p.add(e.key, suggest.Hint(e.key.Value, allowed, "fields under "+path), "unknown field %q", e.key.Value)
			continue
		}
		out[e.key.Value] = e
	}
	return out
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

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		p.typeProblem(n, path, "a string")
		return "", false
	}
	return n.Value, true
}

func (p *parser) integer(n *yaml.Node, path string) (int, bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return int(i), true
		}
	}
	p.typeProblem(n, path, "an integer")
	return 0, false
}

// inventory decodes the document, merges defaults into each host and
// checks what spans hosts.
func (p *parser) inventory(root *yaml.Node) *Inventory {
	inv := &Inventory{File: p.file}
	top := p.fields(root, "the top of the file", topFields)
	var defaults settings
	if e, ok := top["defaults"]; ok {
		if f := p.fields(e.value, "defaults", defaultsFields); f != nil {
			defaults = p.settings(f, "defaults")
		}
	}
	e, ok := top["hosts"]
	if !ok {
		p.add(root, "add hosts: with at least one host", "missing hosts")
		return inv
	}
	if e.value.Kind != yaml.MappingNode {
		p.typeProblem(e.value, "hosts", "a mapping")
		return inv
	}
	hosts := entries(e.value)
	if len(hosts) == 0 {
		p.add(e.value, "add at least one host", "hosts: no hosts")
	}
	var addrs []*yaml.Node // each host's address, for checkAddresses
	for _, h := range hosts {
		host, addr := p.host(h, defaults)
		if host != nil {
			inv.Hosts = append(inv.Hosts, host)
			addrs = append(addrs, addr)
		}
	}
	p.checkAddresses(inv.Hosts, addrs)
	sort.Slice(inv.Hosts, func(i, j int) bool { return inv.Hosts[i].Name < inv.Hosts[j].Name })
	return inv
}
