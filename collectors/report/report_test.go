package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tbctl/tbctl/collectors/rundir"
)

// A synthetic run: instance x starts at 9 s (monotonic), the measured
// window is 10 s to 20 s, fault "blackout" is in effect from 12 s to 14 s,
// i.e. 2 s to 4 s into the measured window.
const (
	sec        = int64(1e9)
	xStart     = 9 * sec
	measure    = 10 * sec
	measureEnd = 20 * sec
	faultFrom  = 12 * sec
	faultTo    = 14 * sec
	faultName  = "blackout"
	expectText = "x.mbps_avg > 10"
	claim      = `x moves more than 10 Mbit/s <script>alert("no")</script> & survives a blackout`
)

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	b, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

func writeLines(t *testing.T, path string, lines []map[string]any) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	var b bytes.Buffer
	for _, l := range lines {
		j, err := json.Marshal(l)
		require.NoError(t, err)
		b.Write(j)
		b.WriteByte('\n')
	}
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
}

// writePoint writes one run's folder; level scales its throughput.
func writePoint(t *testing.T, dir, label string, point int, level float64) {
	writeJSON(t, filepath.Join(dir, "summary.json"), map[string]any{
		"label": label, "point": point, "rep": 1, "seed": 42 + point, "dir": dir, "lab": "synthetic-0", "status": "ok",
		"instances": []map[string]any{{
			"name": "x", "role": "traffic", "node": "n1", "status": "ok", "exitCode": 0,
			"summary": map[string]any{"mbps_avg": level, "rtt": map[string]any{"p50_ms": 5.0}},
		}},
		"expectations": []map[string]any{{"expect": expectText, "ok": true, "detail": fmt.Sprintf("%g > 10", level)}},
		"faults":       []map[string]any{{"id": "f1", "code": "net.partition", "target": "n1|n2", "mechanism": "nftables", "state": "reverted", "verified": true}},
		"start":        "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:30Z",
	})
	writeLines(t, filepath.Join(dir, "events.jsonl"), []map[string]any{
		{"event": "phase", "phase": "measure", "mono_ns": measure - 1000, "source": "runner"},
		{"event": "measure-start", "mono_ns": measure, "source": "runner"},
		{"event": "fault-requested", "name": faultName, "code": "net.partition", "target": "n1|n2", "mono_ns": faultFrom - 1000, "source": "runner"},
		{"event": "fault-applied", "id": "f1", "name": faultName, "code": "net.partition", "target": "n1|n2", "mechanism": "nftables", "verified": true, "error": "", "mono_ns": faultFrom, "source": "runner"},
		{"event": "fault-reverted", "id": "f1", "code": "net.partition", "target": "n1|n2", "mechanism": "nftables", "verified": true, "error": "", "mono_ns": faultTo, "source": "runner"},
		{"event": "measure-end", "mono_ns": measureEnd, "source": "runner"},
	})
	writeLines(t, filepath.Join(dir, "roles", "x", "events.jsonl"), []map[string]any{
		{"event": "start", "instance": "x", "mono_ns": xStart},
		{"event": "ready", "instance": "x", "mono_ns": xStart + 1000},
	})
	var series, metrics []map[string]any
	var bytesSoFar float64
	for i := 1; i <= 110; i++ { // 0.1 s to 11 s after x started
		ts := float64(i) / 10
		series = append(series, map[string]any{"t_s": ts, "mbps": level, "p50_ms": 5 + float64(i%7), "bytes": level * 12500})
		mono := xStart + int64(i)*sec/10
		if mono < faultFrom || mono > faultTo {
			bytesSoFar += level * 12500
		}
		for _, dir := range []string{"rx", "tx"} {
			v := bytesSoFar
			if dir == "rx" {
				v /= 50
			}
			metrics = append(metrics, map[string]any{"mono_ns": mono, "time": "2026-01-01T00:00:00Z", "source": "netdev", "node": "n1", "object": "eth1", "metric": dir + "_bytes", "value": v})
		}
	}
	writeLines(t, filepath.Join(dir, "roles", "x", "series.jsonl"), series)
	writeLines(t, filepath.Join(dir, "metrics.jsonl"), metrics)
}

