package facts

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// write creates root/path with its parent directories.
func write(t *testing.T, root, path, content string) {
	t.Helper()
	p := filepath.Join(root, path)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
}

func link(t *testing.T, root, path, target string) {
	t.Helper()
	p := filepath.Join(root, path)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.Symlink(target, p))
}

func TestReadFakeRoot(t *testing.T) {
	root := t.TempDir()
	write(t, root, "/proc/sys/kernel/hostname", "node-a\n")
	write(t, root, "/proc/sys/kernel/osrelease", "6.1.0-18-amd64\n")
	write(t, root, "/proc/sys/kernel/version", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)\n")
	write(t, root, "/proc/sys/kernel/random/boot_id", "0e5a1d2c-3f4b-4c5d-8e6f-7a8b9c0d1e2f\n")
	write(t, root, "/etc/machine-id", "4f1c2b3a4d5e6f708192a3b4c5d6e7f8\n")
	write(t, root, "/etc/os-release", "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n")
	write(t, root, "/proc/meminfo", "MemTotal:       16318392 kB\nMemFree:         1234567 kB\n")
	write(t, root, "/sys/devices/system/cpu/online", "0-3,6\n")

	// A 25G NIC behind an RDMA device by RoCE, and one of unknown speed.
	write(t, root, "/sys/class/net/ens1f0/address", "0c:42:a1:00:00:01\n")
	write(t, root, "/sys/class/net/ens1f0/mtu", "9000\n")
	write(t, root, "/sys/class/net/ens1f0/speed", "25000\n")
	write(t, root, "/sys/class/net/ens1f0/operstate", "up\n")
	link(t, root, "/sys/class/net/ens1f0/device/driver", "../../../bus/pci/drivers/mlx5_core")
	write(t, root, "/sys/class/net/eno1/address", "52:54:00:12:34:56\n")
	write(t, root, "/sys/class/net/eno1/mtu", "1500\n")
	write(t, root, "/sys/class/net/eno1/speed", "-1\n")
	write(t, root, "/sys/class/net/eno1/operstate", "down\n")
	link(t, root, "/sys/class/net/eno1/device/driver", "../../../bus/pci/drivers/virtio_net")
	// Neither lo nor a regular file is listed.
	write(t, root, "/sys/class/net/lo/mtu", "65536\n")
	write(t, root, "/sys/class/net/bonding_masters", "\n")
	write(t, root, "/sys/class/infiniband/mlx5_0/ports/1/gid_attrs/ndevs/0", "ens1f0\n")

	f, err := Read(root)
	require.NoError(t, err)
	require.Equal(t, &Facts{
		Hostname:      "node-a",
		MachineID:     "4f1c2b3a4d5e6f708192a3b4c5d6e7f8",
		BootID:        "0e5a1d2c-3f4b-4c5d-8e6f-7a8b9c0d1e2f",
		Kernel:        "6.1.0-18-amd64",
		KernelVersion: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)",
		Arch:          unameMachine(runtime.GOARCH),
		OS:            "Debian GNU/Linux 12 (bookworm)",
		CPUs:          5,
		MemoryBytes:   16318392 * 1024,
		NICs: []NIC{
			{Name: "eno1", MAC: "52:54:00:12:34:56", MTU: 1500, Driver: "virtio_net", State: "down"},
			{Name: "ens1f0", MAC: "0c:42:a1:00:00:01", MTU: 9000, SpeedMbps: 25000, Driver: "mlx5_core", State: "up",
				RDMA: &RDMA{Device: "mlx5_0", Port: 1}},
		},
	}, f)

	b, err := json.Marshal(f.NICs[0])
	require.NoError(t, err)
	require.NotContains(t, string(b), "speed_mbps")
	require.NotContains(t, string(b), "rdma")
}

func TestReadEmptyRoot(t *testing.T) {
	root := t.TempDir()
	_, err := Read(root)
	require.Error(t, err, "no /sys/class/net")

	require.NoError(t, os.MkdirAll(filepath.Join(root, "sys/class/net"), 0o755))
	f, err := Read(root)
	require.NoError(t, err)
	require.Equal(t, &Facts{Arch: unameMachine(runtime.GOARCH), NICs: []NIC{}}, f)
}

func TestReadOSReleaseFallback(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "sys/class/net"), 0o755))
	write(t, root, "/usr/lib/os-release", "PRETTY_NAME='Fedora Linux 40'\n")
	f, err := Read(root)
	require.NoError(t, err)
	require.Equal(t, "Fedora Linux 40", f.OS)
}

func TestRDMAPorts(t *testing.T) {
	root := t.TempDir()
	// RoCE on port 2 of mlx5_0 (ports sorted as numbers, not names).
	write(t, root, "/sys/class/infiniband/mlx5_0/ports/10/gid_attrs/ndevs/0", "eth10\n")
	write(t, root, "/sys/class/infiniband/mlx5_0/ports/2/gid_attrs/ndevs/0", "eth0\n")
	// The same netdev in device/net: the port's mapping came first.
	write(t, root, "/sys/class/infiniband/mlx5_0/device/net/eth0/dev_port", "0\n")
	// IPoIB on a two-port device, by dev_port, and one without it.
	write(t, root, "/sys/class/infiniband/mlx4_0/ports/1/gid_attrs/ndevs/0", "")
	write(t, root, "/sys/class/infiniband/mlx4_0/ports/2/gid_attrs/ndevs/0", "")
	write(t, root, "/sys/class/infiniband/mlx4_0/device/net/ib0/dev_port", "0\n")
	write(t, root, "/sys/class/infiniband/mlx4_0/device/net/ib1/dev_port", "1\n")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "sys/class/infiniband/mlx4_0/device/net/ib2"), 0o755))
	// A device with no ports maps nothing.
	require.NoError(t, os.MkdirAll(filepath.Join(root, "sys/class/infiniband/rxe0/device/net/eth9"), 0o755))

	require.Equal(t, map[string]RDMA{
		"eth0":  {Device: "mlx5_0", Port: 2},
		"eth10": {Device: "mlx5_0", Port: 10},
		"ib0":   {Device: "mlx4_0", Port: 1},
		"ib1":   {Device: "mlx4_0", Port: 2},
		"ib2":   {Device: "mlx4_0", Port: 1},
	}, rdmaPorts(root))
	require.Nil(t, rdmaPorts(t.TempDir()))
}

