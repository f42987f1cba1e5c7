package integration

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/provider/remote/sshx"
	"github.com/tbctl/tbctl/testbed/topo/gen"
)

// sshHost is one lab node running Debian's OpenSSH server.
type sshHost struct {
	node, addr string
	data       string // its data-plane (eth1) address, for tunnels between hosts
	hostKey    string // authorized_keys line of its fresh ed25519 host key
}

// sshLab deploys three hosts on one bridge, each running sshd in its
// namespace with a fresh host key and root's authorized key, and returns
// them with the client's private key file. Everything is removed after
// the test: the sshd processes (by their pid files) and the lab.
func sshLab(t *testing.T) ([]sshHost, string) {
	t.Helper()
	needRoot(t)
	const sshd = "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		t.Skip("needs Debian's openssh-server (make deps-test installs it)")
	}
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("needs ssh-keygen (openssh-client)")
	}
	// sshd wants its privilege separation directory.
	require.NoError(t, os.MkdirAll("/run/sshd", 0o755))

	dir := t.TempDir()
	keygen := func(path string) string {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", path).CombinedOutput()
		require.NoError(t, err, "%s", out)
		pub, err := os.ReadFile(path + ".pub")
		require.NoError(t, err)
		return strings.TrimSpace(string(pub))
	}
	client := filepath.Join(dir, "client_ed25519")
	authorized := keygen(client)

	rec := deploy(t, generated(t, "single", gen.Params{Name: "sshx-it", Hosts: 3, Mgmt: true}), "")
	addrs := mgmtAddrs(t, rec.Name)
	data := dataAddrs(t, rec.Name)
	var hosts []sshHost
	for i := 1; i <= 3; i++ {
		node := fmt.Sprintf("h%d", i)
		hd := filepath.Join(dir, node)
		require.NoError(t, os.MkdirAll(hd, 0o700))
		hostKey := keygen(filepath.Join(hd, "host_ed25519"))
		require.NoError(t, os.WriteFile(filepath.Join(hd, "authorized_keys"), []byte(authorized+"\n"), 0o600))
		cfg := filepath.Join(hd, "sshd_config")
		require.NoError(t, os.WriteFile(cfg, []byte(strings.Join([]string{
			"Port 22",
			"HostKey " + filepath.Join(hd, "host_ed25519"),
			"PidFile " + filepath.Join(hd, "sshd.pid"),
			"AuthorizedKeysFile " + filepath.Join(hd, "authorized_keys"),
			"PermitRootLogin prohibit-password",
			"PasswordAuthentication no",
			"KbdInteractiveAuthentication no",
			"UsePAM no",
			"StrictModes no",
			"Subsystem sftp internal-sftp",
		}, "\n")+"\n"), 0o600))
		// A real host has its cgroup hierarchies mounted; a node's fresh
		// /sys has none, so the host's sshd mounts this machine's again.
		out, code := run(t, rec.Name, node, "/bin/sh", "-ec", cgroupMounts(t)+"exec "+sshd+` "$@"`, "sh", "-f", cfg, "-E", filepath.Join(hd, "sshd.log"))
		require.Equal(t, 0, code, "sshd on %s: %s", node, out)
		pidFile := filepath.Join(hd, "sshd.pid")
		t.Cleanup(func() { // before the lab's destroy (cleanups run last first)
			if b, err := os.ReadFile(pidFile); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					syscall.Kill(pid, syscall.SIGTERM)
				}
			}
		})
		require.NotEmpty(t, addrs[node])
		require.NotEmpty(t, data[node])
		hosts = append(hosts, sshHost{node: node, addr: addrs[node][0], data: data[node][0], hostKey: hostKey})
	}
	// Wait until every sshd has written its pid file (it is listening then).
	require.Eventually(t, func() bool {
		for _, h := range hosts {
			if _, err := os.Stat(filepath.Join(dir, h.node, "sshd.pid")); err != nil {
				return false
			}
		}
		return true
	}, 10*time.Second, 50*time.Millisecond)
	return hosts, client
}

// mgmtAddrs maps each linux node to its management (eth0) IPv4 address,
// which the host reaches over the lab's management bridge: the controller's
// path to its hosts. (The data plane is not routed from the host.)
func mgmtAddrs(t *testing.T, labName string) map[string][]string {
	t.Helper()
	insp, err := testbed.Inspect(context.Background(), labName)
	require.NoError(t, err)
	m := map[string][]string{}
	for _, n := range insp.Nodes {
		for _, i := range n.Interfaces {
			if i.Name != "eth0" {
				continue
			}
			for _, a := range i.Addrs {
				if p, err := netip.ParsePrefix(a); err == nil && p.Addr().Is4() {
					m[n.Name] = append(m[n.Name], p.Addr().String())
				}
			}
		}
	}
	return m
}

