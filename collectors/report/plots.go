package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/tbctl/tbctl/collectors/rundir"
)

// Figure geometry: 8 x 4.5 in, PNG at 120 dpi (960 x 540 pixels).
const (
	figW      = 8 * vg.Inch
	figH      = 4.5 * vg.Inch
	pngDPI    = 120
	margin    = 6  // pt around the figure
	legGap    = 10 // pt between the plot and the legend
	maxIfs    = 6  // interfaces in the interface plot
	maxTick   = 32 // characters of a sweep label on an axis
	maxLegend = 40 // characters of a sweep label in a legend
	maxTitle  = 90 // characters of a title
)

var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// palette is the Okabe–Ito palette (distinguishable with the common
// colour-vision deficiencies), yellow swapped for a dark grey.
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255},   // blue
	color.RGBA{213, 94, 0, 255},    // vermillion
	color.RGBA{0, 158, 115, 255},   // bluish green
	color.RGBA{204, 121, 167, 255}, // reddish purple
	color.RGBA{86, 180, 233, 255},  // sky blue
	color.RGBA{230, 159, 0, 255},   // orange
	color.RGBA{0, 0, 0, 255},       // black
	color.RGBA{120, 120, 120, 255}, // grey
}

var dashes = [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)}, {vg.Points(8), vg.Points(3), vg.Points(2), vg.Points(3)}}

// Fault windows: a translucent red band and a dark red label.
var (
	bandFill  = color.NRGBA{220, 50, 47, 38}
	bandLabel = color.RGBA{150, 30, 30, 255}
	markLine  = color.RGBA{110, 110, 110, 255}
)

// lineStyle is the style of the i-th line of a plot: colour and dash
// both change, so lines that overlap stay distinguishable.
func lineStyle(i int) draw.LineStyle {
	return draw.LineStyle{Color: palette[i%len(palette)], Width: vg.Points(1.4), Dashes: dashes[(i+i/len(palette))%len(dashes)]}
}

// figure is one plot and its legend, drawn beside it so it hides no data.
type figure struct {
	name    string // file stem
	title   string
	caption string // one sentence under the plot in the page
	section string // "run", "cdf", "compare"
	run     *runData

	p     *plot.Plot
	leg   plot.Legend
	nleg  int
	bands *bands
}

func newFigure(name, title, xlabel, ylabel string) *figure {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(sans, 13)
	p.Title.Padding = vg.Points(6)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, 11)
		a.Tick.Label.Font = font.From(sans, 10)
		a.Label.Padding = vg.Points(4)
	}
	p.X.Tick.Marker = niceTicks{}
	p.Y.Tick.Marker = niceTicks{}
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{225}
	g.Horizontal.Color = color.Gray{225}
	p.Add(g)
	leg := plot.NewLegend()
	leg.TextStyle.Font = font.From(sans, 10)
	leg.Top, leg.Left = true, true
	leg.ThumbnailWidth = vg.Points(26)
	leg.Padding = vg.Points(3)
	return &figure{name: name, title: title, p: p, leg: leg}
}

func (f *figure) addLegend(name string, th ...plot.Thumbnailer) {
	f.leg.Add(name, th...)
	f.nleg++
}

// layout splits the figure's canvas into the plot and the legend and makes
// room above the data for the fault labels.
func (f *figure) layout(c draw.Canvas) (plotC, legC draw.Canvas) {
	c = draw.Crop(c, margin, -margin, margin, -margin)
	plotC = c
	if f.nleg > 0 {
		r := f.leg.Rectangle(c)
		w := r.Max.X - r.Min.X + legGap
		plotC = draw.Crop(c, 0, -w, 0, 0)
		legC = draw.Crop(c, c.Max.X-c.Min.X-w+legGap, 0, 0, 0)
	}
	if f.bands != nil {
		rows := f.bands.assign(f.p.DataCanvas(plotC), f.p)
		f.p.Title.Padding = vg.Points(6) + vg.Length(rows)*f.bands.rowHeight()
	}
	if f.nleg > 0 {
		legC.Max.Y = f.p.DataCanvas(plotC).Max.Y
	}
	return plotC, legC
}