func manifest(name string, params map[string]any) map[string]any {
	return map[string]any{
		"tool":       map[string]any{"name": "tbctl", "version": "v9.9.9", "revision": "0123456789abcdef", "goVersion": "go1.26"},
		"host":       map[string]any{"hostname": "testhost", "kernel": "6.1.0", "os": "linux", "arch": "amd64", "cpu": "Test CPU", "cpus": 4, "memoryKB": 8 << 20},
		"experiment": name, "file": "experiments/" + name + ".yaml", "runId": "20260101T000000Z-abcd", "provider": "netns",
		"parameters": params,
		"seeds":      []int64{42},
		"start":      map[string]any{"wall": "2026-01-01T00:00:00Z", "monoNS": 1},
		"end":        map[string]any{"wall": "2026-01-01T00:00:30Z", "monoNS": 2},
		"status":     "ok",
		"files":      map[string]string{"summary.json": "0"},
	}
}

// singleRun writes a run directory with one run and returns its path.
func singleRun(t *testing.T) string {
	dir := t.TempDir()
	writeJSON(t, filepath.Join(dir, "manifest.json"), manifest("synthetic", map[string]any{"claim": claim, "expect": []string{expectText}}))
	writeJSON(t, filepath.Join(dir, "index.json"), map[string]any{"status": "ok", "runs": []map[string]any{{"label": "run", "rep": 1, "dir": ".", "status": "ok"}}})
	writePoint(t, dir, "run", 0, 100)
	return dir
}

// sweepRun writes a run directory with two sweep points and a compare.
func sweepRun(t *testing.T) string {
	dir := t.TempDir()
	cmp := "x.mbps_avg[a=2] > x.mbps_avg[a=1]"
	writeJSON(t, filepath.Join(dir, "manifest.json"), manifest("sweep", map[string]any{"claim": "more is more", "expect": []string{expectText}, "compare": []string{cmp}}))
	writeJSON(t, filepath.Join(dir, "index.json"), map[string]any{"status": "ok",
		"runs": []map[string]any{
			{"label": "a=1", "rep": 1, "dir": "p01-a=1/r01", "status": "ok"},
			{"label": "a=2", "rep": 1, "dir": "p02-a=2/r01", "status": "ok"},
		},
		"compare": []map[string]any{{"expect": cmp, "ok": true, "detail": "200 > 100"}},
	})
	writePoint(t, filepath.Join(dir, "p01-a=1", "r01"), "a=1", 0, 100)
	writePoint(t, filepath.Join(dir, "p02-a=2", "r01"), "a=2", 1, 200)
	return dir
}

// snapshot hashes every file of dir outside the report folder.
func snapshot(t *testing.T, dir string) map[string][32]byte {
	out := map[string][32]byte{}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			if rel == rundir.ReportDir {
				return filepath.SkipDir
			}
			out[rel+"/"] = [32]byte{}
			return nil
		}
		b, err := os.ReadFile(path)
		out[rel] = sha256.Sum256(b)
		return err
	}))
	return out
}

// has and hasNot check a page without printing all of it.
func has(t *testing.T, page, s string) {
	t.Helper()
	if !strings.Contains(page, s) {
		t.Errorf("the page lacks %q", s)
	}
}

func hasNot(t *testing.T, page, s string) {
	t.Helper()
	if strings.Contains(page, s) {
		i := strings.Index(page, s)
		t.Errorf("the page has %q: …%s…", s, page[max(0, i-80):min(len(page), i+80)])
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err, path)
	return img
}

