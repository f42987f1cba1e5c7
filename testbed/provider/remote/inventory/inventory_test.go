package inventory

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed/topo"
)

// Real public keys, made with ssh-keygen.
const (
	ed25519Key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEqi0pvh4S6xueaMjlQ5QOpp5zTzi4noCBJdf1DFnd5I gpu1"
	ecdsaKey   = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBCrptTEQx3qK8C+XhE8mEt9gUNTgrHSr5GH2ZDlqVldWk/hksgCrWHni3xH9B+HGQJExyL6Pxrxgz1x+mXrPuC8="
)

const example = `# inventory.yaml
defaults:
  user: tbctl
  port: 2222
  identity: ~/.ssh/id_ed25519
  known_hosts: ~/.ssh/known_hosts
hosts:
  gpu2:
    address: GPU2.lab.example
    labels: {rack: r1, gpu: H100}
  gpu1:
    address: 10.0.0.11
    user: root
    port: 22
    identity: keys/lab_ed25519
    host_key: "` + ed25519Key + `"
    labels: {rack: r1, gpu: H100, gpus: 8}
    nics:
      - {name: eth0, speed_mbps: 100000, rdma: {device: mlx5_0, port: 2}}
      - {name: eth1, rdma: {device: mlx5_1}}
      - name: eno1
  cpu1:
    address: fd00::5
    identity: ""
    known_hosts: /etc/tbctl/known_hosts
    labels: {rack: r2}
`

func parseExample(t *testing.T) *Inventory {
	t.Helper()
	t.Setenv("HOME", "/home/alice")
	inv, err := Parse([]byte(example), "/lab/inventory.yaml")
	require.NoError(t, err)
	return inv
}

func TestParseExample(t *testing.T) {
	inv := parseExample(t)
	pos := func(line int) topo.Pos { return topo.Pos{File: "/lab/inventory.yaml", Line: line, Col: 3} }
	want := &Inventory{File: "/lab/inventory.yaml", Hosts: []*Host{
		{
			Name: "cpu1", Address: "fd00::5", User: "tbctl", Port: 2222,
			KnownHosts: "/etc/tbctl/known_hosts",
			Labels:     map[string]string{"rack": "r2"},
			Pos:        pos(22),
		},
		{
			Name: "gpu1", Address: "10.0.0.11", User: "root", Port: 22,
			Identity: "/lab/keys/lab_ed25519",
			HostKey:  ed25519Key,
			Labels:   map[string]string{"rack": "r1", "gpu": "H100", "gpus": "8"},
			NICs: []NIC{
				{Name: "eth0", SpeedMbps: 100000, RDMA: &RDMA{Device: "mlx5_0", Port: 2}},
				{Name: "eth1", RDMA: &RDMA{Device: "mlx5_1", Port: 1}},
				{Name: "eno1"},
			},
			Pos: pos(11),
		},
		{
			Name: "gpu2", Address: "GPU2.lab.example", User: "tbctl", Port: 2222,
			Identity:   "/home/alice/.ssh/id_ed25519",
			KnownHosts: "/home/alice/.ssh/known_hosts",
			Labels:     map[string]string{"rack": "r1", "gpu": "H100"},
			Pos:        pos(8),
		},
	}}
	assert.Equal(t, want, inv)
	assert.Same(t, inv.Hosts[1], inv.Host("gpu1"))
	assert.Nil(t, inv.Host("gpu3"))
}

