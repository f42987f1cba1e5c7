package experiment

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/internal/suggest"

	"github.com/tbctl/tbctl/internal/yamlnode"
)

type entry struct{ key, value *yaml.Node }

func deref(n *yaml.Node) *yaml.Node { return yamlnode.Deref(n) }

// entries lists the entries of a mapping in order, first occurrence of a
// key only (duplicates are reported by checkDuplicates).
func entries(n *yaml.Node) []entry {
	var out []entry
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			continue
		}
		seen[k.Value] = true
		out = append(out, entry{k, v})
	}
	return out
}

func lookupKey(n *yaml.Node, key string) (entry, bool) {
	for _, e := range entries(n) {
		if e.key.Value == key {
			return e, true
		}
	}
	return entry{}, false
}

func keysOf(n *yaml.Node) []string {
	var keys []string
	for _, e := range entries(n) {
		keys = append(keys, e.key.Value)
	}
	return keys
}

func copyNode(n *yaml.Node) *yaml.Node {
	n = deref(n)
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, child := range n.Content {
		c.Content[i] = copyNode(child)
	}
	return &c
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// pathError says why a dotted path cannot be set.
type pathError struct {
	msg, hint string
}

// setPath replaces the value at the dotted path with value. Every element
// but the last must exist, except a missing params mapping of an instance,
// which is created; the last key may be new (the decoder judges it).
func setPath(root *yaml.Node, path string, value *yaml.Node) *pathError {
	parts := strings.Split(path, ".")
	for _, p := range parts {
		if p == "" {
			return &pathError{msg: fmt.Sprintf("malformed path %q", path), hint: "write dotted keys such as roles.flow1.params.rate"}
		}
	}
	n := deref(root)
	for i, part := range parts {
		last := i == len(parts)-1
		here := strings.Join(parts[:i], ".")
		switch n.Kind {
		case yaml.MappingNode:
			e, ok := lookupKey(n, part)
			switch {
			case ok && last:
				replace(n, e.value, value)
				return nil
			case ok:
				n = deref(e.value)
			case last || (part == "params" && i == 2 && parts[0] == "roles"):
				child := value
				if !last {
					child = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: value.Line, Column: value.Column}
				}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: part, Line: value.Line, Column: value.Column}, child)
				if last {
					return nil
				}
				n = child
			default:
				where := strings.Join(parts[:i+1], ".")
				return &pathError{msg: fmt.Sprintf("%s does not exist", where), hint: suggest.Hint(part, keysOf(n), "keys"+under(here))}
			}
		case yaml.SequenceNode:
			idx, err := strconv.Atoi(part)
			if err != nil || idx < 0 || idx >= len(n.Content) {
				return &pathError{msg: fmt.Sprintf("%s has no element %q", here, part), hint: fmt.Sprintf("use an index from 0 to %d", len(n.Content)-1)}
			}
			if last {
				n.Content[idx] = value
				return nil
			}
			n = deref(n.Content[idx])
		default:
			return &pathError{msg: fmt.Sprintf("%s is %s, not a mapping", here, yamlnode.Describe(n)), hint: "set " + here + " itself"}
		}
	}
	return nil
}

func under(path string) string {
	if path == "" {
		return ""
	}
	return " under " + path
}

func replace(m *yaml.Node, old, value *yaml.Node) {
	for i := 1; i < len(m.Content); i += 2 {
		if m.Content[i] == old {
			m.Content[i] = value
		}
	}
}
