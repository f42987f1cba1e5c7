package dataset_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/collectors/anonymize"
	"github.com/tbctl/tbctl/collectors/dataset"
)

// arrowTable reads one Parquet file with Apache Arrow's reader, a second
// implementation independent of the one that wrote it, and returns its
// rows, its schema, and checks its metadata and compression.
func arrowTable(t *testing.T, path, table string) ([]row, *arrow.Schema) {
	t.Helper()
	// Metadata and compression, from the file's footer.
	pf, err := file.OpenParquetFile(path, false)
	require.NoError(t, err, path)
	md := pf.MetaData()
	kv := md.KeyValueMetadata()
	for key, want := range map[string]string{dataset.MetaSchema: strconv.Itoa(dataset.SchemaVersion), dataset.MetaTable: table, dataset.MetaTool: "test-1.2.3"} {
		got := kv.FindValue(key)
		require.NotNil(t, got, "%s: no %s in the key/value metadata", path, key)
		require.Equal(t, want, *got, "%s: %s", path, key)
	}
	require.Positive(t, md.NumRowGroups(), path)
	for i := range md.NumRowGroups() {
		rg := md.RowGroup(i)
		for c := range md.NumColumns() {
			cc, err := rg.ColumnChunk(c)
			require.NoError(t, err)
			require.Equal(t, compress.Codecs.Zstd, cc.Compression(), "%s: column %d is not zstd-compressed", path, c)
		}
	}
	require.NoError(t, pf.Close())

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	tbl, err := pqarrow.ReadTable(context.Background(), f, parquet.NewReaderProperties(memory.DefaultAllocator), pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	require.NoError(t, err, path)
	defer tbl.Release()
	rows := make([]row, tbl.NumRows())
	for i := range rows {
		rows[i] = row{}
	}
	for c := range int(tbl.NumCols()) {
		col := tbl.Column(c)
		r := 0
		for _, chunk := range col.Data().Chunks() {
			for i := range chunk.Len() {
				rows[r][col.Name()] = arrowValue(t, chunk, i)
				r++
			}
		}
	}
	return rows, tbl.Schema()
}

func arrowValue(t *testing.T, a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.Int32:
		return a.Value(i)
	case *array.Int64:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.Timestamp:
		return int64(a.Value(i))
	}
	t.Fatalf("unexpected Arrow array %T", a)
	return nil
}

// readTable reads every file of a table that dataset.json lists, with
// Arrow, and checks each file's schema against the documented one.
func readTable(t *testing.T, dir, table string) []row {
	t.Helper()
	var m dataset.Manifest
	data, err := os.ReadFile(filepath.Join(dir, dataset.ManifestFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &m))
	var spec dataset.Table
	for _, tb := range dataset.Tables() {
		if tb.Name == table {
			spec = tb
		}
	}
	var out []row
	for _, sr := range m.Runs {
		for _, f := range sr.Files {
			if f.Table != table {
				continue
			}
			path := filepath.Join(dir, f.Path)
			require.Equal(t, f.SHA256, sha(t, path), "%s: hash differs from dataset.json", f.Path)
			rows, schema := arrowTable(t, path, table)
			require.Len(t, rows, int(f.Rows), "%s: row count differs from dataset.json", f.Path)
			checkSchema(t, f.Path, schema, spec)
			out = append(out, rows...)
		}
	}
	return out
}

// checkSchema compares a file's Arrow schema with the documented columns.
func checkSchema(t *testing.T, path string, s *arrow.Schema, spec dataset.Table) {
	t.Helper()
	require.Equal(t, len(spec.Columns), s.NumFields(), path)
	for i, c := range spec.Columns {
		f := s.Field(i)
		require.Equal(t, c.Name, f.Name, path)
		require.Equal(t, strings.Contains(c.Type, "nullable"), f.Nullable, "%s: %s nullable", path, c.Name)
		base, _, _ := strings.Cut(c.Type, ",")
		if strings.HasPrefix(c.Type, "timestamp") {
			base = "timestamp"
		}
		switch strings.TrimSuffix(base, " (JSON)") {
		case "string":
			require.Contains(t, []arrow.Type{arrow.STRING, arrow.LARGE_STRING}, f.Type.ID(), "%s: %s", path, c.Name)
		case "int32":
			require.Equal(t, arrow.INT32, f.Type.ID(), "%s: %s", path, c.Name)
		case "int64":
			require.Equal(t, arrow.INT64, f.Type.ID(), "%s: %s", path, c.Name)
		case "double":
			require.Equal(t, arrow.FLOAT64, f.Type.ID(), "%s: %s", path, c.Name)
		case "bool":
			require.Equal(t, arrow.BOOL, f.Type.ID(), "%s: %s", path, c.Name)
		case "timestamp":
			ts, ok := f.Type.(*arrow.TimestampType)
			require.True(t, ok, "%s: %s is %s", path, c.Name, f.Type)
			require.Equal(t, arrow.Nanosecond, ts.Unit, "%s: %s", path, c.Name)
			require.Equal(t, "UTC", ts.TimeZone, "%s: %s", path, c.Name)
		default:
			t.Fatalf("%s: column %s has undocumented type %q", path, c.Name, c.Type)
		}
	}
}