func TestDefaults(t *testing.T) {
	t.Setenv("HOME", "/home/bob")
	dir, err := os.Getwd()
	require.NoError(t, err)

	// Without defaults: port 22, no identity.
	inv, err := Parse([]byte("hosts:\n  a: {address: a.example, user: u, host_key: \""+ecdsaKey+"\"}\n"), "t.yaml")
	require.NoError(t, err)
	assert.Equal(t, &Host{Name: "a", Address: "a.example", User: "u", Port: 22, HostKey: ecdsaKey,
		Pos: topo.Pos{File: "t.yaml", Line: 2, Col: 3}}, inv.Hosts[0])

	// Defaults fill what a host leaves out; what it writes wins; a
	// pinned key replaces the default known_hosts; identity "" means the
	// agent only; relative paths follow the inventory file.
	doc := `defaults: {user: d, port: 2200, identity: id, known_hosts: "~/kh"}
hosts:
  plain: {address: 10.1.0.1}
  own: {address: 10.1.0.2, user: o, port: 22, identity: /k, known_hosts: ../kh2}
  pinned: {address: 10.1.0.3, host_key: "` + ed25519Key + `"}
  agent: {address: 10.1.0.4, identity: ""}
`
	inv, err = Parse([]byte(doc), "sub/inv.yaml")
	require.NoError(t, err)
	type conn struct {
		User              string
		Port              int
		Identity, HostKey string
		KnownHosts        string
	}
	got := map[string]conn{}
	for _, h := range inv.Hosts {
		got[h.Name] = conn{h.User, h.Port, h.Identity, h.HostKey, h.KnownHosts}
	}
	assert.Equal(t, map[string]conn{
		"plain":  {"d", 2200, filepath.Join(dir, "sub/id"), "", "/home/bob/kh"},
		"own":    {"o", 22, "/k", "", filepath.Join(dir, "kh2")},
		"pinned": {"d", 2200, filepath.Join(dir, "sub/id"), ed25519Key, ""},
		"agent":  {"d", 2200, "", "", "/home/bob/kh"},
	}, got)
	assert.Equal(t, []string{"agent", "own", "pinned", "plain"}, names(inv.Hosts))
}

func names(hosts []*Host) []string {
	var out []string
	for _, h := range hosts {
		out = append(out, h.Name)
	}
	return out
}

// base is a valid file: the host h1 starts on line 3, its address value
// is at 4:14.
const base = "defaults: {user: u, known_hosts: /kh}\nhosts:\n  h1:\n    address: 10.0.0.1\n"