func (f *figure) draw(c draw.Canvas) {
	c.SetColor(color.White)
	c.Fill(c.Rectangle.Path())
	plotC, legC := f.layout(c)
	f.p.Draw(plotC)
	if f.nleg > 0 {
		f.leg.Draw(legC)
	}
}

// render draws the figure as PNG and as SVG.
func (f *figure) render() (pngData, svgData []byte, err error) {
	img := vgimg.NewWith(vgimg.UseWH(figW, figH), vgimg.UseDPI(pngDPI))
	f.draw(draw.New(img))
	var pb bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&pb); err != nil {
		return nil, nil, err
	}
	svg := vgsvg.NewWith(vgsvg.UseWH(figW, figH))
	f.draw(draw.New(svg))
	var sb bytes.Buffer
	if _, err := svg.WriteTo(&sb); err != nil {
		return nil, nil, err
	}
	return pb.Bytes(), sb.Bytes(), nil
}

// bands shades time windows across the whole height of the data area and
// labels each above it, in as many rows as keep the labels apart.
type bands struct {
	wins  []band
	style text.Style
	rows  []int
}

type band struct {
	x0, x1 float64 // data coordinates; x1 may be +Inf (never ended)
	label  string
}

func newBands() *bands {
	return &bands{style: text.Style{
		Color:   bandLabel,
		Font:    font.From(sans, 9),
		XAlign:  draw.XCenter,
		YAlign:  draw.YBottom,
		Handler: plot.DefaultTextHandler,
	}}
}

func (b *bands) rowHeight() vg.Length { return b.style.Height("Mg") + vg.Points(2) }

// span is where band i lies on the canvas, clipped to it.
func (b *bands) span(i int, c draw.Canvas, p *plot.Plot) (x0, x1 vg.Length) {
	trX, _ := p.Transforms(&c)
	w := b.wins[i]
	x0 = c.Min.X
	if w.x0 > p.X.Min {
		x0 = trX(w.x0)
	}
	x1 = c.Max.X
	if w.x1 < p.X.Max {
		x1 = trX(w.x1)
	}
	x0 = max(min(x0, c.Max.X), c.Min.X)
	x1 = max(min(x1, c.Max.X), c.Min.X)
	if x1-x0 < vg.Points(1.5) { // a very short window stays visible
		x1 = x0 + vg.Points(1.5)
	}
	return x0, x1
}

// assign puts each label in the first row where it overlaps no other and
// returns how many rows there are.
func (b *bands) assign(c draw.Canvas, p *plot.Plot) int {
	b.rows = make([]int, len(b.wins))
	var ends []vg.Length // per row, the right edge of its last label
	order := make([]int, len(b.wins))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return b.wins[order[i]].x0 < b.wins[order[j]].x0 })
	for _, i := range order {
		x0, x1 := b.span(i, c, p)
		w := b.style.Width(b.wins[i].label)
		left := (x0+x1)/2 - w/2
		row := 0
		for row < len(ends) && left < ends[row]+vg.Points(4) {
			row++
		}
		if row == len(ends) {
			ends = append(ends, 0)
		}
		ends[row] = left + w
		b.rows[i] = row
	}
	return len(ends)
}

func (b *bands) Plot(c draw.Canvas, p *plot.Plot) {
	if len(b.rows) != len(b.wins) {
		b.assign(c, p)
	}
	rh := b.rowHeight()
	for i, w := range b.wins {
		x0, x1 := b.span(i, c, p)
		c.SetColor(bandFill)
		c.Fill(vg.Rectangle{Min: vg.Point{X: x0, Y: c.Min.Y}, Max: vg.Point{X: x1, Y: c.Max.Y}}.Path())
		c.FillText(b.style, vg.Point{X: (x0 + x1) / 2, Y: c.Max.Y + vg.Points(2) + vg.Length(b.rows[i])*rh}, w.label)
	}
}

// vline draws dashed vertical lines at the given x values.
type vlines struct{ xs []float64 }

func (v vlines) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	sty := draw.LineStyle{Color: markLine, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
	for _, x := range v.xs {
		if math.IsNaN(x) || x < p.X.Min || x > p.X.Max {
			continue
		}
		c.StrokeLine2(sty, trX(x), c.Min.Y, trX(x), c.Max.Y)
	}
}

