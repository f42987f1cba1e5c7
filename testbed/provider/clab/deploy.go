package clab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
	"github.com/tbctl/tbctl/testbed/provider/netns"
	"github.com/tbctl/tbctl/testbed/topo"
)

// fileOf is where a lab's containerlab file is; containerlab keeps its own
// folder for the lab (clab-<name>) beside it.
func fileOf(l *lab.Lab) string { return filepath.Join(l.Dir, "clab", "topology.clab.yml") }

// Deploy writes the containerlab file, has containerlab deploy it, pins
// every container's network namespace and configures the nodes tbctl owns.
func (p *Provider) Deploy(ctx context.Context, l *lab.Lab, rec *lab.Record, t *topo.Topology, prog provider.Progress) error {
	cl, err := containerlab()
	if err != nil {
		return err
	}
	prog.Start("build node image", 1)
	image, imageID, err := NodeImage(ctx)
	if err == nil {
		prog.Add(1)
	}
	prog.End(err)
	if err != nil {
		return err
	}
	// The management subnet is chosen, and taken by containerlab's Docker
	// network, under the global lock, so two labs never share one.
	unlock, err := lab.LockAll()
	if err != nil {
		return err
	}
	defer func() {
		if unlock != nil {
			unlock()
		}
	}()
	subnet := t.Mgmt.IPv4Subnet
	if !subnet.IsValid() {
		if subnet, err = netns.FreeMgmtSubnet(len(t.Nodes) + 3); err != nil {
			return err
		}
	}
	rec.MgmtNet, rec.MgmtIPv4 = mgmtNetwork(rec), subnet.String()
	if rec.Mechanisms == nil {
		rec.Mechanisms = map[string]string{}
	}
	rec.Mechanisms["node image"] = image + " (" + imageID + ")"
	// The version is read while containerlab deploys: it takes a tenth of
	// a second of its own.
	ver := make(chan string, 1)
	go func() { ver <- version(ctx, cl) }()
	if err := l.Save(rec); err != nil {
		return err
	}
	data, adopt, err := translate(rec, t, image, subnet.String())
	if err != nil {
		return err
	}
	file := fileOf(l)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		return err
	}

	prog.Start("containerlab deploy", 1)
	out, err := runIn(ctx, filepath.Dir(file), cl, "deploy", "-t", file)
	os.WriteFile(filepath.Join(filepath.Dir(file), "deploy.log"), out, 0o644)
	if err == nil {
		prog.Add(1)
	}
	prog.End(err)
	if err != nil {
		return err
	}
	unlock()
	unlock = nil
	if v := <-ver; v != "" {
		rec.Mechanisms["containerlab"] = v
		if err := l.Save(rec); err != nil {
			return err
		}
	}

	var nodes []*topo.Node
	for _, n := range t.Nodes {
		if n.Kind != topo.KindHost {
			nodes = append(nodes, n)
		}
	}
	prog.Start("pin container namespaces", len(nodes))
	pids, err := containerPIDs(ctx, l, nodes)
	if err == nil {
		for _, n := range nodes {
			if err = netns.PinProcess(netns.NamespacePath(rec, n.Name), pids[n.Name]); err != nil {
				err = fmt.Errorf("node %s: %w", n.Name, err)
				break
			}
			prog.Add(1)
		}
	}
	prog.End(err)
	if err != nil {
		return err
	}
	return netns.Adopt(ctx, l, rec, adopt, prog)
}

// container is one node's container as `containerlab inspect --details
// --format json` describes it.
type container struct {
	Names  []string          `json:"Names"`
	State  string            `json:"State"`
	Pid    int               `json:"Pid"`
	Labels map[string]string `json:"Labels"`
}

// containers asks containerlab for the lab's containers, by node.
func containers(ctx context.Context, l *lab.Lab) (map[string]container, error) {
	cl, err := containerlab()
	if err != nil {
		return nil, err
	}
	file := fileOf(l)
	out, err := output(ctx, filepath.Dir(file), cl, "inspect", "-t", file, "--details", "--format", "json")
	if err != nil {
		return nil, err
	}
	var list []container
	if s := strings.TrimSpace(string(out)); s != "" {
		if err := json.Unmarshal([]byte(s), &list); err != nil {
			return nil, fmt.Errorf("containerlab inspect: %w", err)
		}
	}
	byNode := map[string]container{}
	for _, c := range list {
		if node := c.Labels["clab-node-name"]; node != "" {
			byNode[node] = c
		}
	}
	return byNode, nil
}

// containerPIDs maps every node to its container's process. containerlab
// reports success even when a node's container did not start, so each one
// is checked.
func containerPIDs(ctx context.Context, l *lab.Lab, nodes []*topo.Node) (map[string]int, error) {
	byNode, err := containers(ctx, l)
	if err != nil {
		return nil, err
	}
	pids := map[string]int{}
	for _, n := range nodes {
		c, ok := byNode[n.Name]
		switch {
		case !ok:
			return nil, fmt.Errorf("node %s: containerlab made no container for it (see %s)", n.Name, filepath.Join(filepath.Dir(fileOf(l)), "deploy.log"))
		case c.State != "running" || c.Pid <= 0:
			return nil, fmt.Errorf("node %s: its container is %s, not running (docker logs %s)", n.Name, c.State, strings.TrimPrefix(first(c.Names), "/"))
		}
		pids[n.Name] = c.Pid
	}
	return pids, nil
}

func first(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[0]
}

// version reads the containerlab command's version ("0.60.0").
func version(ctx context.Context, cl string) string {
	out, err := run(ctx, cl, "version")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "version:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
