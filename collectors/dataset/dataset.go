// Package dataset turns run directories into a dataset to share and
// analyse: four Parquet tables (runs, faults, metrics, events) that grow
// by appending whole run directories, a dataset.json that records what
// was added and from what, and a generated datasheet (README.md) that says
// what was run, on what, with which faults, the schema of every table,
// whether the data were anonymized and how to read them. [Export] writes
// the same tables as CSV.
//
// What it touches: it reads run directories (through collectors/rundir,
// which refuses half-written and interrupted runs) and writes only inside
// the dataset directory it is given, plus, when asked to anonymize with a
// key file that does not exist yet, that key file (which must lie outside
// the dataset). An add writes its files under temporary names and renames
// them into place at the end, dataset.json last: on any error the dataset
// is left as it was. [Export] writes only its CSV files, also through
// temporary names.
//
// Anonymization rewrites every IPv4 and IPv6 address in every string cell
// with Crypto-PAn under a per-dataset secret (collectors/anonymize), and
// optionally the node, host and lab names, as whole words, with keyed
// pseudonyms. The secret is never written into the dataset: dataset.json
// records only a fingerprint of it, so that a later add with another key is
// refused.
package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/collectors/anonymize"
	"github.com/tbctl/tbctl/collectors/rundir"
	"github.com/tbctl/tbctl/testbed/errkind"
)

// Files of a dataset directory.
const (
	ManifestFile  = "dataset.json"
	DatasheetFile = "README.md"
	// Format is dataset.json's "format".
	Format = "tbctl-dataset"
	// stagePrefix names the folders an add stages its files in; readers
	// (pyarrow, pandas) skip names that start with a dot.
	stagePrefix = ".tbctl-add-"
)

// Manifest is dataset.json.
type Manifest struct {
	Format        string        `json:"format"`
	Schema        int           `json:"schema"`
	Created       time.Time     `json:"created"`
	Updated       time.Time     `json:"updated"`
	Anonymization Anonymization `json:"anonymization"`
	Tables        []string      `json:"tables"`
	Runs          []SourceRun   `json:"runs"`
}

// Anonymization records how a dataset was anonymized, never with what.
type Anonymization struct {
	Addresses bool   `json:"addresses"`
	Names     bool   `json:"names"`
	Method    string `json:"method,omitempty"`
	// KeyFingerprint identifies the key (see [KeyFingerprint]); it does
	// not reveal it.
	KeyFingerprint string `json:"keyFingerprint,omitempty"`
}

// SourceRun is one run directory added to the dataset.
type SourceRun struct {
	RunID          string    `json:"runId"` // the source manifest's runId
	Experiment     string    `json:"experiment"`
	ManifestSHA256 string    `json:"manifestSHA256"` // of the source manifest.json
	Added          time.Time `json:"added"`
	Tool           string    `json:"tool"`  // the tbctl that added it
	Runs           []string  `json:"runs"`  // run keys (runs.run_key)
	Files          []File    `json:"files"` // the Parquet files added
}

// File is one Parquet file of the dataset.
type File struct {
	Path   string `json:"path"` // relative to the dataset, e.g. metrics/part-<runId>.parquet
	Table  string `json:"table"`
	Rows   int64  `json:"rows"`
	SHA256 string `json:"sha256"`
}

// Options tune [Add].
type Options struct {
	// Anonymize rewrites every address in every cell under the secret read
	// from KeyFile (created with 32 random bytes when missing).
	Anonymize bool
	// AnonymizeNames also replaces node, host and lab names by pseudonyms.
	AnonymizeNames bool
	KeyFile        string
	// Tool is the version of the tbctl that writes (Parquet metadata,
	// dataset.json).
	Tool string
	// Progress, when set, is called once per run (sweep point and
	// repetition) staged.
	Progress func(RunAdded)
}

// RunAdded is one run staged by [Add].
type RunAdded struct {
	Key, Experiment, Label, Status string
	Faults, Metrics, Events        int
}

// Result is what [Add] did.
type Result struct {
	Dir        string
	Added      []RunAdded
	Sources    []SourceRun
	TotalRuns  int    // runs in the dataset after the add
	KeyFile    string // absolute path of the key used, when anonymizing
	KeyCreated bool
}