// addLine adds a line broken at NaN values (gaps) and one legend entry.
func (f *figure) addLine(label string, i int, xy [][2]float64) {
	sty := lineStyle(i)
	var seg plotter.XYs
	flush := func() {
		switch len(seg) {
		case 0:
			return
		case 1:
			s, _ := plotter.NewScatter(seg)
			s.GlyphStyle = draw.GlyphStyle{Color: sty.Color, Radius: vg.Points(1.6), Shape: draw.CircleGlyph{}}
			f.p.Add(s)
		default:
			l, _ := plotter.NewLine(seg)
			l.LineStyle = sty
			f.p.Add(l)
		}
		seg = nil
	}
	for _, pt := range xy {
		if math.IsNaN(pt[1]) || math.IsInf(pt[1], 0) {
			flush()
			continue
		}
		seg = append(seg, plotter.XY{X: pt[0], Y: pt[1]})
	}
	flush()
	f.addLegend(label, &plotter.Line{LineStyle: sty})
}

// rateFactor is the factor that turns a series key's values into Mbit/s;
// ok is false when the key is not a rate.
func rateFactor(key string) (float64, bool) {
	k := strings.ToLower(key)
	for _, u := range []struct {
		unit string
		f    float64
	}{{"gbps", 1e3}, {"mbps", 1}, {"kbps", 1e-3}} {
		if k == u.unit || strings.HasSuffix(k, "_"+u.unit) {
			return u.f, true
		}
	}
	return 0, false
}

func isLatency(key string) bool { return strings.HasSuffix(key, "_ms") }

// unitOf names the unit of a series or summary key for an axis label.
func unitOf(key string) string {
	k := strings.ToLower(key)
	if _, ok := rateFactor(k); ok {
		return "Mbit/s"
	}
	switch {
	case strings.HasSuffix(k, "_ms"):
		return "ms"
	case k == "bytes" || strings.HasSuffix(k, "_bytes"):
		return "bytes"
	case strings.HasSuffix(k, "_s"):
		return "s"
	case strings.HasSuffix(k, "_pct") || strings.HasSuffix(k, "_percent"):
		return "%"
	}
	return ""
}

// value converts a series value for plotting: rates to Mbit/s; latencies
// of 0 or less are intervals without a sample, so gaps (NaN).
func value(key string, v float64) float64 {
	if f, ok := rateFactor(key); ok {
		return v * f
	}
	if isLatency(key) && v <= 0 {
		return math.NaN()
	}
	return v
}

// figures makes every plot of the report, in page order.
func (d *data) figures() []*figure {
	var out []*figure
	for _, rd := range d.runs {
		out = append(out, d.timePlots(rd)...)
	}
	out = append(out, d.cdfPlots()...)
	if len(d.groups) > 1 {
		out = append(out, d.comparePlots()...)
	}
	return out
}

func (d *data) runTitle(rd *runData, what string) string {
	name := d.run.Manifest.Experiment
	if len(d.runs) == 1 {
		return fmt.Sprintf("%s: %s", name, what)
	}
	return abbreviate(fmt.Sprintf("%s: %s, %s", name, what, rd.short), maxTitle)
}

func (rd *runData) xLabel() string {
	if rd.measured {
		return "time since the measured window began (s)"
	}
	return "time since the first role started (s); the run has no measured window"
}

