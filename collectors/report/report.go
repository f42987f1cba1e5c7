// Package report turns a run directory into a report a person can read:
// plots of every run (throughput and latency over time with the fault
// windows shaded, per-interface throughput from the netdev counters),
// distributions per sweep point, comparisons across sweep points for the
// metrics the experiment's expectations name, and report.html, one
// self-contained offline page with the claim, the expectations and how they
// came out, the environment, the faults' ground truth and the plots.
//
// The report is derived from the run directory and can be rebuilt at any
// time. It is written only into RUN_DIR/report/ (rundir.ReportDir, which the
// manifest does not list): the new report is built in a temporary folder
// beside it and then swapped in with one rename, so a failure never leaves
// half a report, and nothing else in the run directory is changed.
package report

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"

	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/collectors/rundir"
	"github.com/tbctl/tbctl/testbed/experiment"
	"github.com/tbctl/tbctl/testbed/run"
)

// HTMLFile is the name of the report page inside RUN_DIR/report.
const HTMLFile = "report.html"

// Result is what Write wrote.
type Result struct {
	Dir   string   // RUN_DIR/report
	HTML  string   // RUN_DIR/report/report.html
	Files []string // every file written, as paths under Dir, sorted
	Plots []Plot   // the plots, in the order the page shows them
}

// Plot is one plot of the report, written as PNG and SVG.
type Plot struct {
	Name  string // file stem, e.g. "run-throughput"
	Title string
	PNG   string // path under RUN_DIR/report
	SVG   string
}

// Write builds the report of r into RUN_DIR/report, replacing any report
// already there. Nothing else in the run directory is changed.
func Write(r *rundir.Run) (Result, error) {
	final := filepath.Join(r.Path, rundir.ReportDir)
	tmp, err := os.MkdirTemp(r.Path, ".report-tmp-")
	if err != nil {
		return Result{}, fmt.Errorf("report: %w", err)
	}
	// After the swap tmp holds the old report; either way it goes.
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Result{}, fmt.Errorf("report: %w", err)
	}

	d, err := collect(r)
	if err != nil {
		return Result{}, err
	}
	figs := d.figures()
	var files []string
	var plots []Plot
	page := &pageData{data: d}
	for _, f := range figs {
		pngData, svgData, err := f.render()
		if err != nil {
			return Result{}, fmt.Errorf("report: plot %s: %w", f.name, err)
		}
		png, svg := f.name+".png", f.name+".svg"
		if err := os.WriteFile(filepath.Join(tmp, png), pngData, 0o644); err != nil {
			return Result{}, fmt.Errorf("report: %w", err)
		}
		if err := os.WriteFile(filepath.Join(tmp, svg), svgData, 0o644); err != nil {
			return Result{}, fmt.Errorf("report: %w", err)
		}
		files = append(files, png, svg)
		plots = append(plots, Plot{Name: f.name, Title: f.title, PNG: filepath.Join(final, png), SVG: filepath.Join(final, svg)})
		page.add(f, pngData)
	}
	html, err := page.render()
	if err != nil {
		return Result{}, fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, HTMLFile), html, 0o644); err != nil {
		return Result{}, fmt.Errorf("report: %w", err)
	}
	files = append(files, HTMLFile)
	if err := swapIn(tmp, final); err != nil {
		return Result{}, fmt.Errorf("report: replace %s: %w", final, err)
	}
	sort.Strings(files)
	res := Result{Dir: final, HTML: filepath.Join(final, HTMLFile), Plots: plots}
	for _, f := range files {
		res.Files = append(res.Files, filepath.Join(final, f))
	}
	return res, nil
}

// swapIn puts the folder tmp in place of final. An existing final is
// exchanged with tmp atomically (the caller removes tmp, now the old
// report); where the file system cannot exchange, the old report is moved
// aside first.
func swapIn(tmp, final string) error {
	if _, err := os.Lstat(final); errors.Is(err, fs.ErrNotExist) {
		return os.Rename(tmp, final)
	}
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, final, unix.RENAME_EXCHANGE)
	if err == nil {
		return nil
	}
	old := tmp + ".old"
	if err := os.Rename(final, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Rename(old, final)
		return err
	}
	return os.RemoveAll(old)
}