var badCases = []struct {
	name      string
	yaml      string
	msg       string // the whole problem: message and hint
	line, col int
}{
	{"malformed yaml", "hosts:\n  h1:\n    address: a: b\n", "line 3: mapping values are not allowed in this context (fix the YAML syntax)", 3, 1},
	{"empty file", "", "the file is empty (write hosts: with at least one host)", 1, 1},
	{"not a mapping", "- h1\n", "expected a mapping at the top of the file, got a list (write \"key: value\" pairs)", 1, 1},
	{"missing hosts", "defaults: {user: u}\n", "missing hosts (add hosts: with at least one host)", 1, 1},
	{"no hosts", "hosts: {}\n", "hosts: no hosts (add at least one host)", 1, 8},
	{"unknown top field", base + "host: {}\n", `unknown field "host" (did you mean "hosts"?)`, 5, 1},
	{"unknown defaults field", strings.Replace(base, "known_hosts", "known_host", 1), `unknown field "known_host" (did you mean "known_hosts"?)`, 1, 21},
	{"unknown host field", base + "    labls: {a: b}\n", `unknown field "labls" (did you mean "labels"?)`, 5, 5},
	{"unknown nic field", base + "    nics: [{name: eth0, sped_mbps: 10}]\n", `unknown field "sped_mbps" (did you mean "speed_mbps"?)`, 5, 25},
	{"unknown rdma field", base + "    nics: [{name: eth0, rdma: {device: d, prot: 1}}]\n", `unknown field "prot" (did you mean "port"?)`, 5, 43},
	{"duplicate host", base + "  h1:\n    address: 10.0.0.2\n", `duplicate key "h1" (first defined at t.yaml:3:3) (remove or rename one of them)`, 5, 3},
	{"host not a mapping", base + "  h2: 10.0.0.2\n", `hosts.h2: expected a mapping, got the string "10.0.0.2" (write "key: value" pairs)`, 5, 7},
	{"host name not a DNS label", strings.Replace(base, "h1:", "GPU_1:", 1), `host name "GPU_1" is not a DNS label (use lower-case letters, digits and -, starting with a letter or digit)`, 3, 3},
	{"host name starts with a hyphen", strings.Replace(base, "h1:", "-h1:", 1), `host name "-h1" is not a DNS label`, 3, 3},
	{"host name too long", strings.Replace(base, "h1:", strings.Repeat("a", 64)+":", 1), `host name "` + strings.Repeat("a", 64) + `" is longer than 63 characters (shorten it to at most 63 characters)`, 3, 3},
	{"address missing", strings.Replace(base, "    address: 10.0.0.1\n", "    user: x\n", 1), "hosts.h1: address is required (add address: with the host's IP address or DNS name)", 3, 3},
	{"address with port", strings.Replace(base, "10.0.0.1", `"10.0.0.1:22"`, 1), `hosts.h1.address: "10.0.0.1:22" is neither an IP address nor a DNS name (write the port in port:, and an IPv6 address without brackets)`, 4, 14},
	{"address with space", strings.Replace(base, "10.0.0.1", `gpu 1`, 1), `hosts.h1.address: "gpu 1" is neither an IP address nor a DNS name`, 4, 14},
	{"address empty", strings.Replace(base, "10.0.0.1", `""`, 1), "hosts.h1.address is empty", 4, 14},
	{"port zero", base + "    port: 0\n", "hosts.h1.port: 0 is not a port (use 1 to 65535 (SSH listens on 22))", 5, 11},
	{"port too large", base + "    port: 65536\n", "hosts.h1.port: 65536 is not a port", 5, 11},
	{"default port too large", strings.Replace(base, "/kh}", "/kh, port: 70000}", 1), "defaults.port: 70000 is not a port", 1, 45},
	{"port a string", base + "    port: \"22\"\n", `hosts.h1.port: expected an integer, got the string "22" (write a whole number without quotes)`, 5, 11},
	{"user missing", strings.Replace(base, "user: u, ", "", 1), "hosts.h1: user is required (add user: to the host or to defaults)", 3, 3},
	{"user empty", base + "    user: \"\"\n", "hosts.h1: user is required", 3, 3},
	{"no host key", strings.Replace(base, ", known_hosts: /kh", "", 1), "hosts.h1: host_key or known_hosts is required (pin the host's public key with host_key: (ssh-keyscan prints it) or name a known_hosts file here or in defaults)", 3, 3},
	{"host key and known hosts", base + "    host_key: " + ed25519Key + "\n    known_hosts: /kh\n", "hosts.h1: both host_key and known_hosts are set (pin the key with host_key or name a known_hosts file, not both)", 6, 5},
	{"host key DSA", base + "    host_key: ssh-dss AAAAB3NzaC1kc3MAAACBAP\n", "hosts.h1.host_key: DSA keys (ssh-dss) are not accepted (pin another of the host's keys, e.g. ssh-keyscan -t ed25519 HOST)", 5, 15},
	{"host key unknown type", base + "    host_key: sk-ssh-ed25519@openssh.com AAAA\n", `hosts.h1.host_key: unknown key type "sk-ssh-ed25519@openssh.com" (valid types: ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, ssh-ed25519, ssh-rsa)`, 5, 15},
	{"host key type misspelt", base + "    host_key: ssh-ed2551 AAAA\n", `hosts.h1.host_key: unknown key type "ssh-ed2551" (did you mean "ssh-ed25519"?)`, 5, 15},
	{"host key without data", base + "    host_key: ssh-ed25519\n", `hosts.h1.host_key: "ssh-ed25519" is not "TYPE BASE64"`, 5, 15},
	{"host key empty", base + "    host_key: \"\"\n", "hosts.h1.host_key: the key is empty", 5, 15},
	{"host key not base64", base + "    host_key: ssh-ed25519 AAAA*C3Nz\n", "hosts.h1.host_key: the key data is not base64", 5, 15},
	{"host key truncated", base + "    host_key: ssh-ed25519 AAAAC3NzaC1lZDI1\n", "hosts.h1.host_key: the key data is truncated", 5, 15},
	{"host key of another type", base + "    host_key: \"ssh-ed25519 " + strings.Fields(ecdsaKey)[1] + "\"\n", `hosts.h1.host_key: the key data is of type "ecdsa-sha2-nistp256", not "ssh-ed25519"`, 5, 15},
	{"host key without key", base + "    host_key: ssh-ed25519 " + blob("ssh-ed25519", "") + "\n", "hosts.h1.host_key: the key data holds no key", 5, 15},
	{"tilde of another user", base + "    identity: ~alice/.ssh/id\n", `hosts.h1.identity: "~alice/.ssh/id": only ~/ (your own home) is expanded (write the full path)`, 5, 15},
	{"identity a list", base + "    identity: [a]\n", "hosts.h1.identity: expected a string, got a list", 5, 15},
	{"label key empty", base + "    labels: {\"\": x}\n", "hosts.h1.labels: a label key is empty (write a label as key: value with a key such as rack or gpu)", 5, 14},
	{"label key with =", base + "    labels: {\"a=b\": x}\n", `hosts.h1.labels: label key "a=b" contains '=', ',' or a space`, 5, 14},
	{"label value with comma", base + "    labels: {gpu: \"a,b\"}\n", "hosts.h1.labels.gpu: a label value cannot contain a comma", 5, 19},
	{"label value missing", base + "    labels: {gpu: }\n", "hosts.h1.labels.gpu: expected a string, got nothing", 5, 19},
	{"labels a list", base + "    labels: [a]\n", "hosts.h1.labels: expected a mapping, got a list", 5, 13},
	{"nics a mapping", base + "    nics: {eth0: {}}\n", "hosts.h1.nics: expected a list, got a mapping", 5, 11},
	{"nic without name", base + "    nics: [{speed_mbps: 10}]\n", "hosts.h1.nics[0]: name is required (add name: with the interface's name)", 5, 12},
	{"nic name too long", base + "    nics: [{name: enp1s0f0np0abcde}]\n", `hosts.h1.nics[0].name: "enp1s0f0np0abcde" is longer than 15 characters`, 5, 19},
	{"nic listed twice", base + "    nics:\n      - {name: eth0}\n      - {name: eth1}\n      - {name: eth0}\n", `hosts.h1.nics: NIC "eth0" is listed twice (first at t.yaml:6:16) (list each NIC once)`, 8, 16},
	{"nic speed zero", base + "    nics: [{name: eth0, speed_mbps: 0}]\n", "hosts.h1.nics[0].speed_mbps: 0 is not a speed", 5, 37},
	{"rdma port zero", base + "    nics: [{name: eth0, rdma: {device: mlx5_0, port: 0}}]\n", "hosts.h1.nics[0].rdma.port: must be at least 1, got 0 (RDMA ports are numbered from 1)", 5, 54},
	{"rdma without device", base + "    nics: [{name: eth0, rdma: {port: 1}}]\n", "hosts.h1.nics[0].rdma: device is required", 5, 31},
	{"same address and port", base + "  h2:\n    address: 10.0.0.1\n", "hosts.h2: 10.0.0.1 port 22 is also host h1 (t.yaml:3:3) (give each host its own address, or its own port when they share one)", 6, 14},
	{"same DNS name in another case", "defaults: {user: u, known_hosts: /kh}\nhosts:\n  b: {address: gpu.example}\n  a: {address: GPU.example.}\n", "hosts.a: gpu.example port 22 is also host b (t.yaml:3:3)", 4, 16},
	{"same IPv6 address written differently", "defaults: {user: u, known_hosts: /kh}\nhosts:\n  b: {address: \"fd00::1\"}\n  a: {address: \"fd00:0::1\"}\n", "hosts.a: fd00::1 port 22 is also host b (t.yaml:3:3)", 4, 16},
}

