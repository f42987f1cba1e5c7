package artifact

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/collectors/anonymize"
	"github.com/tbctl/tbctl/collectors/pcap"
	"github.com/tbctl/tbctl/collectors/report"
	"github.com/tbctl/tbctl/collectors/rundir"
	"github.com/tbctl/tbctl/testbed/experiment"
)

func TestPackVerify(t *testing.T) {
	root := t.TempDir()
	a := writeRun(t, root, synthRun{id: "20260101T000000Z-ab12"})
	b := writeRun(t, root, synthRun{id: "20260102T000000Z-cd34", extra: map[string][]byte{"report/index.html": []byte("<html>report</html>")}})
	out := filepath.Join(t.TempDir(), "synth-artifact.tar.gz")
	res, err := Pack(packOpts([]string{b, a}, out))
	require.NoError(t, err)
	assert.Equal(t, 2, res.Runs)
	assert.Equal(t, "synth-artifact", res.Top)

	rep, err := Verify(out)
	require.NoError(t, err)
	require.True(t, rep.OK(), "problems:\n%s", problemText(rep))
	assert.Equal(t, 2, rep.Runs)
	assert.Equal(t, res.Files, rep.Files)
	assert.Equal(t, []string{"runs/synth/20260101T000000Z-ab12", "runs/synth/20260102T000000Z-cd34"}, rep.RunDirs)

	// The layout, and deterministic headers.
	names := map[string]member{}
	var order []string
	members := readArchive(t, out)
	for _, m := range members {
		names[m.hdr.Name] = m
		order = append(order, m.hdr.Name)
		assert.Zero(t, m.hdr.Uid, m.hdr.Name)
		assert.Zero(t, m.hdr.Gid, m.hdr.Name)
		assert.Empty(t, m.hdr.Uname)
		assert.Equal(t, "2026-01-02T00:00:07Z", m.hdr.ModTime.UTC().Format("2006-01-02T15:04:05Z"), "the end of the latest run")
		if strings.HasSuffix(m.hdr.Name, "/") {
			assert.Equal(t, int64(0o755), m.hdr.Mode)
		} else {
			assert.Equal(t, int64(0o644), m.hdr.Mode)
		}
	}
	assert.True(t, sort.StringsAreSorted(order), "entries are sorted: %v", order)
	for _, f := range []string{"README.md", "SHA256SUMS", "ro-crate-metadata.json", "tool.json", "environment.json",
		"runs/synth/20260101T000000Z-ab12/manifest.json", "runs/synth/20260101T000000Z-ab12/experiment.yaml",
		"runs/synth/20260101T000000Z-ab12/topology.yaml", "runs/synth/20260101T000000Z-ab12/p02-streams=2/r01/summary.json",
		"runs/synth/20260102T000000Z-cd34/report/index.html"} {
		assert.Contains(t, names, "synth-artifact/"+f)
	}
	sums := string(names["synth-artifact/SHA256SUMS"].data)
	assert.Equal(t, len(members)-countDirs(members)-1, strings.Count(sums, "\n"), "SHA256SUMS covers every other file")
	assert.NotContains(t, sums, " SHA256SUMS\n")

	readme := string(names["synth-artifact/README.md"].data)
	for _, want := range []string{"A flow from h1 crosses r1", "flow.throughput_mbps > 10", "tbctl artifact verify synth-artifact.tar.gz",
		"tbctl artifact reproduce synth-artifact.tar.gz", "tolerance 20%", "key metrics: `flow.retransmits`", "Expected run time"} {
		assert.Contains(t, readme, want)
	}
	assert.NotContains(t, readme, "anonymized")

	var crate struct {
		Context string           `json:"@context"`
		Graph   []map[string]any `json:"@graph"`
	}
	require.NoError(t, json.Unmarshal(names["synth-artifact/ro-crate-metadata.json"].data, &crate))
	assert.Equal(t, CrateContext, crate.Context)
	actions := 0
	for _, e := range crate.Graph {
		if e["@type"] == "CreateAction" {
			actions++
			assert.Equal(t, map[string]any{"@id": statusCompleted}, e["actionStatus"])
			assert.NotEmpty(t, e["startTime"])
		}
		if e["@id"] == "#tbctl-v0.9.0-0123456789ab" {
			assert.Equal(t, "SoftwareApplication", e["@type"])
			assert.Equal(t, "v0.9.0", e["version"])
		}
	}
	assert.Equal(t, 2, actions)

	var tool struct {
		PackedWith ToolInfo
		Runs       []struct{ Path string }
	}
	require.NoError(t, json.Unmarshal(names["synth-artifact/tool.json"].data, &tool))
	assert.Equal(t, "tbctl", tool.PackedWith.Name)
	assert.Len(t, tool.Runs, 2)

	// The same runs give the same bytes.
	again := filepath.Join(t.TempDir(), "synth-artifact.tar.gz")
	_, err = Pack(packOpts([]string{a, b}, again))
	require.NoError(t, err)
	first, _ := os.ReadFile(out)
	second, _ := os.ReadFile(again)
	assert.True(t, bytes.Equal(first, second), "packing is deterministic")
}