func add(t *testing.T, dir string, o dataset.Options, runs ...string) (*dataset.Result, error) {
	t.Helper()
	o.Tool = "test-1.2.3"
	return dataset.Add(dir, runs, o)
}

func concat(rows ...[]row) []row {
	var out []row
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	root := t.TempDir()
	sweep := writeRun(t, root, sweepRun())
	dir := filepath.Join(root, "ds")
	var progress []dataset.RunAdded
	res, err := add(t, dir, dataset.Options{Progress: func(a dataset.RunAdded) { progress = append(progress, a) }}, sweep)
	require.NoError(t, err)
	require.Len(t, res.Added, 2)
	require.Equal(t, progress, res.Added, "one progress call per run")
	require.Equal(t, dataset.RunAdded{Key: "20260101T000000Z-aaaa/p01-r01", Experiment: "synth-sweep", Label: "target=198.51.100.23", Status: "ok", Faults: 3, Metrics: 7, Events: 17}, res.Added[0])
	require.Equal(t, 2, res.TotalRuns)

	// Every value of every table, read back by Arrow.
	rs := sweepRun()
	require.Equal(t, expectRuns(rs), readTable(t, dir, dataset.TableRuns))
	require.Equal(t, expectFaults(rs), readTable(t, dir, dataset.TableFaults))
	require.Equal(t, expectMetrics(rs), readTable(t, dir, dataset.TableMetrics))
	require.Equal(t, expectEvents(rs), readTable(t, dir, dataset.TableEvents))

	// The package's own reader agrees.
	runs, err := dataset.ReadTable[dataset.RunRow](dir, dataset.TableRuns)
	require.NoError(t, err)
	require.Len(t, runs, 2)
	require.Equal(t, int64(0), runs[1].MeasureStart, "null reads back as 0")

	// dataset.json.
	var m dataset.Manifest
	data, err := os.ReadFile(filepath.Join(dir, dataset.ManifestFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &m))
	require.Equal(t, dataset.Format, m.Format)
	require.Equal(t, dataset.SchemaVersion, m.Schema)
	require.False(t, m.Anonymization.Addresses)
	require.Len(t, m.Runs, 1)
	require.Equal(t, "20260101T000000Z-aaaa", m.Runs[0].RunID)
	require.Equal(t, sha(t, filepath.Join(sweep, "manifest.json")), m.Runs[0].ManifestSHA256)
	require.Equal(t, []string{"20260101T000000Z-aaaa/p01-r01", "20260101T000000Z-aaaa/p02-r01"}, m.Runs[0].Runs)
	require.Len(t, m.Runs[0].Files, 4)
	for _, f := range m.Runs[0].Files {
		require.Equal(t, f.Table+"/part-20260101T000000Z-aaaa.parquet", f.Path)
	}
	// Nothing but the tables, dataset.json and README.md is left.
	var names []string
	for _, p := range allFiles(t, dir) {
		rel, _ := filepath.Rel(dir, p)
		names = append(names, rel)
	}
	require.ElementsMatch(t, []string{"README.md", "dataset.json", "events/part-20260101T000000Z-aaaa.parquet", "faults/part-20260101T000000Z-aaaa.parquet",
		"metrics/part-20260101T000000Z-aaaa.parquet", "runs/part-20260101T000000Z-aaaa.parquet"}, names)

	// The datasheet.
	sheet := readString(t, filepath.Join(dir, dataset.DatasheetFile))
	for _, want := range []string{
		"synth-sweep", rs.claim, "| synth-sweep | 2 | 2 | failed 1, ok 1 | 2 |", "target=198.51.100.23", "target=" + nodeB,
		"| " + hostName + " | 6.1.0-synth | linux/amd64 | Synth CPU 3000 | 8 | 16.0 GiB | 2 |", "netns (2 runs)", "v9.9.9, revision abc123 (modified tree) (2 runs)",
		"| net | 4 | 4 | 4 |", "| node | 2 | 0 | 0 |", "| net.loss | 2 | 2 | 2 |", "| net.blackhole | 2 | 2 | 2 |", "| node.pause | 2 | 0 | 0 |",
		"Not anonymized", `pd.read_parquet("ds/metrics")`, "runs 2, faults 6, metrics 14, events 32",
	} {
		require.Contains(t, sheet, want)
	}
	for _, tb := range dataset.Tables() {
		require.Contains(t, sheet, "### "+tb.Name)
		for _, c := range tb.Columns {
			require.Contains(t, sheet, "| `"+c.Name+"` | "+c.Type+" |", "datasheet lacks %s.%s", tb.Name, c.Name)
		}
	}

	// CSV export, read back and compared with the same expectations.
	out := filepath.Join(root, "csv")
	files, err := dataset.Export(dir, "csv", out)
	require.NoError(t, err)
	require.Len(t, files, 4)
	for _, tb := range dataset.Tables() {
		want := map[string][]row{dataset.TableRuns: expectRuns(rs), dataset.TableFaults: expectFaults(rs),
			dataset.TableMetrics: expectMetrics(rs), dataset.TableEvents: expectEvents(rs)}[tb.Name]
		require.Equal(t, want, readCSV(t, filepath.Join(out, tb.Name+".csv"), tb), tb.Name)
	}

	_, err = dataset.Export(dir, "xlsx", out)
	require.ErrorContains(t, err, `unknown export format "xlsx": the formats are csv`)
}

