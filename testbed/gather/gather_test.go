package gather

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/collectors"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/topo"
)

func TestOnlyTopologyIfaces(t *testing.T) {
	host := &topo.Node{Name: "h1", Kind: topo.KindHost, Interfaces: []*topo.Interface{{Name: "eth2"}}}
	in := []collectors.Sample{
		{Source: "netdev", Node: "h1", Object: "eth2", Metric: "tx_bytes"},
		{Source: "netdev", Node: "h1", Object: "eth0", Metric: "tx_bytes"},            // the host's SSH network
		{Source: "qdisc", Node: "h1", Object: "eth2:tbf:1:0", Metric: "drops"},        // a qdisc of the lab's interface
		{Source: "qdisc", Node: "h1", Object: "docker0:noqueue:0:0", Metric: "drops"}, // not the lab's
		{Source: "netdev", Node: "r1", Object: "eth9", Metric: "tx_bytes"},            // a namespaced node keeps all
	}
	out := onlyTopologyIfaces(in, map[string]*topo.Node{"h1": host})
	var objs []string
	for _, s := range out {
		objs = append(objs, s.Node+"/"+s.Object)
	}
	require.Equal(t, []string{"h1/eth2", "h1/eth2:tbf:1:0", "r1/eth9"}, objs)
}

func TestMetricsAddr(t *testing.T) {
	require.Equal(t, "172.20.0.5:9101", MetricsAddr("172.20.0.5", 1))
	require.Equal(t, "127.0.0.1:39100", MetricsAddr("", 0))
}

func TestNodeNS(t *testing.T) {
	rec := &lab.Record{Name: "x", Prefix: "tb"}
	require.Equal(t, "", NodeNS(rec, &topo.Node{Name: "h", Kind: topo.KindHost}))
	require.Equal(t, "/run/netns/"+lab.NamespaceName("tb", "x", "a"), NodeNS(rec, &topo.Node{Name: "a", Kind: topo.KindLinux}))
}