func countDirs(ms []member) int {
	n := 0
	for _, m := range ms {
		if strings.HasSuffix(m.hdr.Name, "/") {
			n++
		}
	}
	return n
}

func TestVerifyNamesTampering(t *testing.T) {
	run := writeRun(t, t.TempDir(), synthRun{})
	out := filepath.Join(t.TempDir(), "a.tar.gz")
	_, err := Pack(packOpts([]string{run}, out))
	require.NoError(t, err)
	const rd = "runs/synth/20260101T000000Z-ab12/"
	const summary = rd + "p01-streams=1/r01/summary.json"

	cases := []struct {
		name string
		edit func(t *testing.T, rel string, m member) *member
		want []string
	}{
		{
			name: "one byte of one file",
			edit: func(t *testing.T, rel string, m member) *member {
				if rel == summary {
					i := bytes.Index(m.data, []byte("94.5"))
					require.Positive(t, i)
					m.data = bytes.Clone(m.data)
					m.data[i] = '8'
				}
				return &m
			},
			want: []string{
				summary + ": changed (sha256",
				summary + ": changed (sha256", // against the manifest too
				"ro-crate-metadata.json: File " + summary + ": sha256",
			},
		},
		{
			name: "a file removed",
			edit: func(t *testing.T, rel string, m member) *member {
				if rel == rd+"p02-streams=2/r01/roles/flow/stdout.log" {
					return nil
				}
				return &m
			},
			want: []string{
				rd + "p02-streams=2/r01/roles/flow/stdout.log: missing (listed in SHA256SUMS)",
				rd + "p02-streams=2/r01/roles/flow/stdout.log: missing (against " + rd + "manifest.json)",
				"ro-crate-metadata.json: File " + rd + "p02-streams=2/r01/roles/flow/stdout.log is not in the archive",
			},
		},
		{
			name: "a file added",
			edit: func(t *testing.T, rel string, m member) *member {
				if rel == rd+"index.json" {
					// Smuggle a second file in under another name.
					m.hdr.Name = strings.Replace(m.hdr.Name, "index.json", "extra.json", 1)
				}
				return &m
			},
			want: []string{rd + "extra.json: not in SHA256SUMS", rd + "index.json: missing (listed in SHA256SUMS)"},
		},
		{
			name: "CreateAction dropped",
			edit: func(t *testing.T, rel string, m member) *member {
				if rel == CrateFile {
					m.data = editCrate(t, m.data, func(g []map[string]any) []map[string]any {
						var out []map[string]any
						for _, e := range g {
							if e["@type"] != "CreateAction" {
								out = append(out, e)
							}
						}
						return out
					})
				}
				return &m
			},
			want: []string{"ro-crate-metadata.json: changed (sha256", "ro-crate-metadata.json: no CreateAction for run " + rd},
		},
		{
			name: "sha256 changed in the crate",
			edit: func(t *testing.T, rel string, m member) *member {
				if rel == CrateFile {
					m.data = editCrate(t, m.data, func(g []map[string]any) []map[string]any {
						for _, e := range g {
							if e["@id"] == rd+"index.json" {
								e["sha256"] = strings.Repeat("0", 64)
							}
						}
						return g
					})
				}
				return &m
			},
			want: []string{"ro-crate-metadata.json: File " + rd + "index.json: sha256 000000000000… does not match"},
		},
		{
			name: "descriptor without conformsTo",
			edit: func(t *testing.T, rel string, m member) *member {
				if rel == CrateFile {
					m.data = editCrate(t, m.data, func(g []map[string]any) []map[string]any {
						for _, e := range g {
							if e["@id"] == CrateFile {
								delete(e, "conformsTo")
							}
						}
						return g
					})
				}
				return &m
			},
			want: []string{"ro-crate-metadata.json: the metadata descriptor does not conform to https://w3id.org/ro/crate/1.1"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad.tar.gz")
			rewrite(t, out, bad, func(rel string, m member) *member { return c.edit(t, rel, m) })
			rep, err := Verify(bad)
			require.NoError(t, err)
			require.False(t, rep.OK())
			text := problemText(rep)
			lines := strings.Split(text, "\n")
			for _, w := range c.want {
				i := indexPrefix(lines, w)
				require.GreaterOrEqual(t, i, 0, "no problem starts with %q; got:\n%s", w, text)
				lines = append(lines[:i], lines[i+1:]...)
			}
		})
	}
}

