package netdev

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// lab makes n namespaces, each with a veth pair's end and a dummy
// interface, and removes them at the end.
func lab(tb testing.TB, n int) []Node {
	if os.Geteuid() != 0 {
		tb.Skip("needs root to make network namespaces")
	}
	var nodes []Node
	for i := range n {
		name := fmt.Sprintf("tbtest-netdev-%d-%d", os.Getpid(), i)
		run := func(args ...string) {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				tb.Fatalf("ip %v: %v: %s", args, err, out)
			}
		}
		run("netns", "add", name)
		tb.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
		run("-n", name, "link", "add", "eth1", "type", "veth", "peer", "name", "eth2")
		run("-n", name, "link", "add", "d0", "type", "veth", "peer", "name", "d1")
		run("-n", name, "link", "set", "eth1", "up")
		run("-n", name, "link", "set", "eth2", "up")
		nodes = append(nodes, Node{Name: fmt.Sprintf("n%d", i), NS: "/run/netns/" + name})
	}
	return nodes
}

func TestSampleReadsEveryInterface(t *testing.T) {
	nodes := lab(t, 2)
	s, err := Open(nodes)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 2 { // the second time from the cached names
		samples, err := s.Sample()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, x := range samples {
			got[x.Node+":"+x.Object]++
		}
		for _, want := range []string{"n0:eth1", "n0:eth2", "n0:d0", "n0:d1", "n1:eth1", "n1:eth2", "n1:d0"} {
			if got[want] != 8 {
				t.Errorf("%s: %d counters, want 8 (got %v)", want, got[want], got)
			}
		}
		if got["n0:lo"] != 0 {
			t.Error("loopback is sampled")
		}
	}
}

// BenchmarkSample20 is one sample of 20 nodes' counters, the work of one
// tick of the default collection on a 20-node lab.
func BenchmarkSample20(b *testing.B) {
	s, err := Open(lab(b, 20))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for b.Loop() {
		if _, err := s.Sample(); err != nil {
			b.Fatal(err)
		}
	}
}
