package gen

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed/topo"
	"github.com/tbctl/tbctl/testbed/topo/ipplan"
)

// TestGeneratedFilesParseAndPlan feeds the marshalled files through the
// parser, the way `tbctl topo gen | tbctl deploy` would.
func TestGeneratedFilesParseAndPlan(t *testing.T) {
	sizes := map[string][]Params{
		"single":     {{}, {Mgmt: true}},
		"linear":     {{}, {Hosts: 50}},
		"tree":       {{}, {Depth: 3, Fanout: 2}},
		"dumbbell":   {{}},
		"leaf-spine": {{}, {Spines: 3, Leaves: 4, Hosts: 3}},
		"fat-tree":   {{}, {K: 6}},
	}
	for shape, params := range sizes {
		for _, p := range params {
			t.Run(fmt.Sprintf("%s %+v", shape, p), func(t *testing.T) {
				f, err := Generate(shape, p)
				require.NoError(t, err)
				data, err := Marshal(f)
				require.NoError(t, err)
				lab, err := topo.Parse(data, shape+".yml", topo.Options{})
				require.NoError(t, err, "%s", data)
				assert.Len(t, lab.Nodes, len(f.Topology.Nodes))
				assert.Len(t, lab.Links, len(f.Topology.Links))
				assert.Equal(t, f.Routing, lab.Routing)
				assert.True(t, lab.Addressing.Auto)
				assert.Equal(t, !p.Mgmt, lab.Mgmt.Disabled)
				require.NoError(t, ipplan.Apply(lab))
				checkHostsReachEachOther(t, lab)
			})
		}
	}
}
