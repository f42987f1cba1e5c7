package artifact

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/collectors/anonymize"
	_ "github.com/tbctl/tbctl/roles/all" // the roles experiments name, as the CLI has them
	"github.com/tbctl/tbctl/testbed/run"
)

// Names and addresses the synthetic runs carry, which anonymization must
// remove.
var (
	synthHost  = "labhost7"
	synthNodes = []string{"h1", "h2", "r1"}
	synthAddrs = []string{"198.18.0.5", "198.18.0.1", "10.1.2.3", "2001:db8:7::17", "fe80::1c2:3dff:fe4e:5f60"}
)

const synthTopology = `# three nodes: h1 - r1 - h2
name: synth
addressing: {}
topology:
  nodes:
    h1: {kind: linux}
    h2: {kind: linux}
    r1: {kind: linux}
  links:
    - endpoints: ["h1:eth1", "r1:eth1"]
    - endpoints: ["h2:eth1", "r1:eth2"]
`

const synthExperiment = `name: synth
claim: A flow from h1 crosses r1 at more than 10 Mbit/s, also with two streams.
topology: {file: topology.yaml}
duration: 2s
roles:
  server: {role: traffic, node: h2, params: {mode: server}}
  flow: {role: traffic, node: h1, after: [server], params: {mode: tcp, target: h2, streams: 1}}
sweep:
  cartesian:
    roles.flow.params.streams: [1, 2]
expect:
  - flow.throughput_mbps > 10
compare:
  - flow.throughput_mbps[streams=2] > 0.5 * flow.throughput_mbps[streams=1]
reproduce: {tolerance: 20%, metrics: [flow.retransmits]}
`

// synthRun describes a synthetic run directory.
type synthRun struct {
	id       string
	status   string
	mbps     []float64 // flow throughput per sweep point (streams 1, 2)
	extra    map[string][]byte
	noInputs bool // no experiment.yaml and topology.yaml at the top, as older tbctl wrote
	clash    bool // a role parameter other than a node reference uses a node's name
}