func TestBadInputs(t *testing.T) {
	t.Setenv("HOME", "/home/alice")
	for _, c := range badCases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), "t.yaml")
			require.Error(t, err)
			var probs topo.Problems
			require.True(t, errors.As(err, &probs), "error is %T", err)
			for _, p := range probs {
				if strings.Contains(p.String(), c.msg) {
					assert.Equal(t, topo.Pos{File: "t.yaml", Line: c.line, Col: c.col}, p.Pos, "position of %q", p.String())
					return
				}
			}
			t.Errorf("no problem contains %q; got:\n%s", c.msg, err)
		})
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	doc := `defaults: {usr: u}
hosts:
  gpu1:
    address: 10.0.0.1
    port: 0
  Gpu2:
    address: 10.0.0.1
    host_key: ssh-ed25519 AAAA
`
	_, err := Parse([]byte(doc), "t.yaml")
	require.Error(t, err)
	assert.Equal(t, `t.yaml:1:12: unknown field "usr" (did you mean "user"?)
t.yaml:3:3: hosts.gpu1: user is required (add user: to the host or to defaults)
t.yaml:3:3: hosts.gpu1: host_key or known_hosts is required (pin the host's public key with host_key: (ssh-keyscan prints it) or name a known_hosts file here or in defaults)
t.yaml:5:11: hosts.gpu1.port: 0 is not a port (use 1 to 65535 (SSH listens on 22))
t.yaml:6:3: host name "Gpu2" is not a DNS label (use lower-case letters, digits and -, starting with a letter or digit)
t.yaml:6:3: hosts.Gpu2: user is required (add user: to the host or to defaults)
t.yaml:8:15: hosts.Gpu2.host_key: the key data is truncated (copy the host's whole public key line, e.g. from /etc/ssh/ssh_host_ed25519_key.pub or ssh-keyscan -t ed25519 HOST)`, err.Error())
}

