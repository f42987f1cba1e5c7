// Package netns is the embedded default provider: every node is a named
// network namespace under /run/netns (so `ip netns exec` works), links are
// veth pairs made through netlink, bridge nodes are Linux bridges, the
// management network is attached through CNI, and nodes with binds get a
// mount namespace of their own. It needs root on Linux.
//
// It touches only kernel objects named after the lab (namespaces, the
// management bridge, root-namespace interfaces it created and marked with
// the lab's alias), files under the lab's directory and the CNI address
// store of the lab's management network, and processes running inside the
// lab's namespaces.
package netns

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
	"github.com/tbctl/tbctl/testbed/topo"
)

// Name is the provider's name for --provider.
const Name = "netns"

func init() { provider.Register(&Provider{}) }

// Provider runs labs in network namespaces.
type Provider struct{}

func (*Provider) Name() string { return Name }

func (*Provider) Kinds() map[string]bool {
	return map[string]bool{topo.KindLinux: true, topo.KindBridge: true, topo.KindHost: true}
}

// Preflight checks for root, network namespaces and, when the lab has a
// management network, the CNI plugins.
func (*Provider) Preflight(ctx context.Context, t *topo.Topology) error {
	if os.Geteuid() != 0 {
		return errkind.Env("run tbctl as root (sudo tbctl ...)", "the netns provider needs root to create network namespaces")
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return errkind.Env("use a kernel built with CONFIG_NET_NS", "this kernel has no network namespaces")
	}
	if t != nil && !t.Mgmt.Disabled {
		for _, plugin := range []string{"bridge", "host-local"} {
			if _, err := findPlugin(plugin); err != nil {
				return err
			}
		}
	}
	return nil
}

// CNIPath lists directories searched for CNI plugins; TBCTL_CNI_PATH
// (colon-separated) overrides it.
func CNIPath() []string {
	if p := os.Getenv("TBCTL_CNI_PATH"); p != "" {
		return filepath.SplitList(p)
	}
	return []string{"/usr/lib/cni", "/opt/cni/bin"}
}

func findPlugin(name string) (string, error) {
	for _, dir := range CNIPath() {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errkind.Env("install Debian's containernetworking-plugins (apt-get install containernetworking-plugins) or set TBCTL_CNI_PATH",
		"CNI plugin %q not found in %s", name, strings.Join(CNIPath(), ":"))
}

// namespacePath is where a node's namespace is pinned.
func namespacePath(rec *lab.Record, node string) string {
	return filepath.Join(NetnsDir, lab.NamespaceName(rec.Prefix, rec.Name, node))
}

// inNamespace reports whether a node of this kind has a namespace of its
// own (host nodes are the root namespace).
func inNamespace(kind string) bool { return kind != topo.KindHost }

// aliasOf marks root-namespace interfaces that belong to a lab.
func aliasOf(labName string) string { return Alias(labName) }

// Alias is the alias that marks a root-namespace interface as the lab's:
// destroy removes every interface that carries it.
func Alias(labName string) string { return "tbctl:" + labName }