func indexPrefix(lines []string, prefix string) int {
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return i
		}
	}
	return -1
}

func editCrate(t *testing.T, data []byte, fn func([]map[string]any) []map[string]any) []byte {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(data, &doc))
	var g []map[string]any
	raw, _ := json.Marshal(doc["@graph"])
	require.NoError(t, json.Unmarshal(raw, &g))
	doc["@graph"] = fn(g)
	out, err := json.MarshalIndent(doc, "", "  ")
	require.NoError(t, err)
	return out
}

func TestVerifyRefusesUnsafeArchives(t *testing.T) {
	run := writeRun(t, t.TempDir(), synthRun{})
	out := filepath.Join(t.TempDir(), "a.tar.gz")
	_, err := Pack(packOpts([]string{run}, out))
	require.NoError(t, err)
	bad := filepath.Join(t.TempDir(), "bad.tar.gz")
	rewrite(t, out, bad, func(rel string, m member) *member {
		if rel == ReadmeFile {
			m.hdr.Name = "a/../../evil"
		}
		return &m
	})
	_, err = Verify(bad)
	assert.ErrorContains(t, err, `unsafe path "a/../../evil"`)
}

func TestPackRefuses(t *testing.T) {
	root := t.TempDir()
	good := writeRun(t, root, synthRun{id: "20260101T000000Z-0001"})
	outDir := t.TempDir()

	t.Run("existing output", func(t *testing.T) {
		out := filepath.Join(outDir, "exists.tar.gz")
		require.NoError(t, os.WriteFile(out, []byte("keep me"), 0o644))
		_, err := Pack(packOpts([]string{good}, out))
		assert.ErrorContains(t, err, "exists; give --force to overwrite it")
		data, _ := os.ReadFile(out)
		assert.Equal(t, "keep me", string(data))
		o := packOpts([]string{good}, out)
		o.Force = true
		_, err = Pack(o)
		require.NoError(t, err)
		rep, err := Verify(out)
		require.NoError(t, err)
		assert.True(t, rep.OK())
		left, _ := filepath.Glob(filepath.Join(outDir, ".exists.tar.gz.tmp-*"))
		assert.Empty(t, left, "no temporary file left behind")
	})
	t.Run("half-written", func(t *testing.T) {
		dir := writeRun(t, root, synthRun{id: "20260101T000000Z-0002"})
		require.NoError(t, os.Remove(filepath.Join(dir, "manifest.json")))
		_, err := Pack(packOpts([]string{dir}, filepath.Join(outDir, "h.tar.gz")))
		assert.ErrorContains(t, err, "half-written run")
	})
	t.Run("interrupted", func(t *testing.T) {
		dir := writeRun(t, root, synthRun{id: "20260101T000000Z-0003", status: "interrupted"})
		_, err := Pack(packOpts([]string{dir}, filepath.Join(outDir, "i.tar.gz")))
		assert.ErrorContains(t, err, "was interrupted")
	})
	t.Run("manifest mismatch", func(t *testing.T) {
		dir := writeRun(t, root, synthRun{id: "20260101T000000Z-0004"})
		log := filepath.Join(dir, "p01-streams=1", "r01", "roles", "flow", "stdout.log")
		require.NoError(t, os.WriteFile(log, []byte("edited\n"), 0o644))
		_, err := Pack(packOpts([]string{dir}, filepath.Join(outDir, "m.tar.gz")))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "does not match its manifest")
		assert.Contains(t, err.Error(), "p01-streams=1/r01/roles/flow/stdout.log: changed")
	})
	t.Run("no inputs at the top", func(t *testing.T) {
		dir := writeRun(t, root, synthRun{id: "20260101T000000Z-0005", noInputs: true})
		_, err := Pack(packOpts([]string{dir}, filepath.Join(outDir, "n.tar.gz")))
		assert.ErrorContains(t, err, "has no experiment.yaml at its top, so it cannot be rerun")
	})
	t.Run("same run twice", func(t *testing.T) {
		_, err := Pack(packOpts([]string{good, good + "/"}, filepath.Join(outDir, "d.tar.gz")))
		assert.ErrorContains(t, err, "are the same run")
	})
	t.Run("options", func(t *testing.T) {
		o := packOpts([]string{good}, filepath.Join(outDir, "o.tar.gz"))
		o.AnonymizeNames = true
		_, err := Pack(o)
		assert.ErrorContains(t, err, "--anonymize-names goes with --anonymize")
		o = packOpts([]string{good}, filepath.Join(outDir, "o.tar.gz"))
		o.Anonymize = true
		_, err = Pack(o)
		assert.ErrorContains(t, err, "--anonymize needs --key-file")
		o = packOpts([]string{good}, filepath.Join(outDir, "o.tar.gz"))
		o.License = "MIT License"
		_, err = Pack(o)
		assert.ErrorContains(t, err, "not an SPDX license identifier")
		o = packOpts([]string{good}, filepath.Join(good, "inside.tar.gz"))
		_, err = Pack(o)
		assert.ErrorContains(t, err, "is inside the run directory")
	})
	t.Run("captures under anonymize", func(t *testing.T) {
		dir := writeRun(t, root, synthRun{id: "20260101T000000Z-0006", extra: map[string][]byte{"p01-streams=1/r01/capture/h1-eth1.pcapng": {0x0a, 0x0d, 0x0d, 0x0a, 0, 0}}})
		o := packOpts([]string{dir}, filepath.Join(outDir, "c.tar.gz"))
		o.Anonymize, o.KeyFile = true, filepath.Join(t.TempDir(), "key")
		_, err := Pack(o)
		assert.ErrorContains(t, err, "p01-streams=1/r01/capture/h1-eth1.pcapng: cannot anonymize the capture")
		_, err = os.Stat(o.Out)
		assert.ErrorIs(t, err, os.ErrNotExist)
		_, err = Pack(packOpts([]string{dir}, filepath.Join(outDir, "c.tar.gz")))
		assert.NoError(t, err, "without --anonymize a capture is packed as it is")

		dir = writeRun(t, root, synthRun{id: "20260101T000000Z-0007", extra: map[string][]byte{"p01-streams=1/r01/capture/h1-eth1.pcap": {0xd4, 0xc3, 0xb2, 0xa1}}})
		o = packOpts([]string{dir}, filepath.Join(outDir, "p.tar.gz"))
		o.Anonymize, o.KeyFile = true, filepath.Join(t.TempDir(), "key")
		_, err = Pack(o)
		assert.ErrorContains(t, err, "classic pcap captures cannot be anonymized, only pcapng")
	})
}