// readCSV parses an exported CSV file back into typed rows, the empty cell
// being null in nullable columns.
func readCSV(t *testing.T, path string, tb dataset.Table) []row {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	var header []string
	for _, c := range tb.Columns {
		header = append(header, c.Name)
	}
	require.Equal(t, header, recs[0])
	var out []row
	for _, rec := range recs[1:] {
		r := row{}
		for i, c := range tb.Columns {
			cell := rec[i]
			if cell == "" && strings.Contains(c.Type, "nullable") {
				r[c.Name] = nil
				continue
			}
			var v any
			var err error
			switch {
			case strings.HasPrefix(c.Type, "string"):
				v = cell
			case strings.HasPrefix(c.Type, "int32"):
				var n int64
				n, err = strconv.ParseInt(cell, 10, 32)
				v = int32(n)
			case strings.HasPrefix(c.Type, "int64"):
				v, err = strconv.ParseInt(cell, 10, 64)
			case strings.HasPrefix(c.Type, "double"):
				v, err = strconv.ParseFloat(cell, 64)
			case strings.HasPrefix(c.Type, "bool"):
				v, err = strconv.ParseBool(cell)
			case strings.HasPrefix(c.Type, "timestamp"):
				var ts time.Time
				ts, err = time.Parse(time.RFC3339Nano, cell)
				v = ts.UnixNano()
			}
			require.NoError(t, err, "%s: %s=%q", path, c.Name, cell)
			r[c.Name] = v
		}
		out = append(out, r)
	}
	return out
}