// writeRun writes a run directory as tbctl run leaves it (two sweep
// points, a manifest hashing every file) under root/synth/ID and returns
// its path.
func writeRun(t *testing.T, root string, s synthRun) string {
	t.Helper()
	if s.id == "" {
		s.id = "20260101T000000Z-ab12"
	}
	if s.status == "" {
		s.status = run.StatusOK
	}
	if s.mbps == nil {
		s.mbps = []float64{94.5, 61.25}
	}
	dir := filepath.Join(root, "synth", s.id)
	put := func(rel string, data []byte) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, data, 0o644))
	}
	putJSON := func(rel string, v any) {
		data, err := json.MarshalIndent(v, "", "  ")
		require.NoError(t, err)
		put(rel, append(data, '\n'))
	}
	experimentText := synthExperiment
	if s.clash {
		experimentText = strings.Replace(experimentText, "{mode: server}", "{mode: server, cc: r1}", 1)
	}
	if !s.noInputs {
		put("experiment.yaml", []byte(experimentText))
		put("topology.yaml", []byte(synthTopology))
	}
	start, err := time.Parse("20060102T150405Z", s.id[:16])
	require.NoError(t, err, "run ids start with their UTC start time")
	type entry struct {
		Label  string         `json:"label"`
		Values map[string]any `json:"values"`
		Rep    int            `json:"rep"`
		Dir    string         `json:"dir"`
		Status string         `json:"status"`
	}
	var idx struct {
		Status  string      `json:"status"`
		Runs    []entry     `json:"runs"`
		Compare []run.Check `json:"compare"`
	}
	idx.Status = s.status
	for i, streams := range []int{1, 2} {
		label := fmt.Sprintf("streams=%d", streams)
		rel := fmt.Sprintf("p%02d-%s/r01", i+1, label)
		lab := fmt.Sprintf("synth-%s-%d", s.id[len(s.id)-4:], i)
		put(rel+"/topology.yaml", []byte(synthTopology))
		put(rel+"/experiment.yaml", []byte(strings.Replace(experimentText, "streams: 1}", fmt.Sprintf("streams: %d}", streams), 1)))
		events := fmt.Sprintf(`{"event":"lab-up","lab":%q,"source":"runner","mono_ns":1}
{"event":"role-start","instance":"flow","node":"h1","netns":"tb-%s-h1","source":"runner","mono_ns":2}
{"event":"connected","instance":"flow","node":"h1","target":"198.18.0.5:7575","via":"198.18.0.1","mono_ns":3}
{"event":"note","text":"h2 answers on [2001:db8:7::17]:7575 and fe80::1c2:3dff:fe4e:5f60%%eth1","mono_ns":4}
`, lab, lab)
		put(rel+"/events.jsonl", []byte(events))
		put(rel+"/metrics.jsonl", []byte(`{"mono_ns":5,"source":"netdev","node":"r1","object":"eth1","metric":"rx_bytes","value":4242}
`))
		put(rel+"/roles/flow/stdout.log", []byte("flow on h1 (host "+synthHost+"): connecting to 198.18.0.5:7575 from 10.1.2.3\n"))
		put(rel+"/roles/flow/stderr.log", nil)
		ok := s.mbps[i] > 10
		detail := fmt.Sprintf("%g > 10", s.mbps[i])
		summary := map[string]any{
			"label": label, "point": i, "rep": 1,
			"values": map[string]any{"roles.flow.params.streams": streams},
			"seed":   1000 + i, "dir": filepath.Join(dir, rel), "lab": lab, "status": map[bool]string{true: "ok", false: "failed"}[ok],
			"instances": []map[string]any{
				{"name": "server", "role": "traffic", "node": "h2", "status": "stopped", "summary": map[string]any{"mode": "server", "port": 7575}},
				{"name": "flow", "role": "traffic", "node": "h1", "status": "ok", "summary": map[string]any{
					"mode": "tcp", "target": "198.18.0.5:7575", "throughput_mbps": s.mbps[i], "retransmits": 3 + i, "streams": streams,
				}},
			},
			"expectations": []run.Check{{Text: "flow.throughput_mbps > 10", OK: ok, Detail: detail}},
			"start":        start, "end": start.Add(3 * time.Second),
		}
		putJSON(rel+"/summary.json", summary)
		putJSON(rel+"/roles/flow/summary.json", summary["instances"].([]map[string]any)[1]["summary"])
		idx.Runs = append(idx.Runs, entry{label, map[string]any{"roles.flow.params.streams": streams}, 1, rel, summary["status"].(string)})
	}
	c := s.mbps[1] > 0.5*s.mbps[0]
	idx.Compare = []run.Check{{Text: "flow.throughput_mbps[streams=2] > 0.5 * flow.throughput_mbps[streams=1]", OK: c, Detail: fmt.Sprintf("%g > %g", s.mbps[1], 0.5*s.mbps[0])}}
	putJSON("index.json", idx)
	for rel, data := range s.extra {
		put(rel, data)
	}
	man := run.Manifest{
		Tool:       run.Tool{Name: "tbctl", Version: "v0.9.0", Revision: "0123456789abcdef0123456789abcdef01234567", GoVersion: "go1.26.0"},
		Host:       run.Host{Hostname: synthHost, Kernel: "6.1.0", OS: "linux", Arch: "amd64", CPU: "Test CPU", CPUs: 4, MemoryKB: 8 << 20},
		Experiment: "synth", File: "experiments/synth.yaml", FileSHA256: strings.Repeat("ab", 32), RunID: s.id, Provider: "netns",
		Parameters: map[string]any{"name": "synth", "claim": "A flow from h1 crosses r1."},
		Seeds:      []int64{1000, 1001},
		Start:      run.Stamp{Wall: start}, End: run.Stamp{Wall: start.Add(7 * time.Second)},
		Status: s.status, Files: map[string]string{},
	}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasPrefix(filepath.ToSlash(rel), "report/") {
			return nil // written after the run, not in its manifest
		}
		sum, err := run.HashFile(p)
		man.Files[filepath.ToSlash(rel)] = sum
		return err
	}))
	putJSON("manifest.json", man)
	return dir
}