// timePlots are a run's throughput, latency and interface plots.
func (d *data) timePlots(rd *runData) []*figure {
	var out []*figure
	type line struct {
		label string
		xy    [][2]float64
	}
	var rates, lats []line
	for _, in := range rd.insts {
		keys := seriesKeys(in.pts)
		var rk, lk []string
		for _, k := range keys {
			if _, ok := rateFactor(k); ok {
				rk = append(rk, k)
			} else if isLatency(k) {
				lk = append(lk, k)
			}
		}
		for _, k := range rk {
			label := in.name
			if len(rk) > 1 {
				label += " " + k
			}
			rates = append(rates, line{label, seriesXY(in, k)})
		}
		for _, k := range lk {
			lats = append(lats, line{in.name + " " + strings.TrimSuffix(k, "_ms"), seriesXY(in, k)})
		}
	}
	mk := func(kind, what, ylabel string, lines []line, logOK, zero bool) *figure {
		f := newFigure(rd.slug+"-"+kind, d.runTitle(rd, what), rd.xLabel(), ylabel)
		f.section, f.run = "run", rd
		lines = slices.Clone(lines) // a log scale changes the values
		for i := range lines {
			lines[i].xy = slices.Clone(lines[i].xy)
		}
		// Whether to use a log scale is up to the measured window: an
		// outlier as a role starts up does not decide it.
		var ys []float64
		end := rd.measureEndSec()
		for _, l := range lines {
			for _, p := range l.xy {
				if !rd.measured || (p[0] >= 0 && (math.IsNaN(end) || p[0] <= end)) {
					ys = append(ys, p[1])
				}
			}
		}
		logY := logOK && useLog(ys)
		if logY {
			floor := math.Inf(-1)
			if _, hi := finiteRange(ys); hi > 0 {
				floor = math.Log10(hi) - maxDecades
			}
			for i := range lines {
				for j := range lines[i].xy {
					if v := log10(lines[i].xy[j][1]); v >= floor {
						lines[i].xy[j][1] = v
					} else {
						lines[i].xy[j][1] = math.NaN()
					}
				}
			}
		}
		// The x range covers what is drawn (and, below, the faults and
		// the measured window).
		xmin, xmax := math.Inf(1), math.Inf(-1)
		ys = ys[:0]
		for _, l := range lines {
			for _, p := range l.xy {
				if !math.IsNaN(p[1]) && !math.IsInf(p[1], 0) {
					xmin, xmax = math.Min(xmin, p[0]), math.Max(xmax, p[0])
					ys = append(ys, p[1])
				}
			}
		}
		f.shadeFaults(rd, &xmin, &xmax)
		for i, l := range lines {
			f.addLine(l.label, i, l.xy)
		}
		f.p.X.Min, f.p.X.Max = xmin, xmax
		f.p.Y.Min, f.p.Y.Max, f.p.Y.Tick.Marker = axis(ys, logY, zero, 0.05)
		if logY {
			f.p.Y.Label.Text = strings.TrimSuffix(ylabel, ")") + ", log scale)"
		}
		return f
	}
	if len(rates) > 0 {
		f := mk("throughput", "throughput over time", "throughput (Mbit/s)", rates, false, true)
		f.caption = "Throughput each role reported per interval; shaded: fault windows; dashed lines: the measured window."
		out = append(out, f)
	}
	if len(lats) > 0 {
		f := mk("latency", "latency over time", "latency (ms)", lats, true, false)
		f.caption = "Latency percentiles each role reported per interval (gaps: intervals with no reply); shaded: fault windows; dashed lines: the measured window."
		out = append(out, f)
	}
	if len(rd.ifaces) > 0 {
		n := min(len(rd.ifaces), maxIfs)
		var ls []line
		var same []string
		for _, is := range rd.ifaces[:n] {
			label := is.label
			if len(is.alike) > 0 {
				label += fmt.Sprintf(" (+%d alike)", len(is.alike))
				same = append(same, is.label+" as "+strings.Join(is.alike, ", "))
			}
			ls = append(ls, line{label, is.xy})
		}
		f := mk("interfaces", "interface throughput", "throughput (Mbit/s)", ls, true, true)
		f.caption = fmt.Sprintf("Bytes each interface counted (netdev) per sampling interval, as Mbit/s: the busiest of the %d interface directions sampled, in %d lines, one line for directions that carried the same traffic.", 2*rd.nIfaces, n)
		if len(same) > 0 {
			f.caption += " The same traffic: " + strings.Join(same, "; ") + "."
		}
		if strings.Contains(f.p.Y.Label.Text, "log") {
			f.caption += " Log scale: intervals without traffic are gaps."
		}
		out = append(out, f)
	}
	return out
}