func TestAppend(t *testing.T) {
	root := t.TempDir()
	sweep := writeRun(t, root, sweepRun())
	single := writeRun(t, root, singleRun())
	dir := filepath.Join(root, "ds")
	_, err := add(t, dir, dataset.Options{}, sweep)
	require.NoError(t, err)
	first := hashTree(t, filepath.Join(dir, "metrics"))

	res, err := add(t, dir, dataset.Options{}, single)
	require.NoError(t, err)
	require.Len(t, res.Added, 1)
	require.Equal(t, "20260102T000000Z-bbbb/p01-r01", res.Added[0].Key)
	require.Equal(t, 3, res.TotalRuns)

	// The first add's files are untouched; the second wrote its own.
	after := hashTree(t, filepath.Join(dir, "metrics"))
	for k, v := range first {
		require.Equal(t, v, after[k], k)
	}
	require.Len(t, after, len(first)+1)

	require.Equal(t, concat(expectRuns(sweepRun()), expectRuns(singleRun())), readTable(t, dir, dataset.TableRuns))
	require.Equal(t, concat(expectFaults(sweepRun()), expectFaults(singleRun())), readTable(t, dir, dataset.TableFaults))
	require.Equal(t, concat(expectMetrics(sweepRun()), expectMetrics(singleRun())), readTable(t, dir, dataset.TableMetrics))
	require.Equal(t, concat(expectEvents(sweepRun()), expectEvents(singleRun())), readTable(t, dir, dataset.TableEvents))

	sheet := readString(t, filepath.Join(dir, dataset.DatasheetFile))
	require.Contains(t, sheet, "# Dataset ds: synth-single, synth-sweep")
	require.Contains(t, sheet, "| synth-single | 1 | 1 | ok 1 | 1 |")
	require.Contains(t, sheet, "| Runs (sweep point × repetition) | 3 (ok 2, failed 1) |")
	require.Contains(t, sheet, "| net.loss | 3 | 3 | 3 |")
	require.Contains(t, sheet, "| 20260102T000000Z-bbbb | synth-single | 1 |")

	// Export reads both adds.
	out := t.TempDir()
	files, err := dataset.Export(dir, "csv", out)
	require.NoError(t, err)
	for _, f := range files {
		want := map[string]int64{"runs": 3, "faults": 9, "metrics": 21, "events": 49}[f.Table]
		require.Equal(t, want, f.Rows, f.Table)
	}
}

func TestRefusals(t *testing.T) {
	root := t.TempDir()
	sweep := writeRun(t, root, sweepRun())
	single := writeRun(t, root, singleRun())
	dir := filepath.Join(root, "ds")
	_, err := add(t, dir, dataset.Options{}, sweep)
	require.NoError(t, err)

	halfWritten := copyTree(t, single, filepath.Join(root, "half"))
	require.NoError(t, os.Remove(filepath.Join(halfWritten, "manifest.json")))

	is := singleRun()
	is.runID, is.status = "20260103T000000Z-cccc", "interrupted"
	interrupted := writeRun(t, root, is)

	changed := copyTree(t, single, filepath.Join(root, "changed"))
	write(t, filepath.Join(changed, "metrics.jsonl"), "")

	otherSchema := copyTree(t, dir, filepath.Join(root, "ds-v2"))
	man := readString(t, filepath.Join(otherSchema, "dataset.json"))
	write(t, filepath.Join(otherSchema, "dataset.json"), strings.Replace(man, `"schema": 1,`, `"schema": 2,`, 1))

	notDataset := filepath.Join(root, "not-a-dataset")
	write(t, filepath.Join(notDataset, "notes.txt"), "mine")

	for _, c := range []struct {
		name string
		dir  string
		runs []string
		o    dataset.Options
		want string
	}{
		{"duplicate", dir, []string{sweep}, dataset.Options{}, "is already in the dataset"},
		{"duplicate in one add", dir, []string{single, single}, dataset.Options{}, "is given twice"},
		{"duplicate under another path", dir, []string{copyTree(t, sweep, filepath.Join(root, "copy"))}, dataset.Options{}, "is already in the dataset"},
		{"half-written", dir, []string{halfWritten}, dataset.Options{}, "is a half-written run: it has no manifest.json"},
		{"half-written with a whole one", dir, []string{single, halfWritten}, dataset.Options{}, "half-written"},
		{"interrupted", dir, []string{interrupted}, dataset.Options{}, "was interrupted"},
		{"changed since the run", dir, []string{changed}, dataset.Options{}, "metrics.jsonl: changed (sha256"},
		{"not a run directory", dir, []string{filepath.Join(root, "nowhere")}, dataset.Options{}, "no such run directory"},
		{"another schema version", otherSchema, []string{single}, dataset.Options{}, "is a dataset of schema version 2; this tbctl writes schema version 1"},
		{"not a dataset", notDataset, []string{single}, dataset.Options{}, "is not a dataset (it has no dataset.json) and is not empty"},
		{"anonymized run into a plain dataset", dir, []string{single}, dataset.Options{Anonymize: true, KeyFile: filepath.Join(root, "k1")}, "is not anonymized: anonymized runs cannot join it"},
		{"names without addresses", dir, []string{single}, dataset.Options{AnonymizeNames: true}, "--anonymize-names goes with --anonymize"},
		{"anonymize without a key", dir, []string{single}, dataset.Options{Anonymize: true}, "--anonymize needs --key-file"},
		{"key file inside the dataset", filepath.Join(root, "fresh"), []string{single}, dataset.Options{Anonymize: true, KeyFile: filepath.Join(root, "fresh", "secret.key")}, "is inside the dataset"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := hashTree(t, c.dir)
			_, statErr := os.Stat(c.dir)
			res, err := add(t, c.dir, c.o, c.runs...)
			require.Error(t, err)
			require.Nil(t, res)
			require.Contains(t, err.Error(), c.want)
			require.Equal(t, before, hashTree(t, c.dir), "the dataset directory changed")
			if os.IsNotExist(statErr) {
				require.NoDirExists(t, c.dir, "a refused add left the dataset directory it made")
			}
		})
	}
	require.NoFileExists(t, filepath.Join(root, "k1"), "a key file was made for an add that was refused")

	// A dataset that lost track of a file refuses to grow.
	stray := copyTree(t, dir, filepath.Join(root, "ds-stray"))
	write(t, filepath.Join(stray, "metrics", "part-zzz.parquet"), "half")
	before := hashTree(t, stray)
	_, err = add(t, stray, dataset.Options{}, single)
	require.ErrorContains(t, err, "metrics/part-zzz.parquet is not recorded in dataset.json")
	require.Equal(t, before, hashTree(t, stray))

	// After all that, the dataset still takes a good run.
	_, err = add(t, dir, dataset.Options{}, single)
	require.NoError(t, err)
}

