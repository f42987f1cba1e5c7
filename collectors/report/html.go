package report

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/tbctl/tbctl/testbed/run"
)

// pageData is what report.html is made from.
type pageData struct {
	data *data
	figs []pageFig
}

type pageFig struct {
	fig *figure
	src template.URL // the PNG as a data: URI
}

func (pg *pageData) add(f *figure, png []byte) {
	pg.figs = append(pg.figs, pageFig{fig: f, src: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))})
}

// The view the template reads: plain strings, escaped by html/template.
type (
	view struct {
		Experiment, Claim, Status, RunID, File string
		Runs                                   []runView
		Compare                                []checkView
		Env                                    [][2]string
		Seeds                                  [][2]string
		CDF, Across                            []figView
		Files                                  []string
	}
	runView struct {
		Label, Status, Dir, Error, Start, End string
		Checks                                []checkView
		Instances                             []instView
		Faults                                []faultView
		Figs                                  []figView
		NoMeasure                             bool
	}
	checkView struct {
		Text, Result, Detail string
		OK                   bool
	}
	instView struct {
		Name, Role, Node, Status, Exit, Error string
	}
	faultView struct {
		Name, Code, Target, Mechanism, Start, End, Duration, Verified string
		OK                                                            bool
	}
	figView struct {
		Title, Caption, PNG, SVG, Name string
		Src                            template.URL
	}
)

func checkOf(c run.Check) checkView {
	v := checkView{Text: c.Text, Detail: c.Detail, OK: c.OK && c.Error == ""}
	switch {
	case c.Error != "":
		v.Result = "error"
		v.Detail = c.Error
	case c.OK:
		v.Result = "pass"
	default:
		v.Result = "FAIL"
	}
	return v
}

