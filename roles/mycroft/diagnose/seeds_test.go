package diagnose

import (
	"testing"
)

// TestManySeeds runs every fault on every rank (or link) of each ring size
// under several compute-jitter seeds and counts wrong diagnoses.
func TestManySeeds(t *testing.T) {
	bad := map[string]int{}
	for seed := uint64(10); seed < 16; seed++ {
		for _, c := range sizes() {
			for x := 0; x < c.n; x++ {
				// compute slowdown
				s := newSim(c.n, c.nc, seed)
				healthy(t, s, warmOps)
				s.ranks[x].computeScale = 3
				a := detectUntil(t, s, Slowdown, 5000)
				if d := Localize(s.ring, a); d.Class != RankNotEntered || d.Rank != x {
					bad["compute"]++
					t.Errorf("seed %d ring %v fault at %d: %v", seed, c, x, d)
				}
				s = newSim(c.n, c.nc, seed)
				healthy(t, s, warmOps)
				s.links[x].slow = 5
				a = detectUntil(t, s, Slowdown, 5000)
				if d := Localize(s.ring, a); d.Class != LinkSlow || d.From != x {
					bad["linkslow"]++
					t.Errorf("seed %d ring %v fault at %d: %v", seed, c, x, d)
				}
				s = newSim(c.n, c.nc, seed)
				healthy(t, s, warmOps)
				s.runUntilIn(x, int(seed%9))
				for ch := range c.nc {
					s.links[x].stalled[ch] = true
				}
				a = detectUntil(t, s, Hang, 1000)
				if d := Localize(s.ring, a); d.Class != LinkStalled || d.From != x {
					bad["linkstall"]++
					t.Errorf("seed %d ring %v fault at %d: %v", seed, c, x, d)
				}
				s = newSim(c.n, c.nc, seed)
				healthy(t, s, warmOps)
				s.runUntilIn(x, int(seed%9))
				s.ranks[x].paused = true
				a = detectUntil(t, s, Hang, 1000)
				if d := Localize(s.ring, a); (d.Class != RankStalled && d.Class != RankNotEntered) || d.Rank != x {
					bad["rankstall"]++
					t.Errorf("seed %d ring %v fault at %d: %v", seed, c, x, d)
				}
				s = newSim(c.n, c.nc, seed)
				healthy(t, s, warmOps)
				s.runUntilIn(x, int(seed%9))
				s.ranks[x].mute = true
				a = detectUntil(t, s, Hang, 1000)
				if d := Localize(s.ring, a); d.Class != RankStalled || d.Rank != x {
					bad["mute"]++
					t.Errorf("seed %d ring %v fault at %d: %v", seed, c, x, d)
				}
				s = newSim(c.n, c.nc, seed)
				healthy(t, s, warmOps)
				s.runUntilComputing(x)
				s.ranks[x].paused = true
				a = detectUntil(t, s, Hang, 1000)
				if d := Localize(s.ring, a); d.Class != RankNotEntered || d.Rank != x {
					bad["notentered"]++
					t.Errorf("seed %d ring %v fault at %d: %v", seed, c, x, d)
				}
				if c.nc > 1 {
					s = newSim(c.n, c.nc, seed)
					healthy(t, s, warmOps)
					s.runUntilIn(x, int(seed%9))
					s.links[x].stalled[1] = true
					a = detectUntil(t, s, Hang, 1000)
					if d := Localize(s.ring, a); d.Class != LinkStalled || d.From != x || d.Channel != 1 {
						bad["onech"]++
						t.Errorf("seed %d ring %v fault at %d: %v", seed, c, x, d)
					}
				}
			}
			s := newSim(c.n, c.nc, seed)
			healthy(t, s, 100)
		}
	}
	if len(bad) > 0 {
		t.Errorf("wrong diagnoses per fault: %v", bad)
	}
}
