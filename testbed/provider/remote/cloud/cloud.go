// Package cloud creates the remote provider's cloud hosts with Terraform or
// OpenTofu, driven through hashicorp/terraform-exec, and turns the module's
// `hosts` output into an inventory (package inventory).
//
// Everything lives in one directory the caller gives (under the run
// directory): a copy of the module, its variables, the state, and a journal
// written before anything is applied, so that an interrupted run can be
// destroyed later from the directory alone (Destroy). The package touches
// nothing else; what the module creates is the module's business.
package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/testbed/provider/remote/inventory"
)

// Stack is one Terraform module applied for one run.
type Stack struct {
	Module string         // the module's directory
	Vars   map[string]any // its input variables
	Dir    string         // where the copy, state and journal go
	Binary string         // tofu or terraform; "" looks for tofu, then terraform, on PATH
}

// Journal states.
const (
	Applying  = "applying"
	Applied   = "applied"
	Destroyed = "destroyed"
)

// Journal is what Dir/journal.json records about the stack.
type Journal struct {
	Module string    `json:"module"`
	Binary string    `json:"binary"`
	State  string    `json:"state"`
	Time   time.Time `json:"time"`
}

const (
	moduleDir   = "module"
	varsFile    = "vars.tfvars.json"
	journalFile = "journal.json"
	hostsOutput = "hosts"
)

// FindBinary returns tofu or terraform from PATH.
func FindBinary() (string, error) {
	for _, name := range []string{"tofu", "terraform"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("cloud: neither tofu nor terraform is on PATH (make tofu builds OpenTofu)")
}

// Apply copies the module into Dir, journals it, runs init and apply, and
// returns the inventory made of its `hosts` output. On failure after the
// journal is written, Destroy(Dir) removes whatever was created.
func Apply(ctx context.Context, s Stack) (*inventory.Inventory, error) {
	bin := s.Binary
	if bin == "" {
		var err error
		if bin, err = FindBinary(); err != nil {
			return nil, err
		}
	}
	work := filepath.Join(s.Dir, moduleDir)
	if err := copyModule(s.Module, work); err != nil {
		return nil, fmt.Errorf("cloud: %w", err)
	}
	vars, err := json.MarshalIndent(s.Vars, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("cloud: variables: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, varsFile), vars, 0o600); err != nil {
		return nil, fmt.Errorf("cloud: %w", err)
	}
	if err := writeJournal(s.Dir, Journal{Module: s.Module, Binary: bin, State: Applying}); err != nil {
		return nil, err
	}
	tf, err := open(work, bin)
	if err != nil {
		return nil, err
	}
	if err := tf.Init(ctx); err != nil {
		return nil, fmt.Errorf("cloud: init %s: %w", s.Module, err)
	}
	if err := tf.Apply(ctx, tfexec.VarFile(filepath.Join(s.Dir, varsFile))); err != nil {
		return nil, fmt.Errorf("cloud: apply %s: %w", s.Module, err)
	}
	if err := writeJournal(s.Dir, Journal{Module: s.Module, Binary: bin, State: Applied}); err != nil {
		return nil, err
	}
	outs, err := tf.Output(ctx)
	if err != nil {
		return nil, fmt.Errorf("cloud: output: %w", err)
	}
	out, ok := outs[hostsOutput]
	if !ok {
		return nil, fmt.Errorf("cloud: module %s has no output %q (it must list the hosts; see topologies/cloud/local)", s.Module, hostsOutput)
	}
	return hostsInventory(out.Value, filepath.Join(s.Dir, "inventory.yaml"))
}

// Destroy destroys the stack journalled in dir (after Apply, or after a run
// that was interrupted during it). A dir whose stack is destroyed already,
// or that holds no journal, is left as it is.
func Destroy(ctx context.Context, dir string) error {
	j, err := ReadJournal(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if j.State == Destroyed {
		return nil
	}
	tf, err := open(filepath.Join(dir, moduleDir), j.Binary)
	if err != nil {
		return err
	}
	// init again: an apply interrupted before init finished left no providers.
	if err := tf.Init(ctx); err != nil {
		return fmt.Errorf("cloud: init for destroy of %s: %w", j.Module, err)
	}
	if err := tf.Destroy(ctx, tfexec.VarFile(filepath.Join(dir, varsFile))); err != nil {
		return fmt.Errorf("cloud: destroy %s (state in %s): %w", j.Module, dir, err)
	}
	j.State = Destroyed
	return writeJournal(dir, *j)
}

// ReadJournal reads dir's journal.
func ReadJournal(dir string) (*Journal, error) {
	b, err := os.ReadFile(filepath.Join(dir, journalFile))
	if err != nil {
		return nil, err
	}
	var j Journal
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("cloud: journal %s: %w", filepath.Join(dir, journalFile), err)
	}
	return &j, nil
}

func writeJournal(dir string, j Journal) error {
	j.Time = time.Now().UTC()
	b, _ := json.MarshalIndent(j, "", "  ")
	tmp := filepath.Join(dir, journalFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("cloud: journal: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, journalFile))
}

func open(work, bin string) (*tfexec.Terraform, error) {
	tf, err := tfexec.NewTerraform(work, bin)
	if err != nil {
		return nil, fmt.Errorf("cloud: %w", err)
	}
	// No CLI configuration from the user's environment: the run's
	// behaviour must not depend on it.
	if err := tf.SetEnv(map[string]string{"TF_CLI_CONFIG_FILE": os.DevNull}); err != nil {
		return nil, fmt.Errorf("cloud: %w", err)
	}
	return tf, nil
}

// copyModule copies the module's own files (not .terraform or state) into
// dst, so that state and providers live under the run directory.
func copyModule(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("module: %w", err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || strings.Contains(name, ".tfstate") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
			return err
		}
		if strings.HasSuffix(name, ".tf") {
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("module %s has no .tf file", src)
	}
	return nil
}

// outputHost is one host of the `hosts` output.
type outputHost struct {
	Address       string            `json:"address"`
	TunnelAddress string            `json:"tunnel_address"`
	Port          int               `json:"port"`
	User          string            `json:"user"`
	Identity      string            `json:"identity"`
	HostKey       string            `json:"host_key"`
	Labels        map[string]string `json:"labels"`
}

// hostsInventory turns the `hosts` output (a JSON object by host name)
// into an inventory file at path, read back through inventory.Load so the
// same rules apply as to a written one.
func hostsInventory(raw json.RawMessage, path string) (*inventory.Inventory, error) {
	var hosts map[string]outputHost
	if err := json.Unmarshal(raw, &hosts); err != nil {
		return nil, fmt.Errorf("cloud: output %q is not a map of hosts: %w", hostsOutput, err)
	}
	names := make([]string, 0, len(hosts))
	for n := range hosts {
		names = append(names, n)
	}
	sort.Strings(names)
	doc := map[string]any{}
	hs := map[string]any{}
	for _, n := range names {
		h := hosts[n]
		e := map[string]any{"address": h.Address, "user": h.User, "host_key": h.HostKey}
		if h.Port != 0 {
			e["port"] = h.Port
		}
		if h.Identity != "" {
			e["identity"] = h.Identity
		}
		if h.TunnelAddress != "" {
			e["tunnel_address"] = h.TunnelAddress
		}
		if len(h.Labels) > 0 {
			e["labels"] = h.Labels
		}
		hs[n] = e
	}
	doc["hosts"] = hs
	b, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	b = append([]byte("# written by tbctl from the Terraform/OpenTofu output \"hosts\"\n"), b...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return nil, fmt.Errorf("cloud: %w", err)
	}
	return inventory.Load(path)
}
