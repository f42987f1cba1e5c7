package remote

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider/remote/facts"
	"github.com/tbctl/tbctl/testbed/provider/remote/inventory"
	"github.com/tbctl/tbctl/testbed/topo"
)

// RecordInputs keeps a remote topology's inventory with a run: it writes
// the inventory, resolved (defaults applied, paths absolute), as
// dir/inventory.yaml and returns the topology source with remote.inventory
// pointing at it, so that the run directory deploys and reruns by itself.
// Topologies without a remote section come back unchanged.
func RecordInputs(dir string, t *topo.Topology, src []byte) ([]byte, error) {
	if t.Remote == nil {
		return src, nil
	}
	inv, err := inventory.Load(t.Remote.Inventory)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := inv.Write(&buf); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "inventory.yaml"), buf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	if !setInventory(&doc, "inventory.yaml") {
		return nil, fmt.Errorf("%s: no remote.inventory to record", t.File)
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// setInventory sets remote.inventory in a topology document, in place of
// remote.cloud when that is what it names.
func setInventory(doc *yaml.Node, value string) bool {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return false
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "remote" {
			continue
		}
		sec := root.Content[i+1]
		for j := 0; j+1 < len(sec.Content); j += 2 {
			switch sec.Content[j].Value {
			case "inventory", "cloud":
				// The hosts a cloud module made are the run's inventory.
				sec.Content[j].Value = "inventory"
				sec.Content[j+1] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}
				return true
			}
		}
	}
	return false
}

// RecordNICs writes into dir/inventory.yaml (written by RecordInputs) the
// NICs each host was found with at deploy, read from its sysfs, for the
// hosts whose inventory entry declares none: the run's inventory then
// says what the hosts carried. Machines are the lab record's.
func RecordNICs(dir string, machines []*lab.Machine) error {
	path := filepath.Join(dir, "inventory.yaml")
	inv, err := inventory.Load(path)
	if err != nil {
		return err
	}
	changed := false
	for _, m := range machines {
		h := inv.Host(m.Name)
		if h == nil || len(h.NICs) > 0 || len(m.Facts) == 0 {
			continue
		}
		var f facts.Facts
		if err := json.Unmarshal(m.Facts, &f); err != nil {
			return fmt.Errorf("facts of %s: %w", m.Name, err)
		}
		for _, n := range f.NICs {
			nic := inventory.NIC{Name: n.Name, SpeedMbps: n.SpeedMbps}
			if n.RDMA != nil {
				nic.RDMA = &inventory.RDMA{Device: n.RDMA.Device, Port: n.RDMA.Port}
			}
			h.NICs = append(h.NICs, nic)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	var buf bytes.Buffer
	if err := inv.Write(&buf); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