func TestSameAddressOtherPort(t *testing.T) {
	doc := "defaults: {user: u, known_hosts: /kh}\nhosts:\n  a: {address: bastion.example, port: 2201}\n  b: {address: bastion.example, port: 2202}\n"
	inv, err := Parse([]byte(doc), "t.yaml")
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, names(inv.Hosts))
}

// blob is a key in authorized_keys base64: the type as an SSH string,
// then data as another.
func blob(typ, data string) string {
	var b []byte
	for _, s := range []string{typ, data} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	if data == "" {
		b = b[:len(b)-4]
	}
	return base64.StdEncoding.EncodeToString(b)
}

func TestCheckHostKey(t *testing.T) {
	for _, typ := range KeyTypes {
		msg, _ := checkHostKey(typ + " " + blob(typ, "key") + " a comment")
		assert.Equal(t, "", msg, typ)
	}
	for _, k := range []string{ed25519Key, ecdsaKey} {
		msg, _ := checkHostKey(k)
		assert.Equal(t, "", msg, k)
	}
	// The type written before the data must be the one inside it.
	msg, _ := checkHostKey("ssh-rsa " + blob("ssh-ed25519", "key"))
	assert.Equal(t, `the key data is of type "ssh-ed25519", not "ssh-rsa"`, msg)
	msg, _ = checkHostKey("ecdsa-sha2-nistp384 " + strings.Fields(ecdsaKey)[1])
	assert.Equal(t, `the key data is of type "ecdsa-sha2-nistp256", not "ecdsa-sha2-nistp384"`, msg)
	// A length beyond the data.
	msg, _ = checkHostKey("ssh-rsa " + base64.StdEncoding.EncodeToString([]byte{0, 0, 1, 0, 's'}))
	assert.Equal(t, "the key data is truncated", msg)
}

func TestSelect(t *testing.T) {
	inv := parseExample(t)

	hosts, err := inv.Select("gpu2")
	require.NoError(t, err)
	assert.Equal(t, []string{"gpu2"}, names(hosts))

	hosts, err = inv.Select("rack=r1")
	require.NoError(t, err)
	assert.Equal(t, []string{"gpu1", "gpu2"}, names(hosts))

	hosts, err = inv.Select("rack=r1, gpus=8")
	require.NoError(t, err)
	assert.Equal(t, []string{"gpu1"}, names(hosts))

	hosts, err = inv.Select("rack=r2")
	require.NoError(t, err)
	assert.Equal(t, []string{"cpu1"}, names(hosts))

	for sel, want := range map[string]string{
		"gpu3":             `/lab/inventory.yaml: no host named "gpu3" (did you mean "gpu1"?)`,
		"storage":          `/lab/inventory.yaml: no host named "storage"`,
		"rack=r2,gpu=H100": `/lab/inventory.yaml: no host has the labels "rack=r2,gpu=H100"`,
		"rack=r9":          `/lab/inventory.yaml: no host has the labels "rack=r9"`,
		"rack=r1,gpu":      `/lab/inventory.yaml: host selector "rack=r1,gpu": "gpu" is not key=value`,
		"=r1":              `/lab/inventory.yaml: host selector "=r1": "=r1" is not key=value`,
		"rack=r1,rack=r2":  `/lab/inventory.yaml: host selector "rack=r1,rack=r2" asks for rack twice`,
		" ":                `/lab/inventory.yaml: empty host selector: write a host name or key=value labels`,
	} {
		hosts, err := inv.Select(sel)
		assert.Nil(t, hosts, sel)
		assert.EqualError(t, err, want, sel)
	}
}