// shadeFaults adds the run's fault windows and the measured window's
// edges, widening [xmin, xmax] to show them.
func (f *figure) shadeFaults(rd *runData, xmin, xmax *float64) {
	end := rd.measureEndSec()
	if rd.measured {
		*xmin = math.Min(*xmin, 0)
	}
	if !math.IsNaN(end) {
		*xmax = math.Max(*xmax, end)
	}
	if len(rd.windows) > 0 {
		b := newBands()
		for _, w := range rd.windows {
			label := w.Name
			if label == "" {
				label = w.Code
			}
			bw := band{x0: rd.sec(w.Start), x1: math.Inf(1), label: label}
			if w.End != 0 {
				bw.x1 = rd.sec(w.End)
				*xmax = math.Max(*xmax, bw.x1)
			}
			*xmin = math.Min(*xmin, bw.x0)
			b.wins = append(b.wins, bw)
		}
		f.bands = b
		f.p.Add(b)
	}
	if rd.measured {
		f.p.Add(vlines{xs: []float64{0, end}})
	}
	if math.IsInf(*xmin, 1) {
		*xmin, *xmax = 0, 1
	}
}

func seriesKeys(pts []rundir.SeriesPoint) []string {
	seen := map[string]bool{}
	var keys []string
	for _, p := range pts {
		for k := range p.Values {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// seriesXY is an instance's series of key as (seconds since the origin,
// value), with a gap where a point lacks the key.
func seriesXY(in instSeries, key string) [][2]float64 {
	out := make([][2]float64, 0, len(in.pts))
	for _, p := range in.pts {
		v, ok := p.Values[key]
		if !ok {
			out = append(out, [2]float64{p.T + in.shift, math.NaN()})
			continue
		}
		out = append(out, [2]float64{p.T + in.shift, value(key, v)})
	}
	return out
}

// useLog is true when the positive values span more than two decades.
func useLog(ys []float64) bool {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, y := range ys {
		if y > 0 {
			lo, hi = math.Min(lo, y), math.Max(hi, y)
		}
	}
	return !math.IsInf(lo, 0) && hi/lo > 100
}

// maxDecades is how many decades a log axis shows at most.
const maxDecades = 6

// axis returns an axis' range and ticks for values vs (on a log axis
// already log10'd): whole decades on a log axis; else the values' range
// with some headroom, from zero when zero is set or the values come near
// it.
func axis(vs []float64, logScale, zero bool, head float64) (lo, hi float64, t plot.Ticker) {
	lo, hi = finiteRange(vs)
	if math.IsInf(lo, 0) {
		return 0, 1, niceTicks{}
	}
	if logScale {
		lo, hi = math.Floor(lo+1e-9), math.Ceil(hi-1e-9)
		if hi <= lo {
			hi = lo + 1
		}
		return lo, hi, logTicks{}
	}
	if zero || (lo >= 0 && lo <= 0.3*hi) {
		lo = math.Min(0, lo)
		hi = math.Max(0, hi)
		if hi == lo {
			hi = lo + 1
		}
		return lo, hi + head*(hi-lo), niceTicks{}
	}
	if hi == lo {
		return lo - 1, hi + 1, niceTicks{}
	}
	pad := head * (hi - lo)
	return lo - pad, hi + pad, niceTicks{}
}

func finiteRange(vs []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	return lo, hi
}

// niceTicks marks a linear axis every 1, 2 or 5 times a power of ten,
// about six labels, with no more decimals than the step needs and large
// numbers shortened (150M).
type niceTicks struct{}

func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	raw := (hi - lo) / 6
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	var step, minor float64
	switch f := raw / mag; {
	case f < 1.5:
		step = mag
	case f < 3.5:
		step = 2 * mag
	case f < 7.5:
		step = 5 * mag
	default:
		step = 10 * mag
	}
	minor = step / 2
	decimals := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	big := math.Max(math.Abs(lo), math.Abs(hi)) >= 1e5
	var ts []plot.Tick
	for i := math.Ceil(lo / minor); i*minor <= hi+minor*1e-9; i++ {
		v := i * minor
		t := plot.Tick{Value: v}
		if k := v / step; math.Abs(k-math.Round(k)) < 1e-6 {
			v = math.Round(k) * step
			t.Value = v
			if big {
				t.Label = si(v)
			} else {
				t.Label = strconv.FormatFloat(v+0, 'f', decimals, 64)
			}
			if t.Label == "-0" {
				t.Label = "0"
			}
		}
		ts = append(ts, t)
	}
	return ts
}

// si writes a large number with an SI prefix: 150M, 2.5G.
func si(v float64) string {
	for _, u := range []struct {
		f float64
		s string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if math.Abs(v) >= u.f {
			return strconv.FormatFloat(v/u.f, 'f', -1, 64) + u.s
		}
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// log10 is the value drawn on a log axis; values of 0 or less cannot be
// drawn there (NaN, a gap).
func log10(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return math.NaN()
	}
	return math.Log10(v)
}

// logTicks marks a log axis whose data were drawn as log10(v): a labelled
// tick per decade and unlabelled ones at 2..9 times it. (gonum's LogScale
// would do, but it misplaces the axis label and squeezes the plot.)
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(lo); e <= math.Ceil(hi); e++ {
		if e >= lo-1e-9 && e <= hi+1e-9 {
			ts = append(ts, plot.Tick{Value: e, Label: strconv.FormatFloat(math.Pow(10, e), 'g', -1, 64)})
		}
		for k := 2.0; k <= 9; k++ {
			if v := e + math.Log10(k); v > lo && v < hi {
				ts = append(ts, plot.Tick{Value: v})
			}
		}
	}
	return ts
}

// cdfPlots draw, per instance and series key, the distribution of the
// values in the measured window of every sweep point (its repetitions
// pooled), one line per point.
func (d *data) cdfPlots() []*figure {
	type ik struct{ inst, key string }
	var keys []ik
	seen := map[ik]bool{}
	for _, rd := range d.runs {
		for _, in := range rd.insts {
			for _, k := range seriesKeys(in.pts) {
				if x := (ik{in.name, k}); !seen[x] {
					seen[x] = true
					keys = append(keys, x)
				}
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].inst != keys[j].inst {
			return keys[i].inst < keys[j].inst
		}
		return keys[i].key < keys[j].key
	})
	var out []*figure
	for _, k := range keys {
		vals := make([][]float64, len(d.groups))
		var all []float64
		for gi, g := range d.groups {
			for _, rd := range g.runs {
				end := rd.measureEndSec()
				for _, in := range rd.insts {
					if in.name != k.inst {
						continue
					}
					for _, p := range seriesXY(in, k.key) {
						if math.IsNaN(p[1]) || (rd.measured && p[0] < 0) || (!math.IsNaN(end) && p[0] > end) {
							continue
						}
						vals[gi] = append(vals[gi], p[1])
					}
				}
			}
			all = append(all, vals[gi]...)
		}
		if len(all) == 0 {
			continue
		}
		what := k.inst + " " + k.key
		xlabel := k.inst + " " + k.key
		if _, rate := rateFactor(k.key); !rate && !isLatency(k.key) {
			xlabel += " per interval" // bytes, counts
		}
		if u := unitOf(k.key); u != "" && u != k.key {
			xlabel += " (" + u + ")"
		}
		logX := isLatency(k.key) && useLog(all)
		if logX {
			xlabel = strings.TrimSuffix(xlabel, ")") + ", log scale)"
		}
		f := newFigure("cdf-"+slug(k.inst)+"-"+slug(k.key), d.run.Manifest.Experiment+": distribution of "+what, xlabel, "fraction of intervals ≤ x")
		f.section = "cdf"
		f.caption = "Empirical CDF of " + what + " over the intervals of the measured window, repetitions pooled, one line per sweep point."
		if isLatency(k.key) {
			f.caption += " Intervals without a reply are left out."
		}
		for gi, g := range d.groups {
			v := append([]float64(nil), vals[gi]...)
			if logX {
				v = positive(v)
			}
			if len(v) == 0 {
				continue
			}
			sort.Float64s(v)
			n := float64(len(vals[gi]))
			start := float64(len(vals[gi])-len(v)) / n // values not drawn on a log scale
			tx := func(x float64) float64 { return x }
			if logX {
				tx = log10
			}
			xy := plotter.XYs{{X: tx(v[0]), Y: start}}
			for i, x := range v {
				xy = append(xy, plotter.XY{X: tx(x), Y: start + float64(i+1)/n})
			}
			l, _ := plotter.NewLine(xy)
			l.StepStyle = plotter.PostStep
			l.LineStyle = lineStyle(gi)
			f.p.Add(l)
			f.addLegend(fmt.Sprintf("%s (n=%d)", abbreviate(g.short, maxLegend), len(vals[gi])), l)
		}
		if logX {
			for i := range all {
				all[i] = log10(all[i])
			}
		}
		f.p.X.Min, f.p.X.Max, f.p.X.Tick.Marker = axis(all, logX, false, 0.02)
		f.p.Y.Min, f.p.Y.Max = 0, 1.02
		f.p.Y.Tick.Marker = fractionTicks{}
		out = append(out, f)
	}
	return out
}

// fractionTicks marks 0 to 1 every 0.1, labelled every 0.2.
type fractionTicks struct{}

func (fractionTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for i := 0; i <= 10; i++ {
		t := plot.Tick{Value: float64(i) / 10}
		if i%2 == 0 {
			t.Label = strconv.FormatFloat(t.Value, 'f', 1, 64)
		}
		ts = append(ts, t)
	}
	return ts
}

func positive(v []float64) []float64 {
	out := v[:0]
	for _, x := range v {
		if x > 0 {
			out = append(out, x)
		}
	}
	return out
}

// comparePlots draw, for every metric an expectation names, its value at
// each sweep point: the mean over the repetitions, whiskers from the
// smallest to the largest.
func (d *data) comparePlots() []*figure {
	var out []*figure
	labels, xtitle, size, rotate := d.tickLabels()
	for _, ref := range d.refs {
		type stat struct{ mean, lo, hi float64 }
		var xy plotter.XYs
		var errs plotter.YErrors
		var reps plotter.XYs
		var ys []float64
		maxReps := 0
		for gi, g := range d.groups {
			var vs []float64
			for _, rd := range g.runs {
				if v, ok := metric(rd.pt, ref.Instance, ref.Key); ok {
					vs = append(vs, v)
					reps = append(reps, plotter.XY{X: float64(gi), Y: v})
				}
			}
			if len(vs) == 0 {
				continue
			}
			maxReps = max(maxReps, len(vs))
			s := stat{mean: 0, lo: vs[0], hi: vs[0]}
			for _, v := range vs {
				s.mean += v / float64(len(vs))
				s.lo, s.hi = math.Min(s.lo, v), math.Max(s.hi, v)
			}
			xy = append(xy, plotter.XY{X: float64(gi), Y: s.mean})
			errs = append(errs, struct{ Low, High float64 }{s.mean - s.lo, s.hi - s.mean})
			ys = append(ys, s.lo, s.hi)
		}
		if len(xy) == 0 {
			continue
		}
		name := ref.Instance + "." + ref.Key
		ylabel := name
		if u := unitOf(ref.Key); u != "" {
			ylabel += " (" + u + ")"
		}
		f := newFigure("compare-"+slug(ref.Instance)+"-"+slug(ref.Key), d.run.Manifest.Experiment+": "+name+" per sweep point", xtitle, ylabel)
		f.section = "compare"
		f.caption = fmt.Sprintf("%s at each sweep point, as the runs' summaries report it: the dot and the number are the mean over the repetitions", name)
		if maxReps > 1 {
			f.caption += fmt.Sprintf(", the whiskers the smallest and the largest, the rings each repetition (up to %d).", maxReps)
		} else {
			f.caption += " (one repetition per point, so no spread)."
		}
		if maxReps > 1 {
			s, _ := plotter.NewScatter(reps)
			s.GlyphStyle = draw.GlyphStyle{Color: color.Gray{150}, Radius: vg.Points(2), Shape: draw.RingGlyph{}}
			f.p.Add(s)
		}
		eb, _ := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{xy, errs})
		eb.LineStyle = draw.LineStyle{Color: palette[0], Width: vg.Points(1.5)}
		eb.CapWidth = vg.Points(10)
		f.p.Add(eb)
		s, _ := plotter.NewScatter(xy)
		s.GlyphStyle = draw.GlyphStyle{Color: palette[0], Radius: vg.Points(4), Shape: draw.CircleGlyph{}}
		f.p.Add(s)
		var texts []string
		var at plotter.XYs
		for i, p := range xy {
			texts = append(texts, strconv.FormatFloat(p.Y, 'g', 4, 64))
			at = append(at, plotter.XY{X: p.X, Y: p.Y + errs[i].High})
		}
		lbl, _ := plotter.NewLabels(plotter.XYLabels{XYs: at, Labels: texts})
		for i := range lbl.TextStyle {
			lbl.TextStyle[i].Font = font.From(sans, 10)
			lbl.TextStyle[i].XAlign = draw.XCenter
			lbl.TextStyle[i].Color = color.Black
		}
		lbl.Offset = vg.Point{Y: vg.Points(7)}
		f.p.Add(lbl)
		f.p.NominalX(labels...)
		// NominalX pads the y axis by half the first label; the plot pads
		// for labels that overflow by itself.
		f.p.Y.Padding = vg.Points(5)
		f.p.X.Min, f.p.X.Max = -0.5, float64(len(labels))-0.5
		f.p.X.Tick.Label.Font.Size = size
		if rotate {
			// Rotated labels end at their tick and reach left; the first
			// one must not run off the figure.
			f.p.X.Tick.Label.Rotation = math.Pi / 6
			f.p.X.Tick.Label.XAlign = draw.XRight
			f.p.X.Tick.Label.YAlign = draw.YCenter
			reach := f.p.X.Tick.Label.Width(labels[0]) * vg.Length(math.Cos(math.Pi/6))
			f.p.Y.Padding = max(vg.Points(5), reach-tickSlot(len(labels))/2)
		}
		f.p.Y.Min, f.p.Y.Max, f.p.Y.Tick.Marker = axis(ys, false, true, 0.12)
		out = append(out, f)
	}
	return out
}

// tickSlot is about the width a sweep point has on the x axis.
func tickSlot(n int) vg.Length {
	return (figW - 2*margin - vg.Points(70)) / vg.Length(n)
}

// tickLabels are the sweep points' labels for an x axis and the axis
// title: on one line when they fit side by side, else one KEY=VALUE per
// line, else the values alone (the keys in the axis title), else shortened
// and rotated.
func (d *data) tickLabels() (labels []string, title string, size font.Length, rotate bool) {
	sty := text.Style{Font: font.From(sans, 10), Handler: plot.DefaultTextHandler}
	small := text.Style{Font: font.From(sans, 9), Handler: plot.DefaultTextHandler}
	room := tickSlot(len(d.groups)) * 0.95
	var one, multi, vals []string
	var keys []string
	var wOne, wMulti, wVals vg.Length
	seen := map[string]bool{}
	unique := true
	for gi, g := range d.groups {
		one = append(one, abbreviate(g.short, maxTick))
		wOne = max(wOne, sty.Width(one[gi]))
		parts := strings.Split(g.short, ",")
		var vs []string
		for i, p := range parts {
			k, v, ok := strings.Cut(p, "=")
			if !ok {
				unique = false
			}
			if gi == 0 {
				keys = append(keys, k)
			} else if i >= len(keys) || keys[i] != k {
				unique = false
			}
			vs = append(vs, v)
			parts[i] = abbreviate(p, maxTick)
		}
		multi = append(multi, strings.Join(parts, "\n"))
		wMulti = max(wMulti, small.Width(multi[gi]))
		v := abbreviate(strings.Join(vs, ","), maxTick)
		unique = unique && !seen[v]
		seen[v] = true
		vals = append(vals, v)
		wVals = max(wVals, sty.Width(v))
	}
	switch {
	case wOne <= room:
		return one, "sweep point", 10, false
	case wMulti <= room:
		return multi, "sweep point", 9, false
	case unique && wVals <= room:
		return vals, "sweep point (" + strings.Join(keys, ", ") + ")", 10, false
	case unique:
		return vals, "sweep point (" + strings.Join(keys, ", ") + ")", 10, true
	}
	return one, "sweep point", 10, true
}

// abbreviate shortens s to n characters with an ellipsis.
func abbreviate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
