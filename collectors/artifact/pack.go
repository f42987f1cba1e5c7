// Package artifact packs finished run directories into one archive that
// an evaluator can check and rerun, and compares a rerun with the packed
// original.
//
// An artifact is a gzip-compressed tar with one top folder:
//
//	TOP/
//	  README.md               for evaluators: claims, contents, requirements,
//	                          the commands to verify and rerun, tolerance
//	  SHA256SUMS              SHA-256 of every other file (sha256sum -c)
//	  ro-crate-metadata.json  RO-Crate 1.1: root Dataset, one CreateAction
//	                          per run, every file a File entity with sha256
//	  tool.json               the packing tbctl and each run's tbctl
//	  environment.json        the packing machine: kernel, OS, CPU, memory,
//	                          kernel features and tools tbctl uses
//	  runs/EXPERIMENT/RUN-ID/ each run directory whole (manifest.json,
//	                          index.json, experiment.yaml, topology.yaml,
//	                          every run of the sweep, report/ if any)
//
// The archive is deterministic: entries sorted, folders 0755 and files
// 0644 owned by 0:0, every time the end of the latest run. Packing refuses
// runs that are half-written, interrupted or whose manifest hashes do not
// verify, and checks its own output before it renames it into place.
// Under anonymization every address in every text file is rewritten with
// Crypto-PAn under a secret kept out of the archive, names optionally by
// pseudonyms, and each run's manifest is rewritten with the new hashes.
//
// The package reads run directories through collectors/rundir and runs
// nothing but the version options of the tools it records.
package artifact

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/collectors/anonymize"
	"github.com/tbctl/tbctl/collectors/report"
	"github.com/tbctl/tbctl/collectors/rundir"
	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/experiment"
	"github.com/tbctl/tbctl/testbed/run"
)

// Files at the top of an artifact.
const (
	ReadmeFile      = "README.md"
	SumsFile        = "SHA256SUMS"
	CrateFile       = "ro-crate-metadata.json"
	ToolFile        = "tool.json"
	EnvironmentFile = "environment.json"
	RunsDir         = "runs"
)

// NoLicense is the SPDX word for "no license stated", the default.
const NoLicense = "NOASSERTION"

// PackOptions say what to pack and how.
type PackOptions struct {
	Runs  []string // run directories
	Out   string   // the archive to write
	Force bool     // overwrite Out when it exists

	Anonymize      bool   // rewrite every address with Crypto-PAn
	AnonymizeNames bool   // and node, host and lab names by pseudonyms
	KeyFile        string // the secret; made (32 random bytes, 0600) when missing

	Name, Description string
	License           string // SPDX identifier; NoLicense when empty

	// Environment describes the packing machine; CaptureEnvironment()
	// when nil.
	Environment *Environment
	// Log hears notes and warnings; nil discards them.
	Log io.Writer
}

// PackResult says what was written.
type PackResult struct {
	Path       string
	Top        string // the archive's top folder
	Files      int
	Runs       int
	KeyCreated bool
	Warnings   []string
}

var spdxRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+-]*$`)

// runInfo is a run as staged in the artifact.
type runInfo struct {
	Rel         string      // runs/EXPERIMENT/RUN-ID, slash path inside the top folder
	Run         *rundir.Run // the staged copy
	HasTopology bool
	Exp         *experiment.Experiment // nil when this tbctl cannot read experiment.yaml
	ExpErr      error
}

func (ri *runInfo) claim() string {
	if ri.Exp != nil {
		return ri.Exp.Claim
	}
	if c, ok := ri.Run.Manifest.Parameters["claim"].(string); ok {
		return c
	}
	return "(no claim recorded)"
}

// failures lists what failed in a run, for its CreateAction and README.
func (ri *runInfo) failures() string {
	var out []string
	for _, p := range ri.Run.Points {
		label := p.Label
		if p.Error != "" {
			out = append(out, fmt.Sprintf("%s: %s", label, oneLine(p.Error)))
		}
		for _, c := range p.Checks {
			if !c.OK {
				out = append(out, fmt.Sprintf("%s: %s failed (%s%s)", label, c.Text, c.Detail, c.Error))
			}
		}
	}
	for _, c := range ri.Run.Index.Compare {
		if !c.OK {
			out = append(out, fmt.Sprintf("across runs: %s failed (%s%s)", c.Text, c.Detail, c.Error))
		}
	}
	if len(out) == 0 {
		return "status " + ri.Run.Manifest.Status
	}
	return strings.Join(out, "; ")
}

// Pack writes the archive. Its errors about the runs and options are user
// errors naming what is wrong.
func Pack(o PackOptions) (*PackResult, error) {
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	res := &PackResult{}
	warn := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		res.Warnings = append(res.Warnings, msg)
		fmt.Fprintln(logw, "warning:", msg)
	}
	if err := checkOptions(&o); err != nil {
		return nil, err
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return nil, err
	}
	res.Path = out
	if st, err := os.Stat(out); err == nil {
		if st.IsDir() {
			return nil, errkind.User("%s is a folder; -o names the archive file to write", o.Out)
		}
		if !o.Force {
			return nil, errkind.User("%s exists; give --force to overwrite it", o.Out)
		}
	}

	runs, err := openRuns(o.Runs, out, o.KeyFile)
	if err != nil {
		return nil, err
	}

	var rw *rewriter
	if o.Anonymize {
		secret, created, err := LoadKey(o.KeyFile)
		if err != nil {
			return nil, errkind.User("%v", err)
		}
		res.KeyCreated = created
		if created {
			fmt.Fprintf(logw, "created key file %s (32 random bytes, mode 0600): keep it private and out of the archive; the same key maps addresses the same way in later artifacts\n", o.KeyFile)
		} else if st, err := os.Stat(o.KeyFile); err == nil && st.Mode().Perm()&0o077 != 0 {
			warn("key file %s is readable by others (mode %04o); anyone holding it can test guesses of the original addresses", o.KeyFile, st.Mode().Perm())
		}
		rw = newRewriter(anonymize.NewFromSecret(secret))
		if o.AnonymizeNames {
			for _, r := range runs {
				addRunNames(rw, r)
			}
		}
	}

	stage, err := os.MkdirTemp("", "tbctl-artifact-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	res.Top = topFolder(out)
	archiveName := filepath.Base(out)
	if rw != nil {
		// Named after the archive, the top folder prefixes every member.
		res.Top, archiveName = rw.pathOf(res.Top), rw.text(archiveName)
	}
	top := filepath.Join(stage, res.Top)

	var infos []*runInfo
	var latest time.Time
	for _, r := range runs {
		var clashes []string
		if o.AnonymizeNames {
			// Judged on the original experiment, before it is rewritten.
			expFile, topo, _ := r.Inputs()
			if exp, err := experiment.Load(expFile, nil); err == nil {
				clashes = nameClashes(exp, topo, rw.names)
			}
		}
		ri, err := stageRun(r, top, rw)
		if err != nil {
			return nil, err
		}
		if len(clashes) > 0 {
			msg := fmt.Sprintf("--anonymize-names also rewrote words the experiment uses for other things than nodes, so it would not rerun as it was: %s", strings.Join(clashes, "; "))
			warn("%s: %s (pack without --anonymize-names, or rename those nodes)", ri.Rel, msg)
			// The artifact says so in the rewritten words only.
			ri.ExpErr = errors.New(rw.text(msg))
		}
		infos = append(infos, ri)
		if e := r.Manifest.End.Wall; e.After(latest) {
			latest = e
		}
		if r.Manifest.Status != run.StatusOK {
			fmt.Fprintf(logw, "note: %s has status %s (%s); packed as it is\n", r.Path, r.Manifest.Status, ri.failures())
		}
		// Messages name files as they are in the artifact.
		inArtifact := func(err error) string {
			return oneLine(strings.ReplaceAll(err.Error(), top+string(filepath.Separator), ""))
		}
		switch {
		case len(clashes) > 0:
		case ri.ExpErr != nil:
			ri.ExpErr = fmt.Errorf("this tbctl cannot read its experiment.yaml: %s", inArtifact(ri.ExpErr))
			warn("%s: %v, so evaluators cannot rerun it with this tbctl", ri.Rel, ri.ExpErr)
		default:
			if _, err := run.PlanAll(ri.Exp); err != nil {
				why := "this tbctl cannot plan its experiment"
				if rw != nil {
					why = "the anonymized experiment no longer plans (a node or host name may clash with a word it uses; pack without --anonymize-names)"
				}
				ri.ExpErr = fmt.Errorf("%s: %s", why, inArtifact(err))
				warn("%s: %v, so evaluators cannot rerun it with this tbctl", ri.Rel, ri.ExpErr)
			}
		}
	}
	if rw != nil {
		// Every name must be gone from what came from the runs.
		if err := checkNoNames(filepath.Join(top, RunsDir), rw); err != nil {
			return nil, err
		}
	}
	if latest.IsZero() {
		latest = time.Unix(0, 0)
	}
	latest = latest.UTC().Truncate(time.Second)

	env := o.Environment
	if env == nil {
		e := CaptureEnvironment()
		env = &e
	}
	if rw != nil {
		// The packing machine's description and the packer's words are
		// rewritten once, as the runs were.
		if err := scrubJSON(rw, env); err != nil {
			return nil, err
		}
		o.Name, o.Description = rw.text(o.Name), rw.text(o.Description)
	}
	if err := writeJSONFile(filepath.Join(top, EnvironmentFile), env); err != nil {
		return nil, err
	}
	if err := writeJSONFile(filepath.Join(top, ToolFile), toolJSON(infos, rw != nil)); err != nil {
		return nil, err
	}
	meta := crateMeta{Name: o.Name, Description: o.Description, License: o.License, Published: latest}
	if meta.Name == "" {
		meta.Name = defaultName(infos)
	}
	ownWords := meta.Description != ""
	if !ownWords {
		meta.Description = defaultDescription(infos)
	}
	if rw != nil {
		meta.Description += " Anonymized: IP addresses rewritten with prefix-preserving Crypto-PAn"
		if o.AnonymizeNames {
			meta.Description += "; node, host and lab names replaced by keyed pseudonyms"
		}
		meta.Description += "."
	}
	readme := readmeText(readmeData{Meta: meta, OwnWords: ownWords, Runs: infos, Env: env, Anonymized: rw != nil, Names: o.AnonymizeNames, Archive: archiveName, Top: res.Top})
	if err := os.WriteFile(filepath.Join(top, ReadmeFile), []byte(readme), 0o644); err != nil {
		return nil, err
	}
	crate, err := buildCrate(top, infos, meta)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(top, CrateFile), crate, 0o644); err != nil {
		return nil, err
	}
	if err := writeSums(top); err != nil {
		return nil, err
	}

	// Check the artifact as verify will, before it exists.
	rep, err := VerifyDir(top)
	if err != nil {
		return nil, err
	}
	if len(rep.Problems) > 0 {
		return nil, fmt.Errorf("the packed artifact does not verify (a bug of tbctl):\n%s", problemLines(rep.Problems))
	}
	res.Files, res.Runs = rep.Files, rep.Runs

	if err := writeAtomically(out, o.Force, func(w io.Writer) error { return writeArchive(w, top, latest) }); err != nil {
		return nil, err
	}
	return res, nil
}

func checkOptions(o *PackOptions) error {
	switch {
	case len(o.Runs) == 0:
		return errkind.User("name at least one run directory to pack")
	case o.Out == "":
		return errkind.User("name the archive to write with -o FILE, e.g. -o artifact.tar.gz")
	case o.AnonymizeNames && !o.Anonymize:
		return errkind.User("--anonymize-names goes with --anonymize")
	case o.Anonymize && o.KeyFile == "":
		return errkind.User("--anonymize needs --key-file PATH: the secret that maps addresses (made with 32 random bytes when missing; keep it private, it never goes into the archive)")
	case !o.Anonymize && o.KeyFile != "":
		return errkind.User("--key-file is for --anonymize")
	}
	if o.License == "" {
		o.License = NoLicense
	}
	if !spdxRE.MatchString(o.License) {
		return errkind.User("--license %q is not an SPDX license identifier (e.g. CC-BY-4.0, MIT, Apache-2.0)", o.License)
	}
	return nil
}

// openRuns opens every run directory and refuses those that are not whole,
// do not verify against their manifests, cannot be rerun as they are, or
// would carry the archive or the key into it.
func openRuns(paths []string, out, keyFile string) ([]*rundir.Run, error) {
	var runs []*rundir.Run
	seen := map[string]string{}
	for _, p := range paths {
		r, err := rundir.OpenWhole(p)
		if err != nil {
			return nil, err
		}
		if _, _, err := r.Inputs(); err != nil {
			return nil, errkind.User("%v", err)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		for _, inside := range []struct{ what, path string }{{"the archive", out}, {"the key file", keyFile}} {
			if inside.path == "" {
				continue
			}
			ap, _ := filepath.Abs(inside.path)
			if rel, err := filepath.Rel(abs, ap); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
				return nil, errkind.User("%s (%s) is inside the run directory %s; put it elsewhere", inside.what, inside.path, p)
			}
		}
		key := r.Manifest.Experiment + "/" + r.Manifest.RunID
		if prev, dup := seen[key]; dup {
			return nil, errkind.User("%s and %s are the same run (%s); name it once", prev, p, key)
		}
		seen[key] = p
		runs = append(runs, r)
	}
	sort.SliceStable(runs, func(i, j int) bool {
		a, b := runs[i].Manifest, runs[j].Manifest
		if a.Experiment != b.Experiment {
			return a.Experiment < b.Experiment
		}
		return a.RunID < b.RunID
	})
	return runs, nil
}

// addRunNames lists the names that say where a run ran: its host, its labs
// and every node of its topologies.
func addRunNames(rw *rewriter, r *rundir.Run) {
	host, labs, nodes := r.Names()
	if host != "" {
		rw.addName("host", host)
		if short, _, ok := strings.Cut(host, "."); ok {
			rw.addName("host", short)
		}
	}
	for _, l := range labs {
		rw.addName("lab", l)
	}
	for _, n := range nodes {
		rw.addName("node", n)
	}
	// The topology at the top, for runs whose points kept none.
	if _, topo, err := r.Inputs(); err == nil && topo != "" {
		for _, n := range topologyNodes(topo) {
			rw.addName("node", n)
		}
	}
}

// stageRun copies (or, with rw, rewrites) a run directory into the
// artifact's folder and opens the copy.
func stageRun(r *rundir.Run, top string, rw *rewriter) (*runInfo, error) {
	exp, id := r.Manifest.Experiment, r.Manifest.RunID
	if rw != nil {
		exp, id = rw.pathOf(exp), rw.pathOf(id)
	}
	rel := path.Join(RunsDir, exp, id)
	dest := filepath.Join(top, filepath.FromSlash(rel))
	if rw != nil {
		// Summaries and manifests hold absolute paths of the packing
		// machine, which name its folders and often its user.
		if abs, err := filepath.Abs(r.Path); err == nil {
			rw.addPath(abs, rel)
		}
		if f := r.Manifest.File; filepath.IsAbs(f) {
			rw.addPath(filepath.Dir(f), ".")
		}
		// Where the runs were when they ran, for a run directory that
		// was moved since.
		for _, p := range r.Points {
			rw.addPath(p.Dir, path.Join(rel, p.Rel))
		}
	}
	files, err := r.Files()
	if err != nil {
		return nil, err
	}
	hadReport := false
	for _, f := range files {
		if rw != nil && strings.HasPrefix(f, rundir.ReportDir+"/") {
			// The report's plots are images of names and addresses
			// that text rewriting cannot reach: it is made again from
			// the anonymized copy below.
			hadReport = true
			continue
		}
		src := filepath.Join(r.Path, filepath.FromSlash(f))
		target := f
		if rw != nil {
			target = rw.pathOf(f)
		}
		dst := filepath.Join(dest, filepath.FromSlash(target))
		if _, err := os.Stat(dst); err == nil {
			return nil, errkind.User("%s: two files of the run become %s once anonymized; pack without --anonymize-names", r.Path, target)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		if rw == nil {
			err = copyFile(src, dst)
		} else {
			err = rw.anonymizeFile(src, dst, path.Join(filepath.ToSlash(r.Path), f))
		}
		if err != nil {
			return nil, errkind.User("%v", err)
		}
	}
	if rw != nil {
		if err := rehashManifest(dest); err != nil {
			return nil, fmt.Errorf("%s: rewrite the manifest: %w", rel, err)
		}
	}
	staged, err := rundir.Open(dest)
	if err != nil {
		return nil, fmt.Errorf("%s: the packed copy does not open: %w", rel, err)
	}
	if probs, err := staged.Verify(); err != nil || len(probs) > 0 {
		return nil, fmt.Errorf("%s: the packed copy does not verify (%v): %v", rel, err, probs)
	}
	if hadReport {
		if _, err := report.Write(staged); err != nil {
			return nil, fmt.Errorf("%s: the report of the anonymized copy: %w", rel, err)
		}
	}
	ri := &runInfo{Rel: rel, Run: staged}
	expFile, topo, err := staged.Inputs()
	if err != nil {
		return nil, err
	}
	ri.HasTopology = topo != ""
	ri.Exp, ri.ExpErr = experiment.Load(expFile, nil)
	return ri, nil
}

// rehashManifest replaces the files of a rewritten run's manifest.json by
// the hashes of the rewritten files, keeping every other field.
func rehashManifest(dir string) error {
	m, err := rundir.ReadManifestJSON(dir)
	if err != nil {
		return err
	}
	r := &rundir.Run{Path: dir}
	sums, err := r.Rehash()
	if err != nil {
		return err
	}
	m["files"] = sums
	return writeJSONFile(filepath.Join(dir, rundir.ManifestFile), m)
}

func topologyNodes(file string) []string {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var doc struct {
		Topology struct {
			Nodes map[string]any `yaml:"nodes"`
		} `yaml:"topology"`
	}
	if yaml.Unmarshal(data, &doc) != nil {
		return nil
	}
	var names []string
	for n := range doc.Topology.Nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// scrubJSON rewrites the text of v (a pointer) through its JSON form.
func scrubJSON(rw *rewriter, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(rw.text(string(data))), v)
}

// checkNoNames makes sure no listed name is left in any text file under
// dir, nor in any path (binary captures keep no names: their comments and
// descriptions are dropped).
func checkNoNames(top string, rw *rewriter) error {
	return walkFilesErr(top, func(rel string) error {
		data, err := os.ReadFile(filepath.Join(top, filepath.FromSlash(rel)))
		if err != nil {
			return err
		}
		if !isText(rel, data) {
			data = nil
		}
		if ext := path.Ext(rel); ext == ".html" || ext == ".svg" {
			data = withoutMarkup(data)
		}
		if n, ok := rw.leak(rel + "\n" + string(data)); ok {
			return fmt.Errorf("anonymization left the name %q in %s; not packing (a bug of tbctl)", n, rel)
		}
		return nil
	})
}

func toolJSON(runs []*runInfo, anonymized bool) any {
	type runTool struct {
		Path       string   `json:"path"`
		Experiment string   `json:"experiment"`
		RunID      string   `json:"runId"`
		Tool       run.Tool `json:"tool"`
	}
	out := struct {
		PackedWith ToolInfo  `json:"packedWith"`
		Anonymized bool      `json:"anonymized"`
		Runs       []runTool `json:"runs"`
	}{PackedWith: Self(), Anonymized: anonymized}
	for _, ri := range runs {
		m := ri.Run.Manifest
		out.Runs = append(out.Runs, runTool{ri.Rel, m.Experiment, m.RunID, m.Tool})
	}
	return out
}

func defaultName(runs []*runInfo) string {
	var names []string
	seen := map[string]bool{}
	for _, ri := range runs {
		if n := ri.Run.Manifest.Experiment; !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	return "tbctl artifact: " + strings.Join(names, ", ")
}

func defaultDescription(runs []*runInfo) string {
	var parts []string
	for _, ri := range runs {
		parts = append(parts, fmt.Sprintf("%s: %s", ri.Run.Manifest.Experiment, ri.claim()))
	}
	return fmt.Sprintf("Run directories of %d tbctl experiment run(s), with the experiment and topology files that rerun them. %s", len(runs), strings.Join(parts, " "))
}

// topFolder names the archive's top folder after the archive.
func topFolder(out string) string {
	base := filepath.Base(out)
	for _, ext := range []string{".tar.gz", ".tgz", ".tar"} {
		if strings.HasSuffix(base, ext) && len(base) > len(ext) {
			base = strings.TrimSuffix(base, ext)
			break
		}
	}
	base = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < ' ' {
			return '_'
		}
		return r
	}, base)
	if base == "" || base == "." || base == ".." {
		base = "artifact"
	}
	return base
}

// writeSums writes SHA256SUMS for every other file under top, sorted, in
// the format of sha256sum.
func writeSums(top string) error {
	var b strings.Builder
	err := walkFilesErr(top, func(rel string) error {
		if rel == SumsFile {
			return nil
		}
		sum, err := rundir.HashFile(filepath.Join(top, filepath.FromSlash(rel)))
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, rel)
		return nil
	})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(top, SumsFile), []byte(b.String()), 0o644)
}

// writeAtomically writes a file through a temporary file in the same
// folder and renames it into place; without force it never replaces a
// file that appeared meanwhile.
func writeAtomically(out string, force bool, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if force {
		err = os.Rename(tmp.Name(), out)
	} else {
		// A link fails when out exists: no race with another writer.
		if err = os.Link(tmp.Name(), out); err == nil {
			os.Remove(tmp.Name())
		} else if errors.Is(err, fs.ErrExist) {
			err = errkind.User("%s exists; give --force to overwrite it", out)
		}
	}
	if err != nil {
		os.Remove(tmp.Name())
		done = true
		return err
	}
	done = true
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

func writeJSONFile(p string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(p, append(data, '\n'), 0o644)
}

// walkFiles calls fn with the slash path, relative to top, of every file
// under it, in lexical order.
func walkFiles(top string, fn func(rel string)) error {
	return walkFilesErr(top, func(rel string) error { fn(rel); return nil })
}

func walkFilesErr(top string, fn func(rel string) error) error {
	return filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(top, p)
		if err != nil {
			return err
		}
		return fn(filepath.ToSlash(rel))
	})
}

func oneLine(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ")
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}

var (
	styleRE = regexp.MustCompile(`(?s)<style[^>]*>.*?</style>`)
	tagRE   = regexp.MustCompile(`</?[A-Za-z][A-Za-z0-9:-]*`)
)

// withoutMarkup drops what tbctl's own HTML and SVG are made of (style
// sheets and tag names, such as <h1> or <g>, which a node may be named
// like) and keeps text and attribute values, where names could leak.
func withoutMarkup(data []byte) []byte {
	data = styleRE.ReplaceAll(data, nil)
	return tagRE.ReplaceAll(data, []byte("<"))
}
