package remote

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
	"github.com/tbctl/tbctl/testbed/provider/remote/facts"
	"github.com/tbctl/tbctl/testbed/provider/remote/sshx"
	"github.com/tbctl/tbctl/testbed/topo"
)

// Deploy makes the lab on its hosts, as a list of actions each reporting
// progress: connect to every host, record them (before anything is made
// there), copy tbctl, then in emulated mode deploy each host's share and
// join the shares with tunnels, or in physical mode check each host and
// each cable; last, read each host's facts and clock.
func (p *Provider) Deploy(ctx context.Context, l *lab.Lab, rec *lab.Record, t *topo.Topology, prog provider.Progress) error {
	pl, _, err := p.planFor(t, rec.Name)
	if err != nil {
		return err
	}
	pool := p.connections()
	prog.Start("connect to hosts", len(pl.hosts))
	err = p.reach(ctx, pl, func() { prog.Add(1) })
	prog.End(err)
	if err != nil {
		return err
	}
	st := &state{Mode: pl.mode}
	underlay := map[string]netip.Addr{}
	for _, hp := range pl.hosts {
		c, err := pool.Client(ctx, target(hp.host))
		if err != nil {
			return err
		}
		ip := c.RemoteIP()
		if a := hp.host.TunnelAddress; a != "" {
			ip = netip.MustParseAddr(a) // checked by the inventory
		}
		underlay[hp.host.Name] = ip
		st.Hosts = append(st.Hosts, &hostState{Target: target(hp.host), Sub: hp.sub, Nodes: hp.nodes,
			Underlay: ip.String(), Timings: map[string]string{}})
	}
	var files map[string][]byte
	if pl.mode == topo.RemoteEmulated {
		if files, err = pl.subTopologies(t, underlay); err != nil {
			return err
		}
		for _, hp := range pl.hosts {
			st.host(hp.host.Name).Tunnels = hp.tunnels
		}
	}
	// Before anything is made on a host: destroy reads this.
	if err := saveState(l, st); err != nil {
		return err
	}
	var mu sync.Mutex
	timed := func(h *hostState, step string, start time.Time) {
		mu.Lock()
		h.Timings[step] = time.Since(start).Round(time.Millisecond).String()
		mu.Unlock()
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	type step struct {
		name string
		do   func(ctx context.Context, c *sshx.Client, h *hostState) error
	}
	copyStep := step{"copy tbctl to hosts", func(ctx context.Context, c *sshx.Client, h *hostState) error {
		_, err := c.CopyFile(ctx, self, HostBin, 0o755)
		return err
	}}
	factsStep := step{"read host facts and clocks", func(ctx context.Context, c *sshx.Client, h *hostState) error {
		out, err := c.Output(ctx, []string{HostBin, "remote", "facts"})
		if err != nil {
			return err
		}
		h.Facts = json.RawMessage(bytes.TrimSpace(out))
		h.Clock, err = measureClock(ctx, c)
		return err
	}}
	steps := []step{copyStep,
		{"deploy on hosts", func(ctx context.Context, c *sshx.Client, h *hostState) error {
			file := path.Join(h.dir(), "topology.yaml")
			if err := c.WriteFile(file, files[h.Target.Name], 0o644); err != nil {
				return err
			}
			return runGuarded(ctx, c, "deploy", file, "--name", h.Sub, "--provider", "netns", "--quiet")
		}},
		{"tunnels between hosts", func(ctx context.Context, c *sshx.Client, h *hostState) error {
			if len(h.Tunnels) == 0 {
				return nil
			}
			spec, err := json.Marshal(h.Tunnels)
			if err != nil {
				return err
			}
			return runGuarded(ctx, c, "remote", "tunnel", "--spec", string(spec))
		}},
		factsStep,
	}
	if pl.mode == topo.RemotePhysical {
		steps = []step{copyStep,
			{"check hosts", func(ctx context.Context, c *sshx.Client, h *hostState) error {
				rec, err := json.Marshal(physicalRecord(h.Sub, t, h.Nodes[0]))
				if err != nil {
					return err
				}
				return runGuarded(ctx, c, "remote", "adopt", "--record", string(rec))
			}},
			{"check cables", func(ctx context.Context, c *sshx.Client, h *hostState) error {
				for _, l := range t.Links {
					if l.A.Node == h.Nodes[0] {
						if err := checkCable(ctx, c, t, l); err != nil {
							return err
						}
					}
				}
				return nil
			}},
			factsStep,
		}
	}
	for _, step := range steps {
		prog.Start(step.name, len(st.Hosts))
		err := pool.ForEach(ctx, st.targets(), Parallel, func(ctx context.Context, c *sshx.Client) error {
			h := st.host(c.Name())
			start := time.Now()
			if err := step.do(ctx, c, h); err != nil {
				return err
			}
			timed(h, step.name, start)
			prog.Add(1)
			return nil
		})
		prog.End(err)
		if err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
	}
	for _, h := range st.Hosts {
		rec.Machines = append(rec.Machines, &lab.Machine{Name: h.Target.Name, Address: h.Target.Address, Nodes: h.Nodes,
			Facts: h.Facts, ClockOffsetNS: h.Clock.OffsetNs, ClockErrorNS: h.Clock.ErrorNs, Deploy: h.Timings})
	}
	if pl.mode == topo.RemotePhysical {
		rec.SetMechanism("remote", fmt.Sprintf("physical: each node is one of %d hosts reached over SSH; cables checked by ping", len(st.Hosts)))
	} else {
		rec.SetMechanism("remote", fmt.Sprintf("emulated: netns labs on %d hosts over SSH, VXLAN (UDP %d) between hosts", len(st.Hosts), VXLANPort))
	}
	return saveState(l, st)
}

// ClockSamples is how many exchanges measure a host's clock offset; the
// one with the shortest round trip counts.
var ClockSamples = 8

// measureClock estimates the host's clock offset over one session of
// `tbctl remote clock`, which answers each line with the host's time: the
// exchanges cost a round trip on the connection, not a process start.
func measureClock(ctx context.Context, c *sshx.Client) (facts.Offset, error) {
	st, err := c.StartStream(HostBin, "remote", "clock")
	if err != nil {
		return facts.Offset{}, err
	}
	defer st.Close()
	stdin, stdout := st.Stdin, st.Stdout
	defer stdin.Close()
	replies := bufio.NewScanner(stdout)
	// The first exchange waits for the process to start; it is not a sample.
	ask := func(context.Context) (time.Time, error) {
		if _, err := io.WriteString(stdin, "\n"); err != nil {
			return time.Time{}, err
		}
		if !replies.Scan() {
			return time.Time{}, fmt.Errorf("%s: remote clock: no answer (%v)", c.Name(), replies.Err())
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(replies.Text()), 10, 64)
		return time.Unix(0, ns), err
	}
	if _, err := ask(ctx); err != nil {
		return facts.Offset{}, err
	}
	return facts.Measure(ctx, ClockSamples, ask)
}

// runHost runs argv on a host and turns a failure into an error carrying
// what the command said.
func runHost(ctx context.Context, c *sshx.Client, argv ...string) error {
	var out bytes.Buffer
	code, err := c.Run(ctx, argv, nil, &out, &out)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("%s: `%s` exited with %d: %s", c.Name(), strings.Join(argv[1:min(3, len(argv))], " "), code, strings.TrimSpace(out.String()))
	}
	return nil
}

// runGuarded runs the host's tbctl with args under `tbctl remote guard`,
// which ends it (SIGTERM: a deploy then removes what it made) when this
// session ends, whether ctx ended or this process died.
func runGuarded(ctx context.Context, c *sshx.Client, args ...string) error {
	st, err := c.StartStream(append([]string{HostBin, "remote", "guard", "--"}, args...)...)
	if err != nil {
		return err
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { st.Stdin.Close() })
	defer stop()
	out, _ := io.ReadAll(st.Stdout)
	err = st.Session.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var exit *ssh.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("%s: `tbctl %s` exited with %d: %s", c.Name(), strings.Join(args[:min(2, len(args))], " "), exit.ExitStatus(), strings.TrimSpace(string(out)))
	}
	if err != nil {
		return fmt.Errorf("%s: `tbctl %s`: %w", c.Name(), strings.Join(args[:min(2, len(args))], " "), err)
	}
	return nil
}