// A pcapng capture is anonymized with the same mapping as the text.
func TestAnonymizeCapture(t *testing.T) {
	capture := pcapngUDP()
	_, _, err := pcap.ReadFile(writeTemp(t, capture))
	require.NoError(t, err, "the test capture is valid pcapng")
	const rel = "p01-streams=1/r01/capture/r1-eth1.pcapng"
	dir := writeRun(t, t.TempDir(), synthRun{extra: map[string][]byte{rel: capture}})
	out := filepath.Join(t.TempDir(), "cap.tar.gz")
	o := packOpts([]string{dir}, out)
	o.Anonymize, o.AnonymizeNames, o.KeyFile = true, true, filepath.Join(t.TempDir(), "key")
	_, err = Pack(o)
	require.NoError(t, err)
	rep, err := Verify(out)
	require.NoError(t, err)
	require.True(t, rep.OK(), problemText(rep))

	top, err := Unpack(out, t.TempDir())
	require.NoError(t, err)
	runs, err := findRunDirs(top)
	require.NoError(t, err)
	// The file name holds a node name: it is renamed like the rest.
	matches, err := filepath.Glob(filepath.Join(top, runs[0], "p01-streams=1", "r01", "capture", "node-*-eth1.pcapng"))
	require.NoError(t, err)
	require.Len(t, matches, 1)
	data, err := os.ReadFile(matches[0])
	require.NoError(t, err)
	assert.False(t, bytes.Contains(data, []byte{10, 1, 2, 3}), "source address gone")
	assert.False(t, bytes.Contains(data, []byte{198, 18, 0, 5}), "destination address gone")
	pkts, _, err := pcap.ReadFile(matches[0])
	require.NoError(t, err)
	require.Len(t, pkts, 1)

	// The same addresses in the text are mapped alike.
	events, err := os.ReadFile(filepath.Join(top, runs[0], "p01-streams=1", "r01", "events.jsonl"))
	require.NoError(t, err)
	a := anonymize.NewFromSecret(mustRead(t, o.KeyFile))
	want := a.Addr(netip.MustParseAddr("198.18.0.5")).As4()
	assert.Contains(t, string(events), netip.AddrFrom4(want).String())
	assert.True(t, bytes.Contains(data, want[:]), "the capture's destination is the text's")
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(p, data, 0o644))
	return p
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	return data
}