func TestWriteSingleRun(t *testing.T) {
	dir := singleRun(t)
	before := snapshot(t, dir)
	r, err := rundir.Open(dir)
	require.NoError(t, err)
	res, err := Write(r)
	require.NoError(t, err)

	rep := filepath.Join(dir, rundir.ReportDir)
	require.Equal(t, rep, res.Dir)
	require.Equal(t, filepath.Join(rep, "report.html"), res.HTML)
	for _, name := range []string{"run-throughput", "run-latency", "run-interfaces", "cdf-x-mbps", "cdf-x-p50_ms", "cdf-x-bytes"} {
		require.Contains(t, res.Files, filepath.Join(rep, name+".png"))
		require.Contains(t, res.Files, filepath.Join(rep, name+".svg"))
	}
	for _, p := range res.Plots {
		require.NotContains(t, p.Name, "compare", "one sweep point: nothing to compare")
	}
	ents, err := os.ReadDir(rep)
	require.NoError(t, err)
	require.Len(t, ents, len(res.Files), "the report folder holds exactly the files listed")
	for _, f := range res.Files {
		st, err := os.Stat(f)
		require.NoError(t, err)
		require.Greater(t, st.Size(), int64(200), f)
	}

	// Every PNG decodes at 960x540 and is more than a blank page.
	nsvg := 0
	for _, f := range res.Files {
		switch filepath.Ext(f) {
		case ".png":
			img := decodePNG(t, f)
			require.Equal(t, image.Rect(0, 0, 960, 540), img.Bounds(), f)
			colours := map[[4]uint32]bool{}
			for y := 0; y < 540; y += 3 {
				for x := 0; x < 960; x += 3 {
					r, g, b, a := img.At(x, y).RGBA()
					colours[[4]uint32{r, g, b, a}] = true
				}
			}
			require.Greater(t, len(colours), 20, "%s looks blank", f)
		case ".svg":
			nsvg++
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			dec := xml.NewDecoder(bytes.NewReader(data))
			var root string
			for {
				tok, err := dec.Token()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err, "%s is not XML", f)
				if se, ok := tok.(xml.StartElement); ok && root == "" {
					root = se.Name.Local
				}
			}
			require.Equal(t, "svg", root)
			for _, u := range regexp.MustCompile(`https?://[^"'\s]*`).FindAllString(string(data), -1) {
				require.Contains(t, []string{"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, u, "%s refers outside", f)
			}
		}
	}
	require.Equal(t, 6, nsvg)

	// The HTML is offline and holds the claim, the expectation, the fault
	// and the plots; the text is escaped.
	html, err := os.ReadFile(res.HTML)
	require.NoError(t, err)
	page := string(html)
	hasNot(t, page, "http://")
	hasNot(t, page, "https://")
	hasNot(t, page, "<script")
	has(t, page, template.HTMLEscapeString(expectText))
	has(t, page, "&lt;script&gt;")
	has(t, page, faultName)
	has(t, page, "net.partition")
	has(t, page, "<td class=\"num\">2.000</td>") // the fault starts 2 s into the measured window
	has(t, page, "<td class=\"num\">4.000</td>")
	has(t, page, "testhost")
	has(t, page, "v9.9.9")
	require.Equal(t, 6, strings.Count(page, `src="data:image/png;base64,`))

	require.Equal(t, before, snapshot(t, dir), "nothing outside report/ changed")
}

// The fault band shades the data area where, and only where, the fault
// was in effect: 2 s to 4 s on the x axis.
func TestFaultBandIsWhereTheFaultWas(t *testing.T) {
	dir := singleRun(t)
	r, err := rundir.Open(dir)
	require.NoError(t, err)
	res, err := Write(r)
	require.NoError(t, err)
	img := decodePNG(t, filepath.Join(res.Dir, "run-throughput.png"))

	// Lay the same figure out again to learn where the data area is.
	d, err := collect(r)
	require.NoError(t, err)
	var f *figure
	for _, g := range d.figures() {
		if g.name == "run-throughput" {
			f = g
		}
	}
	require.NotNil(t, f)
	c := draw.New(vgimg.NewWith(vgimg.UseWH(figW, figH), vgimg.UseDPI(pngDPI)))
	plotC, _ := f.layout(c)
	dc := f.p.DataCanvas(plotC)
	px := func(s float64) int { return int(dc.X(f.p.X.Norm(s)).Dots(pngDPI)) }
	row := img.Bounds().Dy() - int((dc.Min.Y + 0.4*(dc.Max.Y-dc.Min.Y)).Dots(pngDPI))
	tinted := func(x int) bool {
		r, _, b, _ := img.At(x, row).RGBA()
		return int(r>>8)-int(b>>8) > 12
	}
	require.Less(t, px(2)+6, px(4)-6)
	for x := px(2) + 3; x <= px(4)-3; x++ {
		require.True(t, tinted(x), "x=%d (%.2f s) should be in the fault band", x, f.p.X.Min+(f.p.X.Max-f.p.X.Min)*float64(x-px(f.p.X.Min))/float64(px(f.p.X.Max)-px(f.p.X.Min)))
	}
	for _, s := range []float64{0.5, 1.5, 5, 7, 9} {
		require.False(t, tinted(px(s)), "%.1f s is outside the fault", s)
	}
	require.False(t, tinted(px(2)-4))
	require.False(t, tinted(px(4)+4))
}

func TestWriteReplacesTheReport(t *testing.T) {
	dir := singleRun(t)
	r, err := rundir.Open(dir)
	require.NoError(t, err)
	first, err := Write(r)
	require.NoError(t, err)
	html1, err := os.ReadFile(first.HTML)
	require.NoError(t, err)
	png1, err := os.ReadFile(filepath.Join(first.Dir, "run-throughput.png"))
	require.NoError(t, err)
	stale := filepath.Join(first.Dir, "stale.txt")
	require.NoError(t, os.WriteFile(stale, []byte("old"), 0o644))

	second, err := Write(r)
	require.NoError(t, err)
	require.Equal(t, first.Files, second.Files)
	require.NoFileExists(t, stale, "the old report is gone, not merged")
	html2, err := os.ReadFile(second.HTML)
	require.NoError(t, err)
	png2, err := os.ReadFile(filepath.Join(second.Dir, "run-throughput.png"))
	require.NoError(t, err)
	require.Equal(t, html1, html2, "the report is deterministic")
	require.Equal(t, png1, png2)

	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		require.False(t, strings.HasPrefix(e.Name(), ".report"), "temporary %s left behind", e.Name())
	}
}