func TestCPUCount(t *testing.T) {
	for in, want := range map[string]int{"0": 1, "0-63": 64, "0-3,8-11": 8, "0,2,4": 3, "": 0, "x": 0, "3-1": 0} {
		root := t.TempDir()
		write(t, root, "online", in)
		require.Equal(t, want, cpuCount(filepath.Join(root, "online")), in)
	}
}

func TestReadThisMachine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads Linux's /sys")
	}
	f, err := Read("")
	require.NoError(t, err)
	host, err := os.Hostname()
	require.NoError(t, err)
	require.Equal(t, host, f.Hostname)
	require.NotEmpty(t, f.Kernel)
	require.NotEmpty(t, f.Arch)
	require.Positive(t, f.CPUs)
	require.NotNil(t, f.NICs)
	names := make([]string, len(f.NICs))
	for i, n := range f.NICs {
		names[i] = n.Name
		for _, a := range n.Addrs {
			require.True(t, strings.Contains(a, "/"), "address %q of %s is not CIDR", a, n.Name)
		}
	}
	require.NotContains(t, names, "lo")
	require.True(t, slices.IsSorted(names), "%v", names)
	b, err := json.Marshal(f)
	require.NoError(t, err)
	t.Logf("%s", b)
}

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

// sample is an exchange sent at t0+at that took rtt and that the host
// answered halfway through with its clock offset by offset.
func sample(at, rtt, offset time.Duration) Sample {
	return Sample{Sent: t0.Add(at), Received: t0.Add(at + rtt), Remote: t0.Add(at + rtt/2 + offset)}
}

func TestEstimate(t *testing.T) {
	o, err := Estimate([]Sample{sample(0, ms(2), ms(5))})
	require.NoError(t, err)
	require.Equal(t, Offset{OffsetNs: ms(5).Nanoseconds(), RTTNs: ms(2).Nanoseconds(), ErrorNs: ms(1).Nanoseconds(), Samples: 1}, o)

	// A negative offset, and a host that answered late in the exchange.
	o, err = Estimate([]Sample{{Sent: t0, Received: t0.Add(ms(4)), Remote: t0.Add(ms(4) - ms(7))}})
	require.NoError(t, err)
	require.Equal(t, Offset{OffsetNs: -ms(5).Nanoseconds(), RTTNs: ms(4).Nanoseconds(), ErrorNs: ms(2).Nanoseconds(), Samples: 1}, o)
}

func TestEstimateBestOfThree(t *testing.T) {
	// The slow exchanges had their replies delayed one way, which skews
	// their offsets; the fastest one is used.
	o, err := Estimate([]Sample{
		{Sent: t0, Received: t0.Add(ms(10)), Remote: t0.Add(ms(9) + ms(5))},
		sample(ms(20), ms(2), ms(5)),
		{Sent: t0.Add(ms(40)), Received: t0.Add(ms(46)), Remote: t0.Add(ms(41) + ms(5))},
	})
	require.NoError(t, err)
	require.Equal(t, Offset{OffsetNs: ms(5).Nanoseconds(), RTTNs: ms(2).Nanoseconds(), ErrorNs: ms(1).Nanoseconds(), Samples: 3}, o)
}

func TestEstimateErrors(t *testing.T) {
	_, err := Estimate(nil)
	require.ErrorContains(t, err, "no clock samples")
	_, err = Estimate([]Sample{sample(0, ms(1), 0), {Sent: t0.Add(ms(2)), Received: t0.Add(ms(1)), Remote: t0}})
	require.ErrorContains(t, err, "sample 1 received")
	_, err = Estimate([]Sample{{Sent: t0, Received: t0.Add(ms(1))}})
	require.ErrorContains(t, err, "no remote time")
}

func TestMeasure(t *testing.T) {
	calls := 0
	o, err := Measure(context.Background(), 5, func(context.Context) (time.Time, error) {
		calls++
		return time.Now().Add(3 * time.Second), nil
	})
	require.NoError(t, err)
	require.Equal(t, 5, calls)
	require.Equal(t, 5, o.Samples)
	require.InDelta(t, (3 * time.Second).Nanoseconds(), o.OffsetNs, float64(10*time.Millisecond))
	require.GreaterOrEqual(t, o.RTTNs, int64(0))
	require.Equal(t, o.RTTNs/2, o.ErrorNs)
}

func TestMeasureErrors(t *testing.T) {
	now := func(context.Context) (time.Time, error) { return time.Now(), nil }
	_, err := Measure(context.Background(), 0, now)
	require.Error(t, err)

	boom := errors.New("boom")
	calls := 0
	_, err = Measure(context.Background(), 3, func(context.Context) (time.Time, error) {
		calls++
		if calls == 2 {
			return time.Time{}, boom
		}
		return time.Now(), nil
	})
	require.ErrorIs(t, err, boom)
	require.Equal(t, 2, calls)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Measure(ctx, 3, now)
	require.ErrorIs(t, err, context.Canceled)
}
