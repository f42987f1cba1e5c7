package cloud

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

func hostKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	k, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// TestApplyOutputDestroyOffline goes through init, apply, output and
// destroy with OpenTofu (or Terraform) on topologies/cloud/local, which
// needs no network: the hosts given come back as the inventory, the state
// lives under the stack's directory, and a second Destroy from the
// directory alone (as after an interrupted run) is a no-op.
func TestApplyOutputDestroyOffline(t *testing.T) {
	bin, err := FindBinary()
	if err != nil {
		t.Skip("needs tofu or terraform on PATH: make tofu")
	}
	k1, k2 := hostKey(t), hostKey(t)
	dir := t.TempDir()
	s := Stack{
		Module: "../../../../topologies/cloud/local",
		Dir:    dir,
		Binary: bin,
		Vars: map[string]any{"hosts": map[string]any{
			"gpu1": map[string]any{"address": "198.18.9.1", "user": "root", "host_key": k1, "labels": map[string]string{"rack": "r1"}},
			"gpu2": map[string]any{"address": "198.18.9.2", "port": 2222, "user": "tbctl", "host_key": k2},
		}},
	}
	ctx := context.Background()
	inv, err := Apply(ctx, s)
	require.NoError(t, err)
	require.Len(t, inv.Hosts, 2)
	g1, g2 := inv.Host("gpu1"), inv.Host("gpu2")
	require.NotNil(t, g1)
	require.NotNil(t, g2)
	require.Equal(t, "198.18.9.1", g1.Address)
	require.Equal(t, 22, g1.Port)
	require.Equal(t, "root", g1.User)
	require.Equal(t, k1, g1.HostKey)
	require.Equal(t, map[string]string{"rack": "r1"}, g1.Labels)
	require.Equal(t, 2222, g2.Port)
	require.Equal(t, "tbctl", g2.User)
	require.FileExists(t, filepath.Join(dir, "module", "terraform.tfstate"))
	require.FileExists(t, filepath.Join(dir, "inventory.yaml"))
	j, err := ReadJournal(dir)
	require.NoError(t, err)
	require.Equal(t, Applied, j.State)

	require.NoError(t, Destroy(ctx, dir))
	j, err = ReadJournal(dir)
	require.NoError(t, err)
	require.Equal(t, Destroyed, j.State)
	list := exec.Command(bin, "state", "list")
	list.Dir = filepath.Join(dir, "module")
	list.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+os.DevNull)
	out, err := list.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "nothing left in the state")
	require.NoError(t, Destroy(ctx, dir), "destroying twice is a no-op")
	require.NoError(t, Destroy(ctx, t.TempDir()), "a directory without a journal is left alone")
}

// TestBadOutputAndModule: a module without a .tf file is refused before
// anything runs, and hosts that break the inventory's rules are reported
// with the inventory's own messages.
func TestBadOutputAndModule(t *testing.T) {
	_, err := Apply(context.Background(), Stack{Module: t.TempDir(), Dir: t.TempDir(), Binary: "/bin/false"})
	require.ErrorContains(t, err, "has no .tf file")

	_, err = hostsInventory([]byte(`{"bad_name":{"address":"198.18.9.1","user":"root","host_key":"ssh-ed25519 AAAA"}}`), filepath.Join(t.TempDir(), "inv.yaml"))
	require.Error(t, err)
	_, err = hostsInventory([]byte(`["not", "a", "map"]`), filepath.Join(t.TempDir(), "inv.yaml"))
	require.ErrorContains(t, err, "not a map of hosts")
}