func TestWriteSweep(t *testing.T) {
	dir := sweepRun(t)
	r, err := rundir.Open(dir)
	require.NoError(t, err)
	res, err := Write(r)
	require.NoError(t, err)
	for _, name := range []string{"p01-a-1-r01-throughput", "p02-a-2-r01-throughput", "cdf-x-mbps", "compare-x-mbps_avg"} {
		require.FileExists(t, filepath.Join(res.Dir, name+".png"))
		require.FileExists(t, filepath.Join(res.Dir, name+".svg"))
	}
	decodePNG(t, filepath.Join(res.Dir, "compare-x-mbps_avg.png"))
	html, err := os.ReadFile(res.HTML)
	require.NoError(t, err)
	page := string(html)
	has(t, page, template.HTMLEscapeString("x.mbps_avg[a=2] > x.mbps_avg[a=1]"))
	has(t, page, "Across runs")
	has(t, page, "Across sweep points")

	var b bytes.Buffer
	Table(&b, r)
	out := b.String()
	require.Contains(t, out, "RUN")
	require.Contains(t, out, "EXPECTATION")
	require.Regexp(t, `a=1\s+ok\s+x.mbps_avg > 10\s+pass \(100 > 10\)`, out)
	require.Regexp(t, `across runs\s+x.mbps_avg\[a=2\] > x.mbps_avg\[a=1\]\s+pass \(200 > 100\)`, out)
	require.Contains(t, out, "OK: run directory "+dir)
}

