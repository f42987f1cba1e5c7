package artifact

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/tbctl/tbctl/collectors/rundir"
)

// Problem is one way an artifact differs from what it says of itself.
type Problem struct {
	File string // slash path inside the top folder
	What string
}

func (p Problem) String() string { return p.File + ": " + p.What }

// Report is what verifying an artifact found.
type Report struct {
	Top      string // the top folder (where it was unpacked)
	Files    int    // files in the artifact
	Runs     int    // run directories
	RunDirs  []string
	Problems []Problem
}

// OK reports an artifact without problems.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Verify unpacks an archive into a temporary folder, removed after, and
// verifies it (see VerifyDir). The error is for an archive that cannot be
// read at all; what differs is in the report.
func Verify(archive string) (*Report, error) {
	tmp, err := os.MkdirTemp("", "tbctl-verify-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	top, err := Unpack(archive, tmp)
	if err != nil {
		return nil, err
	}
	return VerifyDir(top)
}

var sumLine = regexp.MustCompile(`^([0-9a-f]{64}) [ *](.+)$`)

// VerifyDir checks an unpacked artifact: every line of SHA256SUMS (files
// changed, missing, or present but not listed), each run directory
// against its own manifest.json, and ro-crate-metadata.json.
func VerifyDir(top string) (*Report, error) {
	rep := &Report{Top: top}
	add := func(file, format string, args ...any) {
		rep.Problems = append(rep.Problems, Problem{file, fmt.Sprintf(format, args...)})
	}
	var files []string
	if err := walkFiles(top, func(rel string) { files = append(files, rel) }); err != nil {
		return nil, err
	}
	rep.Files = len(files)

	// SHA256SUMS.
	want := map[string]string{}
	if f, err := os.Open(filepath.Join(top, SumsFile)); err != nil {
		add(SumsFile, "missing: the artifact has no checksums")
	} else {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimRight(sc.Text(), "\r")
			if line == "" {
				continue
			}
			m := sumLine.FindStringSubmatch(line)
			if m == nil {
				add(SumsFile, "line %d is not \"SHA256  FILE\"", n)
				continue
			}
			if _, dup := want[m[2]]; dup {
				add(SumsFile, "%s is listed twice", m[2])
			}
			want[m[2]] = m[1]
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	have := map[string]bool{}
	for _, rel := range files {
		have[rel] = true
		if rel == SumsFile {
			continue
		}
		sum, ok := want[rel]
		if !ok {
			add(rel, "not in %s", SumsFile)
			continue
		}
		got, err := rundir.HashFile(filepath.Join(top, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		if got != sum {
			add(rel, "changed (sha256 %s…, %s says %s…)", short(got), SumsFile, short(sum))
		}
	}
	for rel := range want {
		if !have[rel] {
			add(rel, "missing (listed in %s)", SumsFile)
		}
	}
	for _, f := range []string{ReadmeFile, CrateFile, ToolFile, EnvironmentFile} {
		if !have[f] && want[f] == "" {
			add(f, "missing")
		}
	}

	// Each run directory against its manifest.
	runDirs, err := findRunDirs(top)
	if err != nil {
		return nil, err
	}
	rep.RunDirs, rep.Runs = runDirs, len(runDirs)
	if len(runDirs) == 0 {
		add(RunsDir, "no run directories (runs/EXPERIMENT/RUN-ID/)")
	}
	for _, rel := range runDirs {
		dir := filepath.Join(top, filepath.FromSlash(rel))
		r, err := rundir.Open(dir)
		if err != nil {
			add(rel, "%s", strings.ReplaceAll(err.Error(), dir, rel))
			continue
		}
		if err := r.Whole(); err != nil {
			add(rel, "%s", strings.ReplaceAll(err.Error(), dir, rel))
		}
		probs, err := r.Verify()
		if err != nil {
			return nil, err
		}
		for _, q := range probs {
			add(path.Join(rel, q.File), "%s (against %s)", q.What, path.Join(rel, rundir.ManifestFile))
		}
		if _, _, err := r.Inputs(); err != nil {
			add(rel, "no %s at its top: the run cannot be rerun", rundir.ExperimentFile)
		}
	}

	rep.Problems = append(rep.Problems, checkCrate(top, runDirs)...)
	sort.SliceStable(rep.Problems, func(i, j int) bool { return rep.Problems[i].File < rep.Problems[j].File })
	return rep, nil
}

// findRunDirs lists runs/EXPERIMENT/RUN-ID folders, as slash paths.
func findRunDirs(top string) ([]string, error) {
	var out []string
	exps, err := os.ReadDir(filepath.Join(top, RunsDir))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	for _, e := range exps {
		if !e.IsDir() {
			continue
		}
		ids, err := os.ReadDir(filepath.Join(top, RunsDir, e.Name()))
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if id.IsDir() {
				out = append(out, path.Join(RunsDir, e.Name(), id.Name()))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// problemLines formats problems one per line.
func problemLines(probs []Problem) string {
	lines := make([]string, len(probs))
	for i, p := range probs {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}
