// Package yamlnode holds small helpers on yaml.v3 nodes shared by the
// parsers of topology, experiment and inventory files.
package yamlnode

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Describe names the YAML type of n for messages ("a list", "the string
// \"x\"", "an integer").
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!str":
		return fmt.Sprintf("the string %q", n.Value)
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "nothing"
	}
	return n.ShortTag()
}

// Deref follows aliases (*name) to the node they stand for.
func Deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// Duplicates calls fn for every key written a second time in a mapping
// anywhere under n, with the key's first occurrence.
func Duplicates(n *yaml.Node, fn func(dup, first *yaml.Node)) {
	if n.Kind == yaml.MappingNode {
		first := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if f, ok := first[k.Value]; ok {
				fn(k, f)
				continue
			}
			first[k.Value] = k
		}
	}
	for _, c := range n.Content {
		Duplicates(c, fn)
	}
}