// TestSSHTransportAgainstOpenSSH runs the remote provider's SSH transport
// against real OpenSSH servers in network namespaces: commands land in the
// right namespace, the binary copy is verified and skipped the second time,
// and a wrong host key, a wrong user and an unreachable host each fail
// with their own error and a message that says what to do.
func TestSSHTransportAgainstOpenSSH(t *testing.T) {
	hosts, client := sshLab(t)
	ctx := context.Background()
	target := func(h sshHost) sshx.Target {
		return sshx.Target{Name: h.node, Address: h.addr, Port: 22, User: "root", Identity: client, HostKey: h.hostKey}
	}
	opts := sshx.Options{Timeout: 5 * time.Second, Retries: 2}
	pool := sshx.NewPool(opts)
	defer pool.Close()

	// Fan out: every host answers from its own namespace (its address).
	var targets []sshx.Target
	for _, h := range hosts {
		targets = append(targets, target(h))
	}
	seen := make(chan string, len(hosts))
	require.NoError(t, pool.ForEach(ctx, targets, 2, func(ctx context.Context, c *sshx.Client) error {
		out, err := c.Output(ctx, []string{"ip", "-4", "-o", "addr", "show", "dev", "eth0"})
		if err != nil {
			return err
		}
		seen <- c.Name() + " " + string(out)
		return nil
	}))
	close(seen)
	got := map[string]string{}
	for s := range seen {
		name, rest, _ := strings.Cut(s, " ")
		got[name] = rest
	}
	for _, h := range hosts {
		require.Contains(t, got[h.node], h.addr+"/", "%s answered from its namespace", h.node)
	}

	// Copy tbctl itself: copied, then skipped, then copied again once changed.
	c, err := pool.Client(ctx, target(hosts[0]))
	require.NoError(t, err)
	remoteDir := t.TempDir()
	remote := filepath.Join(remoteDir, "bin", "tbctl")
	bin := tbctlBin(t)
	copied, err := c.CopyFile(ctx, bin, remote, 0o755)
	require.NoError(t, err)
	require.True(t, copied)
	copied, err = c.CopyFile(ctx, bin, remote, 0o755)
	require.NoError(t, err)
	require.False(t, copied, "same SHA-256: not copied again")
	out, err := c.Output(ctx, []string{remote, "version"})
	require.NoError(t, err)
	require.Contains(t, string(out), "tbctl")
	code, err := c.Run(ctx, []string{"sh", "-c", "exit 7"}, nil, nil, nil)
	require.NoError(t, err)
	require.Equal(t, 7, code)

	// Host 1 presenting host 2's key is refused, with the fingerprint.
	wrong := target(hosts[0])
	wrong.HostKey = hosts[1].hostKey
	_, err = sshx.Dial(ctx, wrong, opts)
	require.ErrorIs(t, err, sshx.ErrHostKey)
	require.Contains(t, err.Error(), "SHA256:")

	// A user without the key.
	nobody := target(hosts[0])
	nobody.User = "nobody"
	_, err = sshx.Dial(ctx, nobody, opts)
	require.ErrorIs(t, err, sshx.ErrAuth)
	require.Contains(t, err.Error(), "nobody@"+hosts[0].addr)

	// An address in the lab's management subnet where no host is.
	a := netip.MustParseAddr(hosts[2].addr)
	for range 50 {
		a = a.Next()
	}
	gone := target(hosts[0])
	gone.Address = a.String()
	start := time.Now()
	_, err = sshx.Dial(ctx, gone, sshx.Options{Timeout: time.Second, Retries: 2})
	require.ErrorIs(t, err, sshx.ErrUnreachable)
	require.False(t, errors.Is(err, sshx.ErrAuth))
	require.Less(t, time.Since(start), 10*time.Second)
}

// cgroupMounts is a shell script that mounts this machine's cgroup
// hierarchies again under /sys/fs/cgroup, as they are here: a tmpfs with
// one mount per cgroup v1 controller set, or the cgroup2 mount.
func cgroupMounts(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mounts")
	require.NoError(t, err)
	var b strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[1], "/sys/fs/cgroup") {
			continue
		}
		switch f[2] {
		case "tmpfs":
			fmt.Fprintf(&b, "mount -t tmpfs -o mode=755 tmpfs %s\n", f[1])
		case "cgroup", "cgroup2":
			var opts []string
			for _, o := range strings.Split(f[3], ",") {
				if o != "rw" && o != "relatime" && o != "ro" {
					opts = append(opts, o)
				}
			}
			fmt.Fprintf(&b, "mkdir -p %s\n", f[1])
			if len(opts) > 0 {
				fmt.Fprintf(&b, "mount -t %s -o %s %s %s\n", f[2], strings.Join(opts, ","), f[2], f[1])
			} else {
				fmt.Fprintf(&b, "mount -t %s %s %s\n", f[2], f[2], f[1])
			}
		}
	}
	return b.String()
}