// Anonymized, the archive holds no original address, node, host or lab
// name, nor the key, and still verifies.
func TestAnonymizeLeaks(t *testing.T) {
	root := t.TempDir()
	dir := writeRun(t, root, synthRun{})
	clashing := writeRun(t, root, synthRun{id: "20260101T000000Z-cc01", clash: true})
	keyFile := filepath.Join(t.TempDir(), "artifact.key")

	for i, c := range []struct{ names, clash bool }{{false, false}, {true, false}, {true, true}} {
		names := c.names
		if c.clash {
			dir = clashing
		}
		r, err := rundir.Open(dir)
		require.NoError(t, err)
		_, labs, _ := r.Names()
		require.Len(t, labs, 2)
		// A run has its report, whose images text rewriting cannot
		// reach: the packer makes it again from the anonymized copy.
		_, err = report.Write(r)
		require.NoError(t, err)
		out := filepath.Join(t.TempDir(), "anon.tar.gz")
		o := packOpts([]string{dir}, out)
		o.Anonymize, o.AnonymizeNames, o.KeyFile = true, names, keyFile
		o.Description = "Measured on labhost7 at 10.1.2.3."
		res, err := Pack(o)
		require.NoError(t, err, "names=%v", names)
		assert.Equal(t, i == 0, res.KeyCreated, "the key is made on first use")
		st, err := os.Stat(keyFile)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
		key, err := os.ReadFile(keyFile)
		require.NoError(t, err)
		require.Len(t, key, 32)

		rep, err := Verify(out)
		require.NoError(t, err)
		require.True(t, rep.OK(), "names=%v:\n%s", names, problemText(rep))

		compressed, _ := os.ReadFile(out)
		assert.False(t, bytes.Contains(compressed, key))
		sawReadme, sawReport := false, false
		for _, m := range readArchive(t, out) {
			text := m.hdr.Name + "\n" + string(m.data)
			assert.False(t, bytes.Contains(m.data, key), "%s holds the key", m.hdr.Name)
			assert.NotContains(t, text, hex.EncodeToString(key), m.hdr.Name)
			for _, addr := range synthAddrs {
				assert.False(t, containsBounded(text, addr), "%s still holds %s", m.hdr.Name, addr)
			}
			assert.NotContains(t, text, root, "%s names a folder of the packing machine", m.hdr.Name)
			if strings.HasSuffix(m.hdr.Name, "/report/report.html") {
				sawReport = true
			}
			if strings.HasSuffix(m.hdr.Name, "README.md") {
				sawReadme = true
				assert.Contains(t, text, "This artifact is anonymized")
				if c.clash {
					assert.Contains(t, text, "cannot be rerun by the tbctl that packed it: --anonymize-names also rewrote words")
				}
			}
			if !names {
				continue
			}
			if ext := path.Ext(m.hdr.Name); ext == ".html" || ext == ".svg" {
				// Tag names such as <h1> are not names of the lab.
				text = m.hdr.Name + "\n" + string(withoutMarkup(m.data))
			}
			for _, n := range append(append([]string{synthHost}, synthNodes...), labs...) {
				assert.False(t, anonymize.HasWord(text, n), "%s still holds the name %s", m.hdr.Name, n)
			}
		}
		assert.True(t, sawReadme)
		assert.True(t, sawReport, "the anonymized run has its report")

		// The rewritten run is consistent: the manifest verifies, the
		// numbers are unchanged and the topology still names its nodes.
		tmp := t.TempDir()
		top, err := Unpack(out, tmp)
		require.NoError(t, err)
		runs, err := findRunDirs(top)
		require.NoError(t, err)
		require.Len(t, runs, 1)
		ar, err := rundir.Open(filepath.Join(top, runs[0]))
		require.NoError(t, err)
		require.Len(t, ar.Points, 2)
		v, err := ar.Points[0].Metric("flow", "throughput_mbps")
		require.NoError(t, err)
		assert.Equal(t, 94.5, v)
		exp, err := os.ReadFile(filepath.Join(top, runs[0], "experiment.yaml"))
		require.NoError(t, err)
		if names {
			_, _, nodes := ar.Names()
			assert.Len(t, nodes, 3)
			for _, n := range nodes {
				assert.True(t, strings.HasPrefix(n, "node-"), n)
			}
			used := 0
			for _, n := range nodes {
				used += strings.Count(string(exp), "node: "+n+",")
			}
			assert.Equal(t, 2, used, "the experiment places its roles on the renamed nodes:\n%s", exp)
			if c.clash {
				require.Len(t, res.Warnings, 1)
				assert.Contains(t, res.Warnings[0], `roles.server.params.cc ("r1") uses the name r1`, "the packer hears the original words")
			} else {
				assert.Empty(t, res.Warnings, "the anonymized experiment still plans")
			}
		} else {
			assert.Contains(t, string(exp), "node: h1", "names are kept without --anonymize-names")
		}
	}
}

