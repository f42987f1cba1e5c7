// Package yamlnode holds small helpers on yaml.v3 nodes shared by the
// parsers of topology and experiment files.
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