// Table prints the outcome of every run as `tbctl run` does: one line per
// expectation (RUN STATUS EXPECTATION RESULT), then the checks across
// runs, then the overall status and the run directory.
func Table(w io.Writer, r *rundir.Run) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTATUS\tEXPECTATION\tRESULT")
	for _, p := range r.Points {
		if len(p.Checks) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t%s\n", p.Label, p.Status, oneLine(p.Error))
		}
		for i, c := range p.Checks {
			label, status := p.Label, p.Status
			if i > 0 {
				label, status = "", ""
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", label, status, c.Text, verdict(c))
		}
	}
	for _, c := range r.Index.Compare {
		fmt.Fprintf(tw, "across runs\t\t%s\t%s\n", c.Text, verdict(c))
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%s: run directory %s\n", strings.ToUpper(runStatus(r)), r.Path)
}

func runStatus(r *rundir.Run) string {
	if r.Manifest.Status != "" {
		return r.Manifest.Status
	}
	if r.Index.Status != "" {
		return r.Index.Status
	}
	return "unknown"
}

func verdict(c run.Check) string {
	switch {
	case c.Error != "":
		return "ERROR " + c.Error
	case c.OK:
		return "pass (" + c.Detail + ")"
	}
	return "FAIL (" + c.Detail + ")"
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", "; ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// data is what the report is made from, read once.
type data struct {
	run    *rundir.Run
	runs   []*runData
	groups []*group // sweep points, in index order
	refs   []experiment.Ref
}

// runData is one run of the sweep.
type runData struct {
	pt         *rundir.Point
	point      string // the sweep point's label, without the repetition
	short      string // the run's label for plots (see group.short)
	slug       string // file-name stem
	origin     int64  // ns on the monotonic clock: measure-start, else the first role's start
	measured   bool   // origin is measure-start
	measureEnd int64  // ns, 0 when unknown
	windows    []rundir.Window
	failed     []failedFault
	insts      []instSeries
	ifaces     []ifaceSeries // all interfaces with traffic, busiest first
	nIfaces    int           // interfaces sampled
}

// group is one sweep point and its repetitions.
type group struct {
	index int
	label string // as the run labels it
	short string // for plots: sweep keys shortened to their last element
	runs  []*runData
}

type instSeries struct {
	name  string
	shift float64 // seconds from origin to the instance's start
	pts   []rundir.SeriesPoint
}

type failedFault struct {
	name, code, target, err string
	at                      int64
}

type ifaceSeries struct {
	label string // node:iface rx|tx
	total float64
	xy    [][2]float64 // seconds since origin, Mbit/s
	alike []string     // other directions that carried the same traffic
}

var repSuffix = regexp.MustCompile(`(^|\s+)rep \d+$`)

func collect(r *rundir.Run) (*data, error) {
	d := &data{run: r}
	byIndex := map[int]*group{}
	for _, p := range r.Points {
		rd, err := collectRun(r, p)
		if err != nil {
			return nil, err
		}
		d.runs = append(d.runs, rd)
		g := byIndex[p.Point.Point]
		if g == nil {
			g = &group{index: p.Point.Point, label: rd.point}
			byIndex[p.Point.Point] = g
			d.groups = append(d.groups, g)
		}
		g.runs = append(g.runs, rd)
	}
	sort.SliceStable(d.groups, func(i, j int) bool { return d.groups[i].index < d.groups[j].index })
	seen := map[string]bool{}
	unique := true
	for _, g := range d.groups {
		if g.label == "" {
			g.label = fmt.Sprintf("p%02d", g.index+1)
			if len(d.groups) == 1 {
				g.label = "run"
			}
		}
		g.short = shortLabel(g.label)
		unique = unique && !seen[g.short]
		seen[g.short] = true
	}
	for _, g := range d.groups {
		if !unique { // shortening made two points look alike
			g.short = g.label
		}
		for _, rd := range g.runs {
			rd.short = g.short
			if rd.pt.Rep > 1 || len(g.runs) > 1 {
				rd.short += fmt.Sprintf(" rep %d", rd.pt.Rep)
			}
		}
	}
	d.refs = refs(r)
	return d, nil
}

func collectRun(r *rundir.Run, p *rundir.Point) (*runData, error) {
	rd := &runData{pt: p, point: strings.TrimSpace(repSuffix.ReplaceAllString(p.Label, "")), slug: slug(p.Rel)}
	if rd.slug == "" || rd.slug == "-" {
		rd.slug = "run"
	}
	wins, err := p.FaultWindows()
	if err != nil {
		return nil, fmt.Errorf("report: %s: %w", p.Label, err)
	}
	rd.windows = wins
	evs, err := p.Events()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("report: %s: %w", p.Label, err)
	}
	requested := map[string]string{}
	for _, ev := range evs {
		switch ev["event"] {
		case "measure-start":
			if rd.origin == 0 {
				rd.origin, rd.measured = mono(ev), true
			}
		case "measure-end":
			rd.measureEnd = mono(ev)
		case "fault-requested":
			requested[str(ev["code"])+"\x00"+str(ev["target"])] = str(ev["name"])
		case "fault-failed":
			k := str(ev["code"]) + "\x00" + str(ev["target"])
			rd.failed = append(rd.failed, failedFault{name: requested[k], code: str(ev["code"]), target: str(ev["target"]), err: str(ev["error"]), at: mono(ev)})
		case "fault-applied":
			if e := str(ev["error"]); e != "" {
				rd.failed = append(rd.failed, failedFault{name: str(ev["name"]), code: str(ev["code"]), target: str(ev["target"]), err: e, at: mono(ev)})
			}
		}
	}
	names := instanceNames(p)
	starts := map[string]int64{}
	for _, n := range names {
		starts[n] = p.InstanceStart(n)
	}
	if rd.origin == 0 {
		for _, s := range starts {
			if s != 0 && (rd.origin == 0 || s < rd.origin) {
				rd.origin = s
			}
		}
	}
	for _, n := range names {
		pts, err := p.Series(n)
		if err != nil {
			return nil, fmt.Errorf("report: %s: %w", p.Label, err)
		}
		if len(pts) == 0 {
			continue
		}
		sort.SliceStable(pts, func(i, j int) bool { return pts[i].T < pts[j].T })
		is := instSeries{name: n, pts: pts}
		if s := starts[n]; s != 0 && rd.origin != 0 {
			is.shift = float64(s-rd.origin) / 1e9
		}
		rd.insts = append(rd.insts, is)
	}
	if err := rd.readIfaces(); err != nil {
		return nil, fmt.Errorf("report: %s: %w", p.Label, err)
	}
	return rd, nil
}