func TestBadRunDirectories(t *testing.T) {
	empty := t.TempDir()
	_, err := rundir.Open(empty)
	require.ErrorContains(t, err, "not a run directory")

	half := singleRun(t)
	require.NoError(t, os.Remove(filepath.Join(half, "manifest.json")))
	_, err = rundir.Open(half)
	require.ErrorContains(t, err, "half-written")

	noSummary := singleRun(t)
	require.NoError(t, os.Remove(filepath.Join(noSummary, "summary.json")))
	_, err = rundir.Open(noSummary)
	require.ErrorContains(t, err, "half-written")

	// A broken series is an error and leaves no report, not half a one.
	broken := singleRun(t)
	require.NoError(t, os.WriteFile(filepath.Join(broken, "roles", "x", "series.jsonl"), []byte("{not json\n"), 0o644))
	r, err := rundir.Open(broken)
	require.NoError(t, err)
	_, err = Write(r)
	require.Error(t, err)
	require.NoDirExists(t, filepath.Join(broken, rundir.ReportDir))
	ents, err := os.ReadDir(broken)
	require.NoError(t, err)
	for _, e := range ents {
		require.False(t, strings.HasPrefix(e.Name(), ".report"), "temporary %s left behind", e.Name())
	}
}

// An interface that a fault replaces for a while (its counter starts again
// from 0, and the old counter comes back afterwards) yields no spike.
func TestInterfaceCounterReplaced(t *testing.T) {
	dir := t.TempDir()
	var lines []map[string]any
	counter := []float64{0, 1e6, 2e6, 3e6, 0, 1e5, 2e5, 3e6 + 3e5, 4e6, 5e6} // 1 MB per 0.1 s = 80 Mbit/s
	for i, v := range counter {
		lines = append(lines, map[string]any{"mono_ns": int64(i) * sec / 10, "source": "netdev", "node": "r1", "object": "eth2", "metric": "tx_bytes", "value": v})
	}
	writeLines(t, filepath.Join(dir, "metrics.jsonl"), lines)
	rd := &runData{pt: &rundir.Point{Path: dir}}
	require.NoError(t, rd.readIfaces())
	require.Len(t, rd.ifaces, 1)
	for _, p := range rd.ifaces[0].xy {
		require.LessOrEqual(t, p[1], 80.0+1e-9, "at %.1f s", p[0])
	}
	require.Equal(t, 1, rd.nIfaces)
}

func TestSweepLabelsOnTheAxis(t *testing.T) {
	mk := func(labels ...string) *data {
		d := &data{}
		for _, l := range labels {
			d.groups = append(d.groups, &group{label: l, short: shortLabel(l)})
		}
		return d
	}
	require.Equal(t, "streams=4,cc=reno", shortLabel("roles.flow1.params.streams=4,roles.flow1.params.cc=reno"))

	labels, title, _, rotate := mk("a=1", "a=2").tickLabels()
	require.Equal(t, []string{"a=1", "a=2"}, labels)
	require.Equal(t, "sweep point", title)
	require.False(t, rotate)

	long := mk("rate=100mbit,congestion_control=cubic,buffer=64k", "rate=200mbit,congestion_control=reno,buffer=128k",
		"rate=300mbit,congestion_control=bbr,buffer=192k", "rate=400mbit,congestion_control=vegas,buffer=256k")
	labels, _, _, rotate = long.tickLabels()
	require.Equal(t, "rate=100mbit\ncongestion_control=cubic\nbuffer=64k", labels[0], "one KEY=VALUE per line")
	require.False(t, rotate)

	var many []string
	for i := range 10 {
		many = append(many, fmt.Sprintf("rate=%dmbit,congestion_control=cubic-%d", 100*(i+1), i))
	}
	labels, title, _, _ = mk(many...).tickLabels()
	require.Equal(t, "100mbit,cubic-0", labels[0], "the values alone")
	require.Equal(t, "sweep point (rate, congestion_control)", title)
}