func TestAnonymize(t *testing.T) {
	root := t.TempDir()
	sweep := writeRun(t, root, sweepRun())
	single := writeRun(t, root, singleRun())
	dir := filepath.Join(root, "ds")
	keyFile := filepath.Join(t.TempDir(), "dataset.key")
	o := dataset.Options{Anonymize: true, AnonymizeNames: true, KeyFile: keyFile}
	res, err := add(t, dir, o, sweep)
	require.NoError(t, err)
	require.True(t, res.KeyCreated)
	require.Equal(t, keyFile, res.KeyFile)

	// The key: 32 random bytes, 0600, outside the dataset.
	st, err := os.Stat(keyFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	key, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	require.Len(t, key, 32)
	rel, err := filepath.Rel(dir, keyFile)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(rel, ".."), "key file inside the dataset")

	// A second add with the same key reuses it.
	res, err = add(t, dir, o, single)
	require.NoError(t, err)
	require.False(t, res.KeyCreated)

	// What the anonymize package gives under that key.
	a := anonymize.NewFromSecret(key)
	sc := a.Scrubber()
	sc.AddName("host", hostName)
	for _, l := range []string{"synthlab-aaaa-0", "synthlab-aaaa-1", "synthlab-bbbb-0"} {
		sc.AddName("lab", l)
	}
	for _, n := range nodeNames {
		sc.AddName("node", n)
	}
	scrubRows := func(rows []row) []row {
		for _, r := range rows {
			for k, v := range r {
				if s, ok := v.(string); ok {
					r[k] = sc.String(s)
				}
			}
		}
		return rows
	}
	tables := map[string][]row{}
	for _, tb := range dataset.TableNames() {
		tables[tb] = readTable(t, dir, tb)
	}
	// Every cell is the original with addresses and names rewritten as the
	// anonymize package does, and nothing else changed.
	require.Equal(t, scrubRows(concat(expectRuns(sweepRun()), expectRuns(singleRun()))), tables[dataset.TableRuns])
	require.Equal(t, scrubRows(concat(expectFaults(sweepRun()), expectFaults(singleRun()))), tables[dataset.TableFaults])
	require.Equal(t, scrubRows(concat(expectMetrics(sweepRun()), expectMetrics(singleRun()))), tables[dataset.TableMetrics])
	require.Equal(t, scrubRows(concat(expectEvents(sweepRun()), expectEvents(singleRun()))), tables[dataset.TableEvents])

	// Spot checks against Addr and Name directly.
	anon := func(s string) string { return a.Addr(netip.MustParseAddr(s)).String() }
	f2 := tables[dataset.TableFaults][1]
	require.Equal(t, `{"dst":"`+anon("198.51.100.23")+`"}`, f2["params"])
	require.Equal(t, a.Name("node", nodeB), f2["target"])
	require.Equal(t, a.Name("node", nodeA)+":eth1", tables[dataset.TableFaults][0]["target"])
	require.Equal(t, a.Name("host", hostName), tables[dataset.TableRuns][0]["host"])
	require.Equal(t, "target="+anon("198.51.100.23"), tables[dataset.TableRuns][0]["label"])
	require.Equal(t, `{"remote":"`+anon("203.0.113.77")+`:5201","target":"[`+anon("2001:db8:feed::18")+`]:443"}`, tables[dataset.TableEvents][4]["fields"])
	require.Equal(t, anon("10.44.1.2")+":9100", tables[dataset.TableMetrics][2]["object"])
	require.NotEqual(t, "198.51.100.23", anon("198.51.100.23"))

	// No original address as text in any cell, nor any name as a whole word.
	names := append([]string{hostName, "synthlab-aaaa-0", "synthlab-aaaa-1", "synthlab-bbbb-0"}, nodeNames...)
	for tb, rows := range tables {
		for _, r := range rows {
			for col, v := range r {
				s, ok := v.(string)
				if !ok {
					continue
				}
				for _, addr := range origAddrs {
					require.NotContains(t, s, addr, "%s.%s", tb, col)
				}
				for _, n := range names {
					require.False(t, wholeWord(n).MatchString(s), "%s.%s holds %s: %s", tb, col, n, s)
				}
			}
		}
	}
	// Nor anywhere in the files of the dataset (the datasheet, dataset.json,
	// Parquet statistics and dictionaries), nor the key in any form.
	secrets := [][]byte{key, []byte(hex.EncodeToString(key)), []byte(base64.StdEncoding.EncodeToString(key)), []byte(base64.RawURLEncoding.EncodeToString(key))}
	for _, path := range allFiles(t, dir) {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		for _, addr := range origAddrs {
			require.False(t, bytes.Contains(data, []byte(addr)), "%s holds %s", path, addr)
		}
		for _, n := range names {
			require.False(t, wholeWord(n).Match(data), "%s holds %s", path, n)
		}
		for _, s := range secrets {
			require.False(t, bytes.Contains(data, s), "%s holds the key", path)
		}
	}
	var m dataset.Manifest
	require.NoError(t, json.Unmarshal([]byte(readString(t, filepath.Join(dir, "dataset.json"))), &m))
	require.Equal(t, dataset.Anonymization{Addresses: true, Names: true, KeyFingerprint: dataset.KeyFingerprint(key), Method: m.Anonymization.Method}, m.Anonymization)
	require.Len(t, m.Anonymization.KeyFingerprint, 16)
	sheet := readString(t, filepath.Join(dir, dataset.DatasheetFile))
	require.Contains(t, sheet, "| Anonymized | yes: addresses (Crypto-PAn) and names (pseudonyms) |")
	require.Contains(t, sheet, dataset.KeyFingerprint(key))
	require.Contains(t, sheet, "| "+a.Name("host", hostName)+" | 6.1.0-synth |")

	// The export carries the anonymized cells too.
	out := t.TempDir()
	_, err = dataset.Export(dir, "csv", out)
	require.NoError(t, err)
	for _, path := range allFiles(t, out) {
		data, _ := os.ReadFile(path)
		for _, addr := range origAddrs {
			require.False(t, bytes.Contains(data, []byte(addr)), "%s holds %s", path, addr)
		}
	}

	// The dataset refuses other ways of adding.
	third := singleRun()
	third.runID = "20260104T000000Z-dddd"
	thirdDir := writeRun(t, root, third)
	otherKey := filepath.Join(t.TempDir(), "other.key")
	write(t, otherKey, strings.Repeat("another secret ", 4))
	before := hashTree(t, dir)
	for _, c := range []struct {
		o    dataset.Options
		want string
	}{
		{dataset.Options{}, "is an anonymized dataset: add runs to it with --anonymize --anonymize-names --key-file"},
		{dataset.Options{Anonymize: true, KeyFile: keyFile}, "was made with --anonymize-names: add runs the same way"},
		{dataset.Options{Anonymize: true, AnonymizeNames: true, KeyFile: otherKey}, "was anonymized with another key (fingerprint " + dataset.KeyFingerprint(key)},
		{dataset.Options{Anonymize: true, AnonymizeNames: true, KeyFile: filepath.Join(root, "missing.key")}, "does not exist: give the key file it was made with"},
	} {
		_, err := add(t, dir, c.o, thirdDir)
		require.ErrorContains(t, err, c.want)
		require.Equal(t, before, hashTree(t, dir))
	}
	require.NoFileExists(t, filepath.Join(root, "missing.key"), "a key was made for a dataset that needs its own")
}

