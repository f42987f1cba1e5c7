package fault

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/tbctl/tbctl/testbed/fault/linkem"
)

// impairment reads the parameters of a netem-style fault.
func impairment(code string, params map[string]string) linkem.Impairment {
	pct, _ := strconv.ParseFloat(params["percent"], 64)
	delay, _ := time.ParseDuration(paramOr(params, "delay", "0s"))
	jitter, _ := time.ParseDuration(paramOr(params, "jitter", "0s"))
	imp := linkem.Impairment{Delay: delay, Jitter: jitter, Distribution: paramOr(params, "distribution", "normal")}
	switch code {
	case "net.reorder":
		imp.ReorderPct = pct
	case "net.duplicate":
		imp.DuplicatePct = pct
	case "net.corrupt":
		imp.CorruptPct = pct
	case "net.loss_burst":
		frac := func(name, def string) float64 {
			v, _ := strconv.ParseFloat(paramOr(params, name, def), 64)
			return v / 100
		}
		imp.GE = &linkem.GilbertElliott{P: frac("p", ""), R: frac("r", ""), H: frac("h", "0"), K: frac("k", "100")}
	}
	return imp
}

// emulatorPlan impairs a link in both directions: with netem on each end
// where the kernel has sch_netem, else with the userspace link emulator
// spliced into the link. Undo covers both; apply records which served.
func emulatorPlan(ends []end, imp linkem.Impairment, dir string) (*plan, error) {
	if len(ends) != 2 || ends[0].NS == "" || ends[1].NS == "" {
		return nil, fmt.Errorf("delay, reorder, duplicate and corrupt act on a link between two nodes of the lab")
	}
	if err := imp.Validate(); err != nil {
		return nil, err
	}
	chosen := ""
	p := &plan{mechanism: "netem or userspace link emulator", chosen: &chosen}
	for _, e := range ends {
		p.undo = append(p.undo, Step{Do: "qdisc-delete", NS: e.NS, Iface: e.Iface})
	}
	p.undo = append(p.undo, Step{Do: "linkem-remove", Dir: dir})
	p.apply = func() error {
		err := errNoNetem
		if imp.GE == nil { // netlink sets no netem gemodel: bursts always use the emulator
			err = addNetem(ends[0], imp)
		}
		if err == nil {
			chosen = "netem"
			return addNetem(ends[1], imp)
		}
		if !errors.Is(err, errNoNetem) {
			return err
		}
		chosen = "userspace link emulator (no sch_netem in this kernel)"
		if imp.GE != nil {
			chosen = "userspace link emulator (Gilbert-Elliott model)"
		}
		_, err = linkem.Insert(linkem.Link{NSA: ends[0].NS, IfA: ends[0].Iface, NSB: ends[1].NS, IfB: ends[1].Iface}, imp, dir)
		return err
	}
	p.verify = func() (string, error) {
		if chosen == "netem" {
			return fmt.Sprintf("netem on %s and %s", ends[0], ends[1]), nil
		}
		s, err := linkem.LoadState(filepath.Join(dir, "state.json"))
		if err != nil {
			return "", err
		}
		if err := linkem.Verify(s); err != nil {
			return "", err
		}
		return fmt.Sprintf("relay in a hidden namespace between %s and %s: %s", ends[0], ends[1], describeImpairment(imp)), nil
	}
	return p, nil
}

func describeImpairment(imp linkem.Impairment) string {
	var parts []string
	if imp.Delay > 0 {
		parts = append(parts, "delay "+imp.Delay.String())
	}
	if imp.Jitter > 0 {
		parts = append(parts, "jitter "+imp.Jitter.String()+" "+imp.Distribution)
	}
	if ge := imp.GE; ge != nil {
		parts = append(parts, fmt.Sprintf("Gilbert-Elliott loss p=%g r=%g h=%g k=%g", ge.P, ge.R, ge.H, ge.K))
	}
	for name, v := range map[string]float64{"reorder": imp.ReorderPct, "duplicate": imp.DuplicatePct, "corrupt": imp.CorruptPct} {
		if v > 0 {
			parts = append(parts, fmt.Sprintf("%s %g%%", name, v))
		}
	}
	return strings.Join(parts, ", ") + " each way"
}

// addNetem puts a netem qdisc with the impairment at an interface's root.
func addNetem(e end, imp linkem.Impairment) error {
	h, l, done, err := linkIn(e)
	if err != nil {
		return err
	}
	defer done()
	attrs := netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Handle: netlink.MakeHandle(0x7b, 0), Parent: netlink.HANDLE_ROOT}
	netem := netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{
		Latency:     uint32(imp.Delay.Microseconds()),
		Jitter:      uint32(imp.Jitter.Microseconds()),
		ReorderProb: float32(imp.ReorderPct),
		Duplicate:   float32(imp.DuplicatePct),
		CorruptProb: float32(imp.CorruptPct),
	})
	if err := h.QdiscAdd(netem); err != nil {
		if isNoNetem(err) {
			return errNoNetem
		}
		return fmt.Errorf("%s: add netem: %w", e, err)
	}
	return nil
}

// removeEmulator takes the link emulator out of a link, if it is there.
func removeEmulator(dir string) error {
	s, err := linkem.LoadState(filepath.Join(dir, "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return linkem.Remove(s)
}

func emulatorRemoved(dir string) error {
	s, err := linkem.LoadState(filepath.Join(dir, "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return linkem.VerifyRemoved(s)
}