// ReadManifest reads a dataset's dataset.json and checks that this tbctl
// can extend it.
func ReadManifest(dir string) (*Manifest, error) {
	var m Manifest
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, errkind.User("%s: not a dataset manifest: %v", filepath.Join(dir, ManifestFile), err)
	}
	if m.Format != Format {
		return nil, errkind.User("%s: not a tbctl dataset (format %q, want %q)", filepath.Join(dir, ManifestFile), m.Format, Format)
	}
	if m.Schema != SchemaVersion {
		return nil, errkind.User("%s is a dataset of schema version %d; this tbctl writes schema version %d: add to a new dataset directory, or use a tbctl that writes version %d", dir, m.Schema, SchemaVersion, m.Schema)
	}
	return &m, nil
}

// Add appends run directories to the dataset in dir, creating it when dir
// does not exist or is empty. Every run directory must be whole and not in
// the dataset yet; all of them are added or none.
func Add(dir string, runDirs []string, o Options) (res *Result, err error) {
	if len(runDirs) == 0 {
		return nil, errkind.User("no run directory to add")
	}
	if o.AnonymizeNames && !o.Anonymize {
		return nil, errkind.User("--anonymize-names goes with --anonymize")
	}
	if o.Anonymize && o.KeyFile == "" {
		return nil, errkind.User("--anonymize needs --key-file PATH: the secret the addresses are mapped under, kept outside the dataset (created when missing)")
	}
	if !o.Anonymize && o.KeyFile != "" {
		return nil, errkind.User("--key-file is only used with --anonymize")
	}
	if o.Tool == "" {
		o.Tool = "dev"
	}

	created := false
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		created = true
	case err != nil:
		return nil, err
	case !st.IsDir():
		return nil, errkind.User("%s is a file, not a dataset directory", dir)
	}
	defer func() {
		if err != nil && created {
			os.RemoveAll(dir)
		}
	}()
	unlock, err := lock(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()

	man, err := ReadManifest(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := checkEmpty(dir); err != nil {
			return nil, err
		}
		man = &Manifest{Format: Format, Schema: SchemaVersion, Tables: TableNames()}
	case err != nil:
		return nil, err
	default:
		if err := checkRecorded(dir, man); err != nil {
			return nil, err
		}
	}
	res = &Result{Dir: dir}

	// The anonymization must match the dataset's.
	if len(man.Runs) > 0 {
		a := man.Anonymization
		switch {
		case a.Addresses && !o.Anonymize:
			return nil, errkind.User("%s is an anonymized dataset: add runs to it with --anonymize%s --key-file (the key it was made with)", dir, namesFlag(a.Names))
		case !a.Addresses && o.Anonymize:
			return nil, errkind.User("%s is not anonymized: anonymized runs cannot join it (use a new dataset directory)", dir)
		case a.Names != o.AnonymizeNames:
			return nil, errkind.User("%s was made %s --anonymize-names: add runs the same way", dir, map[bool]string{true: "with", false: "without"}[a.Names])
		}
	}
	// Open and check every run directory before writing anything.
	var srcs []*rundir.Run
	for _, path := range runDirs {
		r, err := rundir.OpenWhole(path)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, r)
	}

	var key []byte
	if o.Anonymize {
		key, res.KeyFile, res.KeyCreated, err = loadKey(dir, o.KeyFile, len(man.Runs) > 0)
		if err != nil {
			return nil, err
		}
		fp := KeyFingerprint(key)
		if len(man.Runs) > 0 && man.Anonymization.KeyFingerprint != fp {
			return nil, errkind.User("%s was anonymized with another key (fingerprint %s; %s has %s): give the key file it was made with", dir, man.Anonymization.KeyFingerprint, o.KeyFile, fp)
		}
		man.Anonymization = Anonymization{Addresses: true, Names: o.AnonymizeNames, KeyFingerprint: fp,
			Method: "IPv4/IPv6 addresses: Crypto-PAn (prefix-preserving, AES-128) under a per-dataset secret" + map[bool]string{true: "; node, host and lab names: keyed pseudonyms (HMAC-SHA256)", false: ""}[o.AnonymizeNames]}
	}

	// The scrubber, and the run ids as the dataset records them.
	s := &scrubber{memo: map[string]string{}}
	anonymized := "no"
	if o.Anonymize {
		a := anonymize.NewFromSecret(key)
		anonymized = "addresses"
		if o.AnonymizeNames {
			sc := a.Scrubber()
			for _, r := range srcs {
				host, labs, nodes := r.Names()
				sc.AddName("host", host)
				for _, l := range labs {
					sc.AddName("lab", l)
				}
				for _, n := range nodes {
					sc.AddName("node", n)
				}
			}
			s.fn = sc.String
			anonymized = "addresses,names"
		} else {
			s.fn = a.Text
		}
	}
	// A run is added once: known by its runId and by its manifest's hash.
	have := map[string]string{}
	for _, sr := range man.Runs {
		have[sr.RunID] = sr.RunID
		have["sha256:"+sr.ManifestSHA256] = sr.RunID
	}
	given := map[string]string{}
	for _, r := range srcs {
		id := s.str(r.Manifest.RunID)
		sha, err := r.ManifestSHA256()
		if err != nil {
			return nil, err
		}
		for _, k := range []string{id, "sha256:" + sha} {
			if prev, ok := have[k]; ok {
				as := ""
				if prev != r.Manifest.RunID {
					as = " (as " + prev + ")"
				}
				return nil, errkind.User("%s: run %s is already in the dataset %s%s: a run is added once", r.Path, r.Manifest.RunID, dir, as)
			}
			if prev, ok := given[k]; ok {
				return nil, errkind.User("%s: run %s is given twice (also as %s)", r.Path, r.Manifest.RunID, prev)
			}
		}
		given[id], given["sha256:"+sha] = r.Path, r.Path
	}

	// Stage, then commit.
	if err := removeStale(dir); err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(dir, stagePrefix+"*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	b := &builder{s: s, tool: o.Tool, anonymized: anonymized}
	now := time.Now().UTC()
	var all []*staged
	for _, r := range srcs {
		sr, err := b.stage(r, stage, o.Progress)
		if err != nil {
			return nil, err
		}
		sr.rec.Added, sr.rec.Tool = now, o.Tool
		all = append(all, sr)
		res.Added = append(res.Added, sr.added...)
		res.Sources = append(res.Sources, sr.rec)
	}
	next := *man
	next.Runs = append(append([]SourceRun(nil), man.Runs...), res.Sources...)
	if next.Created.IsZero() {
		next.Created = now
	}
	next.Updated = now
	for _, sr := range next.Runs {
		res.TotalRuns += len(sr.Runs)
	}
	sheet, err := datasheet(dir, &next, all)
	if err != nil {
		return nil, err
	}
	if err := commit(dir, &next, all, sheet); err != nil {
		return nil, err
	}
	return res, nil
}

