package run

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tbctl/tbctl/roles"
	"github.com/tbctl/tbctl/testbed/topo"
)

// ScoreGrace is how long after a fault is reverted a diagnosis still
// counts as about it: a slowdown is judged over the last few collectives,
// which can end just after the fault does.
const ScoreGrace = 2e9 // ns

// groundTruth is one injected fault as the scorer sees it: when it held
// and which nodes a correct diagnosis names.
type groundTruth struct {
	ID, Name, Code, Target string
	Start, End             float64 // mono ns
	// Node: a node fault (the root cause is that node). Otherwise Ends:
	// a link fault whose root cause is a link with these endpoints (two
	// nodes: exactly that pair, either way; one: any link from or to it).
	Node string
	Ends []string
	Hang bool // the fault stops the ring rather than slowing it
}

// diagnosis is one "diagnosis" event of a diagnosing instance.
type diagnosis struct {
	Mono             float64 // detected_mono_ns
	Kind, Class      string
	Node             string
	FromNode, ToNode string
}

// faultTruths reads every applied fault's window from the timeline and
// what a correct diagnosis of it names.
func faultTruths(tl *timeline, t *topo.Topology, hosts map[string]bool) []groundTruth {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	open := map[string]*groundTruth{}
	var out []groundTruth
	for _, ev := range tl.events {
		id, _ := ev["id"].(string)
		switch ev["event"] {
		case "fault-applied":
			g := &groundTruth{ID: id, Start: mono(ev)}
			g.Name, _ = ev["name"].(string)
			g.Code, _ = ev["code"].(string)
			g.Target, _ = ev["target"].(string)
			params, _ := ev["params"].(map[string]any)
			g.locate(params, t, hosts)
			open[id] = g
		case "fault-reverted":
			if g, ok := open[id]; ok {
				g.End = mono(ev)
				out = append(out, *g)
				delete(open, id)
			}
		}
	}
	for _, g := range open { // never reverted before the run ended
		g.End = math.Inf(1)
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// locate says what a correct diagnosis of the fault names.
// hosts are the nodes running instances: a link fault's far end counts
// only if it is one of them (a router or switch is not a rank).
func (g *groundTruth) locate(params map[string]any, t *topo.Topology, hosts map[string]bool) {
	switch {
	case strings.HasPrefix(g.Code, "node.") || strings.HasPrefix(g.Code, "role."):
		g.Node = g.Target
		g.Hang = g.Code == "node.pause" || g.Code == "node.crash" || g.Code == "role.hang" || g.Code == "role.crash"
	case g.Code == "net.blackhole":
		dst, _ := params["dst"].(string)
		g.Ends = []string{g.Target}
		if n := nodeOf(t, dst); n != "" {
			g.Ends = append(g.Ends, n)
		}
		g.Hang = true
	case g.Code == "net.partition":
		a, b, _ := strings.Cut(g.Target, "|")
		g.Ends = []string{a, b}
		g.Hang = true
	default: // link and interface faults: NODE:IFACE
		node, iface, _ := strings.Cut(g.Target, ":")
		g.Ends = []string{node}
		if peer := peerOf(t, node, iface); peer != "" && hosts[peer] {
			g.Ends = append(g.Ends, peer)
		}
		g.Hang = g.Code == "net.link_down" || g.Code == "host.nic_down"
	}
}

// nodeOf names the node a fault parameter points at: NODE, NODE:IFACE, or
// an address of one of the topology's interfaces.
func nodeOf(t *topo.Topology, ref string) string {
	if t == nil || ref == "" {
		return ""
	}
	name, _, _ := strings.Cut(ref, ":")
	if t.Node(name) != nil {
		return name
	}
	for _, n := range t.Nodes {
		for _, ifc := range n.Interfaces {
			for _, a := range ifc.Addrs {
				if a.Addr().String() == strings.Split(ref, "/")[0] {
					return n.Name
				}
			}
		}
	}
	return ""
}

// peerOf is the node at the other end of NODE:IFACE's link.
func peerOf(t *topo.Topology, node, iface string) string {
	if t == nil {
		return ""
	}
	for _, l := range t.Links {
		switch {
		case l.A.Node == node && l.A.Iface == iface:
			return l.B.Node
		case l.B.Node == node && l.B.Iface == iface:
			return l.A.Node
		}
	}
	return ""
}

// correct reports whether d names the fault's root cause: the node for
// node faults (any rank class), the link for link faults (any link
// class).
func (g *groundTruth) correct(d diagnosis) bool {
	if g.Node != "" {
		return d.Node == g.Node
	}
	if d.FromNode == "" {
		return false
	}
	switch len(g.Ends) {
	case 1:
		return d.FromNode == g.Ends[0] || d.ToNode == g.Ends[0]
	case 2:
		return d.FromNode == g.Ends[0] && d.ToNode == g.Ends[1] || d.FromNode == g.Ends[1] && d.ToNode == g.Ends[0]
	}
	return false
}

// scoreRow is one fault's outcome, written to score.json.
type scoreRow struct {
	Fault     string   `json:"fault"`
	Code      string   `json:"code"`
	Target    string   `json:"target"`
	Expect    string   `json:"expect"`
	StartS    float64  `json:"start_s"`
	ForS      float64  `json:"for_s"`
	Detected  bool     `json:"detected"`
	LatencyMS *float64 `json:"latency_ms,omitempty"`
	Kind      string   `json:"kind,omitempty"`
	Class     string   `json:"class,omitempty"`
	Named     string   `json:"named,omitempty"`
	Correct   bool     `json:"correct"`
}

// addDiagnosisScores scores every diagnosing instance's "diagnosis"
// events against the faults the runner injected, adds the scores to its
// summary and writes the per-fault rows to its score.json:
//
//   - a fault is detected by the first diagnosis detected between its
//     start and ScoreGrace after its end (latency: detection - start);
//   - it is localized when that diagnosis names its root cause (correct);
//   - a diagnosis that falls in no fault's window is a false alarm (one
//     in a window already matched is a repeat, counted apart).
//
// Summary keys: faults, detected, detected_pct, localized, localized_pct,
// false_alarms, repeat_diagnoses, detect_p50_ms, detect_max_ms, hangs, hangs_detected_pct,
// hang_detect_max_ms, and per fault code (dots as underscores)
// CODE_faults, CODE_localized_pct, CODE_detect_max_ms.
func addDiagnosisScores(pt *Point, pl *Plan, tl *timeline) {
	var truths []groundTruth
	var origin float64 // the measured window's start
	loaded := false
	for _, in := range pt.Instances {
		if !diagnoses(in.Role) {
			continue
		}
		if !loaded {
			hosts := map[string]bool{}
			for _, in := range pt.Instances {
				hosts[in.Node] = true
			}
			truths, loaded = faultTruths(tl, pl.Topology, hosts), true
			origin = measureStart(tl)
		}
		dir := filepath.Join(pt.Dir, "roles", in.Name)
		var ds []diagnosis
		for _, ev := range readEvents(filepath.Join(dir, "events.jsonl")) {
			if ev["event"] != "diagnosis" {
				continue
			}
			d := diagnosis{Mono: num(ev["detected_mono_ns"])}
			if d.Mono == 0 {
				d.Mono = mono(ev)
			}
			d.Kind, _ = ev["kind"].(string)
			d.Class, _ = ev["class"].(string)
			d.Node, _ = ev["root_node"].(string) // "node" is the emitting instance's
			d.FromNode, _ = ev["from_node"].(string)
			d.ToNode, _ = ev["to_node"].(string)
			ds = append(ds, d)
		}
		if in.Summary == nil {
			in.Summary = map[string]any{}
		}
		rows, scores := score(truths, ds, origin)
		for k, v := range scores {
			in.Summary[k] = v
		}
		if b, err := json.MarshalIndent(rows, "", "  "); err == nil {
			os.WriteFile(filepath.Join(dir, "score.json"), append(b, '\n'), 0o644)
		}
	}
}

// diagnoses reports whether a role's diagnosis events are to be scored.
func diagnoses(role string) bool {
	r, err := roles.Get(role)
	return err == nil && r.Diagnoses
}

func measureStart(tl *timeline) float64 {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for _, ev := range tl.events {
		if ev["event"] == "measure-start" {
			return mono(ev)
		}
	}
	return 0
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// score matches diagnoses to faults; origin (mono ns) is where start_s
// counts from.
func score(truths []groundTruth, ds []diagnosis, origin float64) ([]scoreRow, map[string]any) {
	used := make([]bool, len(ds))
	var rows []scoreRow
	var lat, hangLat []float64
	type byCode struct {
		n, ok int
		lat   []float64
	}
	codes := map[string]*byCode{}
	detected, localized, hangs, hangsDetected := 0, 0, 0, 0
	for _, g := range truths {
		row := scoreRow{Fault: g.Name, Code: g.Code, Target: g.Target, Expect: g.expect(),
			StartS: round3((g.Start - origin) / 1e9), ForS: round3((g.End - g.Start) / 1e9)}
		if math.IsInf(g.End, 1) {
			row.ForS = -1
		}
		c := codes[g.Code]
		if c == nil {
			c = &byCode{}
			codes[g.Code] = c
		}
		c.n++
		if g.Hang {
			hangs++
		}
		for i, d := range ds {
			if used[i] || d.Mono < g.Start || d.Mono > g.End+ScoreGrace {
				continue
			}
			used[i] = true
			l := round3((d.Mono - g.Start) / 1e6)
			row.Detected, row.LatencyMS = true, &l
			row.Kind, row.Class, row.Named = d.Kind, d.Class, d.named()
			row.Correct = g.correct(d)
			detected++
			lat = append(lat, l)
			c.lat = append(c.lat, l)
			if g.Hang {
				hangsDetected++
				hangLat = append(hangLat, l)
			}
			if row.Correct {
				localized++
				c.ok++
			}
			break
		}
		rows = append(rows, row)
	}
	falseAlarms, repeats := 0, 0
	for i, d := range ds {
		if !used[i] && inAnyWindow(truths, d.Mono) {
			repeats++ // a second diagnosis during a fault: not about a fault-free period
			continue
		}
		if !used[i] {
			falseAlarms++
			rows = append(rows, scoreRow{Fault: "(none)", Expect: "no diagnosis", Detected: true,
				StartS: round3((ds[i].Mono - origin) / 1e9), Kind: ds[i].Kind, Class: ds[i].Class, Named: ds[i].named()})
		}
	}
	s := map[string]any{
		"faults":             float64(len(truths)),
		"detected":           float64(detected),
		"detected_pct":       pctOf(detected, len(truths)),
		"localized":          float64(localized),
		"localized_pct":      pctOf(localized, len(truths)),
		"false_alarms":       float64(falseAlarms),
		"repeat_diagnoses":   float64(repeats),
		"hangs":              float64(hangs),
		"hangs_detected_pct": pctOf(hangsDetected, hangs),
	}
	if len(lat) > 0 {
		s["detect_p50_ms"] = quantile(lat, 0.5)
		s["detect_max_ms"] = quantile(lat, 1)
	}
	if len(hangLat) > 0 {
		s["hang_detect_max_ms"] = quantile(hangLat, 1)
	}
	for code, c := range codes {
		k := strings.ReplaceAll(code, ".", "_")
		s[k+"_faults"] = float64(c.n)
		s[k+"_localized_pct"] = pctOf(c.ok, c.n)
		if len(c.lat) > 0 {
			s[k+"_detect_max_ms"] = quantile(c.lat, 1)
		}
	}
	return rows, s
}

func inAnyWindow(truths []groundTruth, at float64) bool {
	for _, g := range truths {
		if at >= g.Start && at <= g.End+ScoreGrace {
			return true
		}
	}
	return false
}

func (g *groundTruth) expect() string {
	if g.Node != "" {
		return "node " + g.Node
	}
	return "link " + strings.Join(g.Ends, "-")
}

func (d diagnosis) named() string {
	switch {
	case d.Node != "":
		return "node " + d.Node
	case d.FromNode != "":
		return fmt.Sprintf("link %s->%s", d.FromNode, d.ToNode)
	}
	return "nothing"
}

// pctOf is 100*a/b, and 100 when there was nothing to find (b = 0).
func pctOf(a, b int) float64 {
	if b == 0 {
		return 100
	}
	return round3(100 * float64(a) / float64(b))
}

func quantile(x []float64, q float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(len(s)-1, i))]
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