// A key file's mapping is stable: the same key gives the same archive.
func TestAnonymizeIsStable(t *testing.T) {
	dir := writeRun(t, t.TempDir(), synthRun{})
	key := filepath.Join(t.TempDir(), "k")
	var archives [][]byte
	for range 2 {
		out := filepath.Join(t.TempDir(), "a.tar.gz")
		o := packOpts([]string{dir}, out)
		o.Anonymize, o.AnonymizeNames, o.KeyFile = true, true, key
		_, err := Pack(o)
		require.NoError(t, err)
		data, _ := os.ReadFile(out)
		archives = append(archives, data)
	}
	assert.True(t, bytes.Equal(archives[0], archives[1]))
	require.NoError(t, os.WriteFile(key, []byte("short"), 0o600))
	o := packOpts([]string{dir}, filepath.Join(t.TempDir(), "b.tar.gz"))
	o.Anonymize, o.KeyFile = true, key
	_, err := Pack(o)
	assert.ErrorContains(t, err, "needs at least 16")
}

func TestRewriterNames(t *testing.T) {
	rw := newRewriter(anonymizerForTest())
	rw.addName("lab", "quickstart-db93-0")
	rw.addName("node", "h1")
	rw.addName("host", "vm.example.org")
	in := `lab quickstart-db93-0 ns tb-quickstart-db93-0-h1 h10 path1 "h1:eth1" quickstart-db93-01 vm.example.org 10.0.0.1`
	out := rw.text(in)
	for _, gone := range []string{"quickstart-db93-0 ", "-h1", `"h1:`, "vm.example.org", "10.0.0.1"} {
		assert.NotContains(t, out, gone)
	}
	for _, kept := range []string{"h10", "path1", "quickstart-db93-01"} {
		assert.Contains(t, out, kept)
	}
	_, leaked := rw.leak(out)
	assert.False(t, leaked, out)
	n, leaked := rw.leak("see h1.")
	assert.True(t, leaked)
	assert.Equal(t, "h1", n)
}