func namesFlag(names bool) string {
	if names {
		return " --anonymize-names"
	}
	return ""
}

// commit moves the staged files into place, then rewrites README.md and
// dataset.json (the commit point); on an error it undoes what it did.
func commit(dir string, man *Manifest, all []*staged, sheet []byte) (err error) {
	var moved []string
	oldSheet, sheetErr := os.ReadFile(filepath.Join(dir, DatasheetFile))
	sheetWritten := false
	defer func() {
		if err == nil {
			return
		}
		for _, p := range moved {
			os.Remove(p)
		}
		if sheetWritten {
			if sheetErr == nil {
				writeAtomic(dir, DatasheetFile, oldSheet)
			} else {
				os.Remove(filepath.Join(dir, DatasheetFile))
			}
		}
	}()
	for _, sr := range all {
		for _, f := range sr.files {
			target := filepath.Join(dir, filepath.FromSlash(f.rel))
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := renameNoReplace(f.tmp, target); err != nil {
				return fmt.Errorf("%s: %w", target, err)
			}
			moved = append(moved, target)
			if err := commitHook("moved " + f.rel); err != nil {
				return err
			}
		}
	}
	for _, t := range TableNames() {
		if d, err := os.Open(filepath.Join(dir, t)); err == nil {
			d.Sync()
			d.Close()
		}
	}
	sheetWritten = true
	if err := writeAtomic(dir, DatasheetFile, sheet); err != nil {
		return err
	}
	data, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return err
	}
	if err := commitHook("datasheet written"); err != nil {
		return err
	}
	return writeAtomic(dir, ManifestFile, append(data, '\n'))
}

// commitHook lets tests make a commit fail part way.
var commitHook = func(step string) error { return nil }