func (pg *pageData) view() view {
	d := pg.data
	m := d.run.Manifest
	claim, _ := m.Parameters["claim"].(string)
	v := view{Experiment: m.Experiment, Claim: claim, Status: runStatus(d.run), RunID: m.RunID, File: m.File}
	for _, c := range d.run.Index.Compare {
		v.Compare = append(v.Compare, checkOf(c))
	}
	tool := m.Tool.Version
	if m.Tool.Modified {
		tool += " (modified)"
	}
	mem := ""
	if m.Host.MemoryKB > 0 {
		mem = fmt.Sprintf("%.1f GiB", float64(m.Host.MemoryKB)/(1<<20))
	}
	cpu := m.Host.CPU
	if m.Host.CPUs > 0 {
		cpu = fmt.Sprintf("%s (%d CPUs)", cpu, m.Host.CPUs)
	}
	provider := m.Provider
	if provider == "" {
		provider = "netns"
	}
	v.Env = [][2]string{
		{"tool", strings.TrimSpace(m.Tool.Name + " " + tool)},
		{"revision", m.Tool.Revision},
		{"Go", m.Tool.GoVersion},
		{"host", m.Host.Hostname},
		{"kernel", strings.TrimSpace(m.Host.Kernel + " " + m.Host.OS + "/" + m.Host.Arch)},
		{"CPU", cpu},
		{"memory", mem},
		{"provider", provider},
		{"start", stamp(m.Start.Wall)},
		{"end", stamp(m.End.Wall)},
	}
	if !m.Start.Wall.IsZero() && !m.End.Wall.IsZero() {
		v.Env = append(v.Env, [2]string{"duration", m.End.Wall.Sub(m.Start.Wall).Round(time.Millisecond).String()})
	}
	if m.FileSHA256 != "" {
		v.Env = append(v.Env, [2]string{"experiment file sha256", m.FileSHA256})
	}
	for _, rd := range d.runs {
		v.Seeds = append(v.Seeds, [2]string{rd.pt.Label, fmt.Sprint(rd.pt.Seed)})
	}
	byRun := map[*runData][]figView{}
	for _, pf := range pg.figs {
		fv := figView{Title: pf.fig.title, Caption: pf.fig.caption, PNG: pf.fig.name + ".png", SVG: pf.fig.name + ".svg", Name: pf.fig.name, Src: pf.src}
		v.Files = append(v.Files, fv.PNG, fv.SVG)
		switch pf.fig.section {
		case "run":
			byRun[pf.fig.run] = append(byRun[pf.fig.run], fv)
		case "cdf":
			v.CDF = append(v.CDF, fv)
		default:
			v.Across = append(v.Across, fv)
		}
	}
	for _, rd := range d.runs {
		p := rd.pt
		rv := runView{Label: p.Label, Status: p.Status, Dir: p.Rel, Error: p.Error, Start: stamp(p.Start), End: stamp(p.End), Figs: byRun[rd], NoMeasure: !rd.measured}
		for _, c := range p.Checks {
			rv.Checks = append(rv.Checks, checkOf(c))
		}
		for _, in := range p.Instances {
			if in == nil {
				continue
			}
			iv := instView{Name: in.Name, Role: in.Role, Node: in.Node, Status: in.Status, Exit: fmt.Sprint(in.ExitCode), Error: in.Error}
			if in.Signal != "" {
				iv.Exit += " (" + in.Signal + ")"
			}
			rv.Instances = append(rv.Instances, iv)
		}
		for _, w := range rd.windows {
			fv := faultView{Name: w.Name, Code: w.Code, Target: w.Target, Mechanism: w.Mechanism, Start: secs(rd.sec(w.Start)), End: "not reverted", Verified: "no", OK: w.Verified}
			if w.End != 0 {
				fv.End = secs(rd.sec(w.End))
				fv.Duration = fmt.Sprintf("%.3f", float64(w.End-w.Start)/1e9)
			}
			if w.Verified {
				fv.Verified = "yes"
			}
			rv.Faults = append(rv.Faults, fv)
		}
		for _, ff := range rd.failed {
			rv.Faults = append(rv.Faults, faultView{Name: ff.name, Code: ff.code, Target: ff.target, Start: secs(rd.sec(ff.at)), End: "-", Verified: "failed: " + ff.err})
		}
		v.Runs = append(v.Runs, rv)
	}
	return v
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05.000 MST")
}

func secs(s float64) string {
	if math.IsNaN(s) {
		return ""
	}
	return fmt.Sprintf("%.3f", s)
}

func (pg *pageData) render() ([]byte, error) {
	var b bytes.Buffer
	if err := page.Execute(&b, pg.view()); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var page = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Experiment}} {{.RunID}}: {{.Status}}</title>
