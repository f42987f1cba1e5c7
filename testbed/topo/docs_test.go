package topo

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// The example in docs/topology.md is a valid file, so the documentation
// cannot drift from the parser unnoticed.
func TestDocumentedExampleParses(t *testing.T) {
	doc, err := os.ReadFile("../../docs/topology.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(doc)
	require.NotNil(t, m, "docs/topology.md has a yaml example")
	top, err := Parse(m[1], "docs/topology.md", Options{Provider: "netns", Kinds: map[string]bool{KindLinux: true, KindBridge: true, KindHost: true}})
	require.NoError(t, err)
	require.Len(t, top.Nodes, 3)
	require.Len(t, top.Links, 6)
}