// writeAtomic writes dir/name through a temporary file and a rename.
func writeAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if e := f.Sync(); err == nil {
		err = e
	}
	if e := f.Close(); err == nil {
		err = e
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// renameNoReplace renames old to new and fails when new exists.
func renameNoReplace(old, new string) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// A file system without RENAME_NOREPLACE: a hard link fails on an
		// existing name too.
		if err = os.Link(old, new); err == nil {
			os.Remove(old)
		}
	}
	return err
}

// lock holds an exclusive lock on the dataset directory while an add runs.
func lock(dir string) (func(), error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		d.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errkind.User("%s: another tbctl dataset add is writing to it", dir)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() { unix.Flock(int(d.Fd()), unix.LOCK_UN); d.Close() }, nil
}

// checkEmpty refuses a directory without dataset.json that holds anything.
func checkEmpty(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), stagePrefix) {
			return errkind.User("%s is not a dataset (it has no %s) and is not empty: give a new or empty directory", dir, ManifestFile)
		}
	}
	return nil
}

// checkRecorded refuses a dataset whose table folders hold Parquet files
// that dataset.json does not list (an add cut off between its renames), or
// lack files it lists.
func checkRecorded(dir string, m *Manifest) error {
	listed := map[string]bool{}
	for _, sr := range m.Runs {
		for _, f := range sr.Files {
			listed[f.Path] = true
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f.Path))); err != nil {
				return errkind.User("%s: %s lists %s, which is missing: the dataset is damaged", dir, ManifestFile, f.Path)
			}
		}
	}
	for _, t := range TableNames() {
		ents, err := os.ReadDir(filepath.Join(dir, t))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		for _, e := range ents {
			rel := t + "/" + e.Name()
			if !strings.HasPrefix(e.Name(), ".") && !listed[rel] {
				return errkind.User("%s: %s is not recorded in %s (left by an add that was cut off?): remove it, then add again", dir, rel, ManifestFile)
			}
		}
	}
	return nil
}

// removeStale removes staging folders left by an add that was killed; the
// lock guarantees no add is using them.
func removeStale(dir string) error {
	m, err := filepath.Glob(filepath.Join(dir, stagePrefix+"*"))
	if err != nil {
		return err
	}
	for _, p := range m {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
}

// KeySize is the size of a key file created by [Add].
const KeySize = anonymize.KeySize

// KeyFingerprint identifies a dataset secret without revealing it: the
// first 8 bytes of SHA-256 over a fixed label and the secret, in hex.
func KeyFingerprint(key []byte) string {
	h := sha256.New()
	h.Write([]byte("tbctl/dataset/key-fingerprint\x00"))
	h.Write(key)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// loadKey reads the secret from path, creating the file (32 random bytes,
// mode 0600) when it is missing, unless the dataset already has runs (then
// the key it was made with is needed). The file must lie outside dir.
func loadKey(dir, path string, needExisting bool) (key []byte, abs string, created bool, err error) {
	abs, err = filepath.Abs(path)
	if err != nil {
		return nil, "", false, err
	}
	if inside(dir, abs) {
		return nil, "", false, errkind.User("--key-file %s is inside the dataset %s: keep the key outside what you share", path, dir)
	}
	key, created, err = anonymize.LoadKeyFile(abs, !needExisting)
	switch {
	case errors.Is(err, anonymize.ErrNoKeyFile):
		return nil, "", false, errkind.User("%s is an anonymized dataset and the key file %s does not exist: give the key file it was made with", dir, path)
	case err != nil:
		return nil, "", false, errkind.User("%v", err)
	}
	return key, abs, created, nil
}

// inside reports whether path is dir or below it, symbolic links resolved
// where they exist.
func inside(dir, path string) bool {
	resolve := func(p string) string {
		p, _ = filepath.Abs(p)
		// Resolve the longest existing prefix.
		rest := ""
		for {
			if r, err := filepath.EvalSymlinks(p); err == nil {
				return filepath.Join(r, rest)
			}
			parent := filepath.Dir(p)
			if parent == p {
				return filepath.Join(p, rest)
			}
			rest = filepath.Join(filepath.Base(p), rest)
			p = parent
		}
	}
	d, p := resolve(dir), resolve(path)
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// sortedKeys returns a map's keys, sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