func anonymizerForTest() *anonymize.Anonymizer {
	return anonymize.NewFromSecret([]byte("a test secret, not a real one"))
}

// testEnv is a fixed packing environment, so that tests do not depend on
// the machine.
func testEnv() *Environment {
	yes := true
	return &Environment{
		Note: "test", Tbctl: ToolInfo{Name: "tbctl", Version: "test"},
		Kernel:   Kernel{Release: "6.1.0-test", Machine: "x86_64"},
		OS:       OSRelease{PrettyName: "Test OS"},
		CPU:      CPU{Model: "Test CPU", Count: 4},
		MemoryKB: 8 << 20,
		Features: []Feature{{Name: "veth", Present: &yes, Detail: "test", UsedFor: "links"}},
		Tools:    []Tool{{Name: "ip", Version: "ip utility, iproute2-test", UsedFor: "exec"}},
	}
}

func packOpts(runs []string, out string) PackOptions {
	return PackOptions{Runs: runs, Out: out, Environment: testEnv()}
}

// member is one entry of an archive.
type member struct {
	hdr  *tar.Header
	data []byte
}

func readArchive(t *testing.T, path string) []member {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	var out []member
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		out = append(out, member{hdr, data})
	}
}

func writeArchiveMembers(t *testing.T, path string, members []member) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, m := range members {
		h := *m.hdr
		h.Size = int64(len(m.data))
		require.NoError(t, tw.WriteHeader(&h))
		_, err := tw.Write(m.data)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

// rewrite changes an archive: fn sees each member by its path below the
// top folder and returns it changed, or nil to drop it.
func rewrite(t *testing.T, src, dst string, fn func(rel string, m member) *member) {
	t.Helper()
	var out []member
	for _, m := range readArchive(t, src) {
		_, rel, _ := strings.Cut(strings.TrimSuffix(m.hdr.Name, "/"), "/")
		if nm := fn(rel, m); nm != nil {
			out = append(out, *nm)
		}
	}
	writeArchiveMembers(t, dst, out)
}

// problemText lists a report's problems one per line.
func problemText(rep *Report) string { return problemLines(rep.Problems) }

// containsBounded reports s containing tok not glued to a letter, digit,
// dot or colon on either side.
func containsBounded(s, tok string) bool {
	glued := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == ':'
	}
	for i := 0; ; {
		j := strings.Index(s[i:], tok)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(tok)
		if (j == 0 || !glued(s[j-1])) && (end == len(s) || !glued(s[end])) {
			return true
		}
		i = j + 1
	}
}

// pcapngUDP is a pcapng capture of one Ethernet/IPv4/UDP packet from
// 10.1.2.3 to 198.18.0.5.
func pcapngUDP() []byte {
	le := binary.LittleEndian
	var b bytes.Buffer
	block := func(typ uint32, body []byte) {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		n := uint32(12 + len(body))
		binary.Write(&b, le, typ)
		binary.Write(&b, le, n)
		b.Write(body)
		binary.Write(&b, le, n)
	}
	shb := make([]byte, 16)
	le.PutUint32(shb[0:], 0x1A2B3C4D)
	le.PutUint16(shb[4:], 1)
	le.PutUint64(shb[8:], ^uint64(0))
	block(0x0A0D0D0A, shb)
	idb := make([]byte, 8)
	le.PutUint16(idb[0:], 1) // Ethernet
	le.PutUint32(idb[4:], 65535)
	block(1, idb)
	payload := []byte("hi")
	udp := make([]byte, 8)
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], 7575)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	ip := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 10, 1, 2, 3, 198, 18, 0, 5}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	frame := append([]byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00}, ip...)
	frame = append(append(frame, udp...), payload...)
	epb := make([]byte, 20)
	le.PutUint32(epb[12:], uint32(len(frame)))
	le.PutUint32(epb[16:], uint32(len(frame)))
	block(6, append(epb, frame...))
	return b.Bytes()
}
