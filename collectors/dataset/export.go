package dataset

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/tbctl/tbctl/testbed/errkind"
)

// Formats lists the formats [Export] writes.
func Formats() []string { return []string{"csv"} }

// Exported is one file written by [Export].
type Exported struct {
	Table string
	Path  string
	Rows  int64
}

// Export writes every table of the dataset in dir to out in the given
// format, reading the rows back from the Parquet files that dataset.json
// lists: out/runs.csv, faults.csv, metrics.csv and events.csv. CSV cells
// are as in the Parquet files; null is the empty cell, timestamps are
// RFC 3339 with nanoseconds (UTC), numbers are Go's shortest exact form.
func Export(dir, format, out string) ([]Exported, error) {
	if format != "csv" {
		return nil, errkind.User("unknown export format %q: the formats are %s", format, strings.Join(Formats(), ", "))
	}
	m, err := ReadManifest(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errkind.User("%s is not a dataset: it has no %s (make one with tbctl dataset add)", dir, ManifestFile)
	}
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	var done []Exported
	for _, t := range Tables() {
		var files []string
		for _, sr := range m.Runs {
			for _, f := range sr.Files {
				if f.Table == t.Name {
					files = append(files, filepath.Join(dir, filepath.FromSlash(f.Path)))
				}
			}
		}
		var n int64
		err := writeFileAtomic(filepath.Join(out, t.Name+".csv"), func(w io.Writer) error {
			var err error
			switch t.Name {
			case TableRuns:
				n, err = exportCSV[RunRow](w, t, files)
			case TableFaults:
				n, err = exportCSV[FaultRow](w, t, files)
			case TableMetrics:
				n, err = exportCSV[MetricRow](w, t, files)
			case TableEvents:
				n, err = exportCSV[EventRow](w, t, files)
			}
			return err
		})
		if err != nil {
			return done, fmt.Errorf("export %s: %w", t.Name, err)
		}
		done = append(done, Exported{Table: t.Name, Path: filepath.Join(out, t.Name+".csv"), Rows: n})
	}
	return done, nil
}

// exportCSV writes the header and every row of the files as CSV.
func exportCSV[T any](w io.Writer, t Table, files []string) (int64, error) {
	cw := csv.NewWriter(w)
	var header []string
	for _, c := range t.Columns {
		header = append(header, c.Name)
	}
	if err := cw.Write(header); err != nil {
		return 0, err
	}
	var n int64
	rec := make([]string, len(header))
	for _, path := range files {
		err := eachRow[T](path, func(row *T) error {
			n++
			return cw.Write(cells(reflect.ValueOf(row).Elem(), rec))
		})
		if err != nil {
			return n, fmt.Errorf("%s: %w", path, err)
		}
	}
	cw.Flush()
	return n, cw.Error()
}

// eachRow reads a Parquet file row by row, in batches.
func eachRow[T any](path string, fn func(*T) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return err
	}
	r := parquet.NewGenericReader[T](pf)
	defer r.Close()
	buf := make([]T, 1024)
	for {
		k, err := r.Read(buf)
		for i := range k {
			if err := fn(&buf[i]); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// ReadTable reads every row of one table of the dataset in dir, in the
// order dataset.json lists its files.
func ReadTable[T any](dir, table string) ([]T, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	var out []T
	for _, sr := range m.Runs {
		for _, f := range sr.Files {
			if f.Table != table {
				continue
			}
			err := eachRow[T](filepath.Join(dir, filepath.FromSlash(f.Path)), func(r *T) error {
				out = append(out, *r)
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Path, err)
			}
		}
	}
	return out, nil
}

// cells formats a row's fields as CSV cells into rec.
func cells(v reflect.Value, rec []string) []string {
	t := v.Type()
	for i := range t.NumField() {
		f := v.Field(i)
		if f.Kind() == reflect.Pointer {
			if f.IsNil() {
				rec[i] = ""
				continue
			}
			f = f.Elem()
		}
		switch f.Kind() {
		case reflect.String:
			rec[i] = f.String()
		case reflect.Int32, reflect.Int64:
			if f.Int() == 0 && isOptional(t.Field(i)) {
				rec[i] = ""
			} else if isTimestamp(t.Field(i)) {
				rec[i] = time.Unix(0, f.Int()).UTC().Format(time.RFC3339Nano)
			} else {
				rec[i] = strconv.FormatInt(f.Int(), 10)
			}
		case reflect.Float64:
			rec[i] = formatFloat(f.Float())
		case reflect.Bool:
			rec[i] = strconv.FormatBool(f.Bool())
		default:
			rec[i] = fmt.Sprint(f.Interface())
		}
	}
	return rec
}

// formatFloat is the shortest decimal that reads back as v, without an
// exponent for ordinary magnitudes.
func formatFloat(v float64) string {
	if a := math.Abs(v); a == 0 || a >= 1e-6 && a < 1e21 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// writeFileAtomic writes path through a temporary file in its folder and
// renames it into place when fill succeeded.
func writeFileAtomic(path string, fill func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	bw := bufio.NewWriterSize(f, 1<<20)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if e := f.Close(); err == nil {
		err = e
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