// A node called rr clashes with the traffic role's mode rr, which
// --anonymize-names would rewrite too; naming the node in target does not.
func TestNameClashes(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	require.NoError(t, os.WriteFile(topo, []byte("name: c\ntopology:\n  nodes:\n    h1: {kind: linux}\n    rr:\n      kind: linux\n      exec: [\"tc qdisc add dev eth2 root tbf rate 100mbit burst 64kb latency 20ms\", \"ip route add 10.0.0.0/8 via h1\"]\n"), 0o644))
	e, err := experiment.Parse([]byte(`name: c
claim: c
topology: {file: topology.yaml}
duration: 1s
roles:
  sink: {role: traffic, node: rr, params: {mode: server}}
  probe: {role: traffic, node: h1, params: {mode: rr, target: rr}}
`), filepath.Join(dir, "exp.yaml"), nil)
	require.NoError(t, err)
	names := map[string]string{"h1": "node-1", "rr": "node-2"}
	assert.Equal(t, []string{
		`roles.probe.params.mode ("rr") uses the name rr`,
		`topology node rr exec[1] ("ip route add 10.0.0.0/8 via h1") uses the name h1`,
	}, nameClashes(e, topo, names))
}

// The leak check looks past tag names but not past text or attributes.
func TestWithoutMarkup(t *testing.T) {
	in := `<style>h1 { color: red }</style><h1 class="x">run</h1><svg><g><text title="h2">r1</text></g></svg>`
	out := string(withoutMarkup([]byte(in)))
	assert.False(t, anonymize.HasWord(out, "h1"), out)
	assert.False(t, anonymize.HasWord(out, "g"), out)
	assert.True(t, anonymize.HasWord(out, "h2"), "attribute values are kept: %s", out)
	assert.True(t, anonymize.HasWord(out, "r1"), "text is kept: %s", out)
}