<style>
body { font-family: "Liberation Sans", Arial, Helvetica, sans-serif; margin: 2em auto; max-width: 1000px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
h3 { margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: "Liberation Mono", Menlo, Consolas, monospace; font-size: 0.95em; }
.status { display: inline-block; padding: 0.1em 0.6em; border-radius: 0.3em; font-weight: bold; color: #fff; background: #777; }
.status.ok { background: #2e7d32; }
.status.failed { background: #c62828; }
.status.interrupted { background: #ef6c00; }
.pass { color: #2e7d32; font-weight: bold; }
.fail { color: #c62828; font-weight: bold; }
.claim { font-size: 1.05em; background: #f7f7f7; border-left: 4px solid #999; padding: 0.5em 1em; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
.note { color: #555; font-size: 0.9em; }
</style>
</head>
<body>
<h1>{{.Experiment}}</h1>
<p>Run <span class="mono">{{.RunID}}</span>{{if .File}} of <span class="mono">{{.File}}</span>{{end}}: <span class="status {{.Status}}">{{.Status}}</span></p>
{{if .Claim}}<p class="claim">{{.Claim}}</p>{{end}}

<h2>Expectations</h2>
<table>
<tr><th>run</th><th>status</th><th>expectation</th><th>result</th><th>detail</th></tr>
{{range .Runs}}{{$r := .}}{{if .Checks}}{{range $i, $c := .Checks}}<tr>{{if eq $i 0}}<td rowspan="{{len $r.Checks}}">{{$r.Label}}</td><td rowspan="{{len $r.Checks}}"><span class="status {{$r.Status}}">{{$r.Status}}</span></td>{{end}}<td><code>{{$c.Text}}</code></td><td class="{{if $c.OK}}pass{{else}}fail{{end}}">{{$c.Result}}</td><td class="mono">{{$c.Detail}}</td></tr>
{{end}}{{else}}<tr><td>{{.Label}}</td><td><span class="status {{.Status}}">{{.Status}}</span></td><td>-</td><td></td><td>{{.Error}}</td></tr>
{{end}}{{end}}</table>
{{if .Compare}}<h3>Across runs</h3>
<table>
<tr><th>expectation</th><th>result</th><th>detail</th></tr>
{{range .Compare}}<tr><td><code>{{.Text}}</code></td><td class="{{if .OK}}pass{{else}}fail{{end}}">{{.Result}}</td><td class="mono">{{.Detail}}</td></tr>
{{end}}</table>{{end}}

<h2>Environment</h2>
<table>
{{range .Env}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>
{{end}}</table>
<table>
<tr><th>run</th><th>seed</th></tr>
{{range .Seeds}}<tr><td>{{index . 0}}</td><td class="num mono">{{index . 1}}</td></tr>
{{end}}</table>

<h2>Runs</h2>
{{range .Runs}}
<h3>{{.Label}} <span class="status {{.Status}}">{{.Status}}</span></h3>
<p class="note">Folder <span class="mono">{{.Dir}}</span>, {{.Start}} to {{.End}}.{{if .Error}} Error: {{.Error}}{{end}}</p>
{{if .Instances}}<table>
<tr><th>instance</th><th>role</th><th>node</th><th>status</th><th>exit</th><th>error</th></tr>
{{range .Instances}}<tr><td>{{.Name}}</td><td>{{.Role}}</td><td>{{.Node}}</td><td>{{.Status}}</td><td class="num">{{.Exit}}</td><td>{{.Error}}</td></tr>
{{end}}</table>{{end}}
{{if .Faults}}<p>Faults (ground truth from the run's timeline; times in seconds since the measured window began{{if .NoMeasure}}; this run has no measured window, so since the first role started{{end}}):</p>
<table>
<tr><th>name</th><th>code</th><th>target</th><th>mechanism</th><th>start (s)</th><th>end (s)</th><th>duration (s)</th><th>verified</th></tr>
{{range .Faults}}<tr><td>{{.Name}}</td><td class="mono">{{.Code}}</td><td class="mono">{{.Target}}</td><td>{{.Mechanism}}</td><td class="num">{{.Start}}</td><td class="num">{{.End}}</td><td class="num">{{.Duration}}</td><td class="{{if .OK}}pass{{else}}fail{{end}}">{{.Verified}}</td></tr>
{{end}}</table>{{else}}<p class="note">No faults were applied in this run.</p>{{end}}
{{range .Figs}}{{template "fig" .}}{{end}}
{{end}}

{{if .CDF}}<h2>Distributions</h2>
{{range .CDF}}{{template "fig" .}}{{end}}{{end}}

{{if .Across}}<h2>Across sweep points</h2>
{{range .Across}}{{template "fig" .}}{{end}}{{end}}

<p class="note">Made by <span class="mono">tbctl report</span> from the run directory; it is rebuilt each time. The plots are in this folder as PNG and SVG.</p>
</body>
</html>
{{define "fig"}}<figure id="{{.Name}}">
<img src="{{.Src}}" alt="{{.Title}}" width="960" height="540">
<figcaption>{{.Caption}} <a href="{{.SVG}}">SVG</a> · <a href="{{.PNG}}">PNG</a></figcaption>
</figure>
{{end}}`))