func TestWriteRoundTrip(t *testing.T) {
	inv := parseExample(t)
	var buf bytes.Buffer
	require.NoError(t, inv.Write(&buf))
	assert.Equal(t, `hosts:
  cpu1:
    address: fd00::5
    user: tbctl
    port: 2222
    known_hosts: /etc/tbctl/known_hosts
    labels: {rack: r2}
  gpu1:
    address: 10.0.0.11
    user: root
    port: 22
    identity: /lab/keys/lab_ed25519
    host_key: `+ed25519Key+`
    labels: {gpu: H100, gpus: "8", rack: r1}
    nics:
      - {name: eth0, speed_mbps: 100000, rdma: {device: mlx5_0, port: 2}}
      - {name: eth1, rdma: {device: mlx5_1, port: 1}}
      - {name: eno1}
  gpu2:
    address: GPU2.lab.example
    user: tbctl
    port: 2222
    identity: /home/alice/.ssh/id_ed25519
    known_hosts: /home/alice/.ssh/known_hosts
    labels: {gpu: H100, rack: r1}
`, buf.String())

	again, err := Parse(buf.Bytes(), "/elsewhere/recorded.yaml")
	require.NoError(t, err, buf.String())
	for _, i := range []*Inventory{inv, again} {
		i.File = ""
		for _, h := range i.Hosts {
			h.Pos = topo.Pos{}
		}
	}
	assert.Equal(t, inv, again)
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "inv.yaml")
	require.NoError(t, os.WriteFile(path, []byte(base+"    identity: id\n"), 0o644))
	inv, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, path, inv.File)
	assert.Equal(t, filepath.Join(dir, "id"), inv.Host("h1").Identity)
	assert.Equal(t, topo.Pos{File: path, Line: 3, Col: 3}, inv.Host("h1").Pos)

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// The example in docs/remote.md is a valid inventory, so the
// documentation cannot drift from the parser unnoticed.
func TestDocumentedExampleParses(t *testing.T) {
	t.Setenv("HOME", "/home/alice")
	doc, err := os.ReadFile("../../../../docs/remote.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(doc)
	require.NotNil(t, m, "docs/remote.md has a yaml example")
	inv, err := Parse(m[1], "/lab/inventory.yaml")
	require.NoError(t, err)
	assert.Equal(t, []string{"cpu1", "gpu1", "gpu2"}, names(inv.Hosts))
	cpu1 := inv.Host("cpu1")
	assert.Equal(t, "", cpu1.Identity)
	assert.Equal(t, 2222, cpu1.Port)
	assert.Equal(t, "/home/alice/.ssh/known_hosts", cpu1.KnownHosts)
	gpu1 := inv.Host("gpu1")
	assert.Equal(t, "/lab/keys/lab_ed25519", gpu1.Identity)
	assert.Equal(t, "", gpu1.KnownHosts)
	assert.Len(t, gpu1.NICs, 2)
}

func TestTunnelAddress(t *testing.T) {
	inv, err := Parse([]byte(`hosts:
  a: {address: a.lab.example, tunnel_address: 10.1.0.1, user: root, host_key: `+ed25519Key+`}
`), "inv.yaml")
	require.NoError(t, err)
	require.Equal(t, "10.1.0.1", inv.Hosts[0].TunnelAddress)
	var buf bytes.Buffer
	require.NoError(t, inv.Write(&buf))
	again, err := Parse(buf.Bytes(), "again.yaml")
	require.NoError(t, err)
	require.Equal(t, "10.1.0.1", again.Hosts[0].TunnelAddress)

	_, err = Parse([]byte(`hosts:
  a: {address: 10.0.0.1, tunnel_address: fabric.lab, user: root, host_key: `+ed25519Key+`}
`), "inv.yaml")
	require.ErrorContains(t, err, `inv.yaml:2:`)
	require.ErrorContains(t, err, `hosts.a.tunnel_address "fabric.lab" is not an IP address`)
}