// instanceNames lists the run's instances: those in its summary and any
// other folder under roles/, sorted.
func instanceNames(p *rundir.Point) []string {
	seen := map[string]bool{}
	var out []string
	for _, in := range p.Instances {
		if in != nil && !seen[in.Name] {
			seen[in.Name] = true
			out = append(out, in.Name)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(p.Path, "roles"))
	for _, e := range ents {
		if e.IsDir() && !seen[e.Name()] {
			seen[e.Name()] = true
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// readIfaces turns the netdev byte counters of metrics.jsonl into Mbit/s
// per node, interface and direction.
func (rd *runData) readIfaces() error {
	type key struct{ node, obj, dir string }
	type sample struct {
		t int64
		v float64
	}
	raw := map[key][]sample{}
	ifs := map[[2]string]bool{}
	err := rd.pt.Metrics(func(s rundir.Sample) error {
		if s.Source != "netdev" {
			return nil
		}
		var dir string
		switch s.Metric {
		case "rx_bytes":
			dir = "rx"
		case "tx_bytes":
			dir = "tx"
		default:
			return nil
		}
		k := key{s.Node, s.Object, dir}
		raw[k] = append(raw[k], sample{s.MonoNS, s.Value})
		ifs[[2]string{s.Node, s.Object}] = true
		return nil
	})
	if err != nil {
		return err
	}
	rd.nIfaces = len(ifs)
	for k, ss := range raw {
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].t < ss[j].t })
		is := ifaceSeries{label: k.node + ":" + k.obj + " " + k.dir}
		if k.obj == "" {
			is.label = k.node + " " + k.dir
		}
		var before float64 // the counter before it was last reset
		for i := 1; i < len(ss); i++ {
			dt := ss[i].t - ss[i-1].t
			dv := ss[i].v - ss[i-1].v
			switch {
			case dt <= 0:
				continue
			case dv < 0:
				// The counter was reset: the interface was replaced (a
				// fault may move it into a relay) and counts anew.
				before = ss[i-1].v
				continue
			case before > 0 && ss[i-1].v < before && ss[i].v >= before && dv >= before/2:
				// The old interface is back with its old counter.
				before = 0
				continue
			}
			is.total += dv
			is.xy = append(is.xy, [2]float64{float64(ss[i].t-rd.origin) / 1e9, dv * 8 * 1e3 / float64(dt)})
		}
		if is.total > 0 {
			rd.ifaces = append(rd.ifaces, is)
		}
	}
	sort.Slice(rd.ifaces, func(i, j int) bool {
		if rd.ifaces[i].total != rd.ifaces[j].total {
			return rd.ifaces[i].total > rd.ifaces[j].total
		}
		return rd.ifaces[i].label < rd.ifaces[j].label
	})
	rd.ifaces = mergeAlike(rd.ifaces)
	return nil
}

// mergeAlike keeps one line for the interface directions that carried the
// same traffic (every hop of one path counts the same bytes), so the plot
// shows different traffic rather than copies. The list is busiest first.
func mergeAlike(list []ifaceSeries) []ifaceSeries {
	var out []ifaceSeries
next:
	for _, is := range list {
		for i := range out {
			if alike(out[i], is) {
				out[i].alike = append(out[i].alike, is.label)
				continue next
			}
		}
		out = append(out, is)
	}
	return out
}

// alike: totals within 1% and rates within 10% over the samples both have.
func alike(a, b ifaceSeries) bool {
	if math.Abs(a.total-b.total) > 0.01*math.Max(a.total, b.total) {
		return false
	}
	var diff, sum float64
	n := 0
	for i, j := 0, 0; i < len(a.xy) && j < len(b.xy); {
		switch d := a.xy[i][0] - b.xy[j][0]; {
		case d < -1e-3:
			i++
		case d > 1e-3:
			j++
		default:
			diff += math.Abs(a.xy[i][1] - b.xy[j][1])
			sum += math.Abs(a.xy[i][1])
			n++
			i++
			j++
		}
	}
	return n > 0 && n*10 >= min(len(a.xy), len(b.xy))*9 && diff <= 0.1*sum
}

// sec is a monotonic time as seconds since the run's origin.
func (rd *runData) sec(ns int64) float64 { return float64(ns-rd.origin) / 1e9 }

// measureEndSec is the end of the measured window in seconds, NaN when
// unknown.
func (rd *runData) measureEndSec() float64 {
	if rd.measureEnd == 0 || rd.origin == 0 {
		return math.NaN()
	}
	return rd.sec(rd.measureEnd)
}

// refs lists the instance.metric references of the experiment's expect and
// compare expressions, each once, in the order written.
func refs(r *rundir.Run) []experiment.Ref {
	var texts []string
	for _, k := range []string{"expect", "compare"} {
		list, _ := r.Manifest.Parameters[k].([]any)
		for _, v := range list {
			if s, ok := v.(string); ok {
				texts = append(texts, s)
			}
		}
	}
	if len(texts) == 0 { // an older manifest: take the checks as written
		for _, p := range r.Points {
			for _, c := range p.Checks {
				texts = append(texts, c.Text)
			}
		}
		for _, c := range r.Index.Compare {
			texts = append(texts, c.Text)
		}
	}
	var out []experiment.Ref
	seen := map[string]bool{}
	for _, t := range texts {
		x, err := experiment.ParseExpr(t)
		if err != nil {
			continue
		}
		for _, ref := range experiment.Refs(x) {
			k := ref.Instance + "." + ref.Key
			if !seen[k] {
				seen[k] = true
				out = append(out, experiment.Ref{Instance: ref.Instance, Key: ref.Key})
			}
		}
	}
	return out
}

// metric reads KEY (dots reach into nested objects) from an instance's
// summary, as the runner does when it checks expectations.
func metric(p *rundir.Point, inst, key string) (float64, bool) {
	for _, in := range p.Instances {
		if in == nil || in.Name != inst {
			continue
		}
		var v any = in.Summary
		for _, part := range strings.Split(key, ".") {
			m, ok := v.(map[string]any)
			if !ok {
				return 0, false
			}
			v = m[part]
		}
		f, ok := v.(float64)
		return f, ok && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

// shortLabel shortens each KEY=VALUE of a sweep label to the key's last
// element: roles.flow1.params.streams=4 becomes streams=4.
func shortLabel(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if k, v, ok := strings.Cut(p, "="); ok {
			parts[i] = k[strings.LastIndex(k, ".")+1:] + "=" + v
		}
	}
	return strings.Join(parts, ",")
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._]+`)

// slug makes a file-name stem of s.
func slug(s string) string {
	s = strings.Trim(unsafeName.ReplaceAllString(s, "-"), "-.")
	return s
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func mono(ev map[string]any) int64 {
	if f, ok := ev["mono_ns"].(float64); ok {
		return int64(f)
	}
	return 0
}