// TestAnonymizeAddressesOnly keeps names and rewrites addresses.
func TestAnonymizeAddressesOnly(t *testing.T) {
	root := t.TempDir()
	single := writeRun(t, root, singleRun())
	dir := filepath.Join(root, "ds")
	keyFile := filepath.Join(root, "k")
	write(t, keyFile, "a passphrase of some length")
	_, err := add(t, dir, dataset.Options{Anonymize: true, KeyFile: keyFile}, single)
	require.NoError(t, err)
	a := anonymize.NewFromSecret([]byte("a passphrase of some length"))
	events := readTable(t, dir, dataset.TableEvents)
	want := expectEvents(singleRun())
	for i := range want {
		want[i]["fields"] = a.Text(want[i]["fields"].(string))
	}
	require.Equal(t, want, events)
	require.Equal(t, nodeA, events[2]["node"])
	require.Contains(t, readString(t, filepath.Join(dir, dataset.DatasheetFile)), "yes: addresses (Crypto-PAn); names kept")
}

func wholeWord(s string) *regexp.Regexp {
	return regexp.MustCompile(`(^|[^A-Za-z0-9])` + regexp.QuoteMeta(s) + `([^A-Za-z0-9]|$)`)
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestSchemaDocumented(t *testing.T) {
	for _, tb := range dataset.Tables() {
		require.NotEmpty(t, tb.Columns, tb.Name)
		require.Equal(t, "run_key", tb.Columns[0].Name, tb.Name)
		for _, c := range tb.Columns {
			require.NotEmpty(t, c.Meaning, "%s.%s", tb.Name, c.Name)
			require.NotEmpty(t, c.Type, "%s.%s", tb.Name, c.Name)
		}
	}
	require.Equal(t, fmt.Sprint(dataset.TableNames()), "[runs faults metrics events]")
}

// TestFailureLeavesNothing makes an add fail while it writes its files and
// while it commits them: the dataset directory must be as it was.
func TestFailureLeavesNothing(t *testing.T) {
	root := t.TempDir()
	sweep := writeRun(t, root, sweepRun())
	dir := filepath.Join(root, "ds")
	_, err := add(t, dir, dataset.Options{}, sweep)
	require.NoError(t, err)

	// A run whose manifest matches its files but whose events.jsonl is not
	// JSON: it fails while being staged, after the first run was.
	bad := singleRun()
	bad.runID = "20260105T000000Z-eeee"
	badDir := writeRun(t, root, bad)
	events := filepath.Join(badDir, "events.jsonl")
	write(t, events, readString(t, events)+"{not json\n")
	man := readString(t, filepath.Join(badDir, "manifest.json"))
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(man), &m))
	m["files"].(map[string]any)["events.jsonl"] = sha(t, events)
	writeJSON(t, filepath.Join(badDir, "manifest.json"), m)

	single := writeRun(t, root, singleRun())
	before := hashTree(t, dir)
	_, err = add(t, dir, dataset.Options{}, single, badDir)
	require.ErrorContains(t, err, "events.jsonl:18")
	require.Equal(t, before, hashTree(t, dir), "a failed add changed the dataset")

	// Failing at every step of the commit undoes the steps before it.
	steps := 0
	restore := dataset.SetCommitHook(func(string) error { steps++; return nil })
	_, err = add(t, filepath.Join(root, "probe"), dataset.Options{}, single)
	restore()
	require.NoError(t, err)
	require.Equal(t, 5, steps, "four files moved and the datasheet written")
	for fail := 1; fail <= steps; fail++ {
		for _, target := range []string{dir, filepath.Join(root, fmt.Sprintf("fresh-%d", fail))} {
			before := hashTree(t, target)
			n := 0
			restore := dataset.SetCommitHook(func(step string) error {
				if n++; n == fail {
					return fmt.Errorf("injected failure after %s", step)
				}
				return nil
			})
			_, err := add(t, target, dataset.Options{}, single)
			restore()
			require.ErrorContains(t, err, "injected failure")
			require.Equal(t, before, hashTree(t, target), "failing at step %d changed %s", fail, target)
		}
		require.NoDirExists(t, filepath.Join(root, fmt.Sprintf("fresh-%d", fail)))
	}
	// And the dataset still takes the run.
	_, err = add(t, dir, dataset.Options{}, single)
	require.NoError(t, err)
	require.Len(t, readTable(t, dir, dataset.TableRuns), 3)
}
