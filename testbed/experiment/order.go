package experiment

import (
	"fmt"
	"strings"

	"github.com/tbctl/tbctl/testbed/topo"
)

// StartOrder groups the instances into waves: every instance starts after
// the instances it names in after, all of which are in earlier waves.
// Within a wave instances keep file order. A cycle is an error.
func (e *Experiment) StartOrder() ([][]*Instance, error) {
	waves, probs := startOrder(e.Roles)
	if probs != nil {
		return nil, probs
	}
	return waves, nil
}

func startOrder(instances []*Instance) ([][]*Instance, topo.Problems) {
	byName := map[string]*Instance{}
	for _, in := range instances {
		byName[in.Name] = in
	}
	started := map[string]bool{}
	var waves [][]*Instance
	for len(started) < len(instances) {
		var wave []*Instance
		for _, in := range instances {
			if !started[in.Name] && allStarted(in.After, started) {
				wave = append(wave, in)
			}
		}
		if len(wave) == 0 {
			return nil, cycles(instances, byName, started)
		}
		for _, in := range wave {
			started[in.Name] = true
		}
		waves = append(waves, wave)
	}
	return waves, nil
}

func allStarted(names []string, started map[string]bool) bool {
	for _, n := range names {
		if !started[n] {
			return false
		}
	}
	return true
}

// cycles reports each cycle among the instances that could not start.
func cycles(instances []*Instance, byName map[string]*Instance, started map[string]bool) topo.Problems {
	var probs topo.Problems
	reported := map[string]bool{}
	for _, in := range instances {
		if started[in.Name] || reported[in.Name] {
			continue
		}
		cycle := findCycle(in, byName, started)
		if len(cycle) == 0 || reported[cycle[0].Name] {
			continue
		}
		names := make([]string, len(cycle)+1)
		for i, c := range cycle {
			names[i] = c.Name
			reported[c.Name] = true
		}
		names[len(cycle)] = cycle[0].Name
		probs = append(probs, topo.Problem{
			Pos:  cycle[0].Pos,
			Msg:  fmt.Sprintf("start order cycle: %s", strings.Join(names, " after ")),
			Hint: "remove one of these after entries",
		})
	}
	if len(probs) == 0 {
		for _, in := range instances {
			if !started[in.Name] {
				return topo.Problems{{Pos: in.Pos, Msg: fmt.Sprintf("instance %s waits for an instance that never starts", in.Name)}}
			}
		}
	}
	return probs
}

// findCycle follows after entries from in through instances that could not
// start until it meets one it has seen, and returns the cycle found.
func findCycle(in *Instance, byName map[string]*Instance, started map[string]bool) []*Instance {
	var path []*Instance
	index := map[string]int{}
	for in != nil {
		if i, seen := index[in.Name]; seen {
			return path[i:]
		}
		index[in.Name] = len(path)
		path = append(path, in)
		var next *Instance
		for _, a := range in.After {
			if n := byName[a]; n != nil && !started[a] {
				next = n
				break
			}
		}
		in = next
	}
	return nil
}
