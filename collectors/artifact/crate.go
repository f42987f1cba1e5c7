package artifact

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tbctl/tbctl/collectors/rundir"
	"github.com/tbctl/tbctl/testbed/run"
)

// RO-Crate 1.1 identifiers.
const (
	CrateContext = "https://w3id.org/ro/crate/1.1/context"
	CrateSpec    = "https://w3id.org/ro/crate/1.1"

	statusCompleted = "http://schema.org/CompletedActionStatus"
	statusFailed    = "http://schema.org/FailedActionStatus"
)

type entity = map[string]any

func ref(id string) entity { return entity{"@id": id} }

func refs(ids []string) []entity {
	out := make([]entity, len(ids))
	for i, id := range ids {
		out[i] = ref(id)
	}
	return out
}

// crateMeta is what the packer says about the artifact as a whole.
type crateMeta struct {
	Name, Description, License string
	Published                  time.Time
}

// encodingFormat is the media type of a file, by its name.
func encodingFormat(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		return "application/json"
	case ".jsonl":
		return "application/jsonl"
	case ".yaml", ".yml":
		return "application/yaml"
	case ".md":
		return "text/markdown"
	case ".html", ".htm":
		return "text/html"
	case ".svg":
		return "image/svg+xml"
	case ".csv":
		return "text/csv"
	case ".png":
		return "image/png"
	case ".pcapng":
		return "application/x-pcapng"
	case ".pcap":
		return "application/vnd.tcpdump.pcap"
	case ".log", ".txt", "":
		return "text/plain"
	}
	return "application/octet-stream"
}

// licenseEntity is the contextual entity of an SPDX license identifier.
func licenseEntity(spdx string) entity {
	if spdx == NoLicense {
		return entity{"@id": "#license-" + strings.ToLower(spdx), "@type": "CreativeWork", "identifier": spdx, "name": "No license stated (SPDX NOASSERTION): ask the authors before reusing"}
	}
	return entity{"@id": "https://spdx.org/licenses/" + spdx, "@type": "CreativeWork", "identifier": spdx, "name": spdx}
}

// buildCrate writes ro-crate-metadata.json for the folder top: every file
// in it (but the metadata and SHA256SUMS) a File entity with its SHA-256,
// size and media type, every run folder a Dataset, and every run a
// CreateAction of the tbctl that made it.
func buildCrate(top string, runs []*runInfo, m crateMeta) ([]byte, error) {
	var files []string
	err := walkFiles(top, func(rel string) {
		if rel != CrateFile && rel != SumsFile {
			files = append(files, rel)
		}
	})
	if err != nil {
		return nil, err
	}
	lic := licenseEntity(m.License)
	root := entity{
		"@id": "./", "@type": "Dataset",
		"name": m.Name, "description": m.Description,
		"license":       ref(lic["@id"].(string)),
		"datePublished": m.Published.UTC().Format("2006-01-02"),
	}
	graph := []entity{
		{"@id": CrateFile, "@type": "CreativeWork", "conformsTo": ref(CrateSpec), "about": ref("./")},
		root, lic,
	}
	var rootParts, mentions []string
	runOf := map[string]*runInfo{}
	for _, ri := range runs {
		runOf[ri.Rel+"/"] = ri
	}
	byRun := map[string][]string{}
	for _, f := range files {
		owner := ""
		for _, ri := range runs {
			if strings.HasPrefix(f, ri.Rel+"/") {
				owner = ri.Rel + "/"
			}
		}
		if owner == "" {
			rootParts = append(rootParts, f)
		} else {
			byRun[owner] = append(byRun[owner], f)
		}
	}
	rootParts = append(rootParts, SumsFile)
	tools := map[string]entity{}
	for _, ri := range runs {
		id := ri.Rel + "/"
		rootParts = append(rootParts, id)
		man := ri.Run.Manifest
		ds := entity{
			"@id": id, "@type": "Dataset",
			"name":        fmt.Sprintf("Run %s of experiment %s", man.RunID, man.Experiment),
			"description": fmt.Sprintf("%s (%d run(s) of the sweep; status %s)", ri.claim(), len(ri.Run.Points), man.Status),
			"hasPart":     refs(byRun[id]),
		}
		graph = append(graph, ds)
		tool := toolEntity(man.Tool)
		tools[tool["@id"].(string)] = tool
		object := []string{id + rundir.ExperimentFile}
		if ri.HasTopology {
			object = append(object, id+rundir.TopologyFile)
		}
		result := []string{id, id + rundir.IndexFile}
		for _, p := range ri.Run.Points {
			result = append(result, path.Join(ri.Rel, p.Rel, rundir.SummaryFile))
		}
		status := statusCompleted
		if man.Status != run.StatusOK {
			status = statusFailed
		}
		action := entity{
			"@id": "#run-" + man.Experiment + "-" + man.RunID, "@type": "CreateAction",
			"name":         fmt.Sprintf("tbctl run of experiment %s", man.Experiment),
			"description":  fmt.Sprintf("tbctl run %s on provider %s; run status %s", rundir.ExperimentFile, man.Provider, man.Status),
			"instrument":   ref(tool["@id"].(string)),
			"object":       refs(object),
			"result":       refs(result),
			"startTime":    man.Start.Wall.UTC().Format(time.RFC3339Nano),
			"endTime":      man.End.Wall.UTC().Format(time.RFC3339Nano),
			"actionStatus": ref(status),
		}
		if man.Status != run.StatusOK {
			action["error"] = ri.failures()
		}
		graph = append(graph, action)
		mentions = append(mentions, action["@id"].(string))
	}
	root["hasPart"] = refs(rootParts)
	root["mentions"] = refs(mentions)
	toolIDs := make([]string, 0, len(tools))
	for id := range tools {
		toolIDs = append(toolIDs, id)
	}
	sort.Strings(toolIDs)
	for _, id := range toolIDs {
		graph = append(graph, tools[id])
	}
	for _, f := range files {
		p := filepath.Join(top, filepath.FromSlash(f))
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		sum, err := rundir.HashFile(p)
		if err != nil {
			return nil, err
		}
		graph = append(graph, entity{
			"@id": f, "@type": "File", "name": path.Base(f),
			"contentSize": strconv.FormatInt(st.Size(), 10), "encodingFormat": encodingFormat(f), "sha256": sum,
		})
	}
	graph = append(graph, entity{"@id": SumsFile, "@type": "File", "name": SumsFile, "encodingFormat": "text/plain",
		"description": "SHA-256 of every other file of the artifact, as sha256sum writes them (sha256sum -c SHA256SUMS)"})
	data, err := json.MarshalIndent(entity{"@context": CrateContext, "@graph": graph}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

func toolEntity(t run.Tool) entity {
	rev := t.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	id := "#tbctl-" + t.Version
	if v := strings.TrimSuffix(t.Version, "-dirty"); rev != "" && (v == "" || !strings.HasPrefix(rev, v)) {
		id += "-" + rev
	}
	e := entity{"@id": id, "@type": "SoftwareApplication", "name": "tbctl", "version": t.Version,
		"url": "https://github.com/tbctl/tbctl", "description": fmt.Sprintf("tbctl %s, VCS revision %s, built with %s", t.Version, t.Revision, t.GoVersion)}
	if t.Modified {
		e["description"] = e["description"].(string) + ", from a tree with uncommitted changes"
	}
	return e
}

// checkCrate checks ro-crate-metadata.json in top against the folder: it
// parses, has the RO-Crate 1.1 descriptor and root dataset with their
// required fields, every run folder has a CreateAction whose result is in
// the folder, and every File entity's sha256 and size match the file.
func checkCrate(top string, runDirs []string) []Problem {
	var probs []Problem
	bad := func(format string, args ...any) {
		probs = append(probs, Problem{CrateFile, fmt.Sprintf(format, args...)})
	}
	data, err := os.ReadFile(filepath.Join(top, CrateFile))
	if err != nil {
		bad("cannot read: %v", err)
		return probs
	}
	var doc struct {
		Context any      `json:"@context"`
		Graph   []entity `json:"@graph"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		bad("not valid JSON: %v", err)
		return probs
	}
	if !hasContext(doc.Context) {
		bad("@context is not %s", CrateContext)
	}
	byID := map[string]entity{}
	for i, e := range doc.Graph {
		id, _ := e["@id"].(string)
		if id == "" {
			bad("entity %d of @graph has no @id", i+1)
			continue
		}
		if _, dup := byID[id]; dup {
			bad("entity %s appears twice", id)
		}
		byID[id] = e
	}
	desc := byID[CrateFile]
	switch {
	case desc == nil:
		bad("no metadata descriptor entity %s", CrateFile)
	default:
		if idOf(desc["conformsTo"]) != CrateSpec {
			bad("the metadata descriptor does not conform to %s (conformsTo)", CrateSpec)
		}
		if idOf(desc["about"]) != "./" {
			bad("the metadata descriptor is not about ./")
		}
	}
	root := byID["./"]
	if root == nil {
		bad("no root dataset ./")
	} else {
		if !hasType(root, "Dataset") {
			bad("the root ./ is not a Dataset")
		}
		for _, f := range []string{"name", "description", "license", "datePublished", "hasPart"} {
			if empty(root[f]) {
				bad("the root dataset has no %s", f)
			}
		}
		if s, ok := root["datePublished"].(string); ok && !isISODate(s) {
			bad("the root dataset's datePublished %q is not an ISO 8601 date", s)
		}
		for _, id := range idsOf(root["hasPart"]) {
			if byID[id] == nil {
				bad("the root dataset's hasPart names %s, which has no entity", id)
			}
		}
	}
	// Every run folder has a CreateAction whose result names it.
	actions := map[string]entity{}
	for _, e := range doc.Graph {
		if !hasType(e, "CreateAction") {
			continue
		}
		id, _ := e["@id"].(string)
		for _, f := range []string{"instrument", "object", "result", "startTime", "endTime", "actionStatus"} {
			if empty(e[f]) {
				bad("CreateAction %s has no %s", id, f)
			}
		}
		if tool := byID[idOf(e["instrument"])]; idOf(e["instrument"]) != "" && (tool == nil || !hasType(tool, "SoftwareApplication") || empty(tool["version"])) {
			bad("CreateAction %s: its instrument %s is not a SoftwareApplication with a version", id, idOf(e["instrument"]))
		}
		switch idOf(e["actionStatus"]) {
		case statusCompleted, statusFailed, "":
		default:
			bad("CreateAction %s: unknown actionStatus %s", id, idOf(e["actionStatus"]))
		}
		for _, t := range []string{"startTime", "endTime"} {
			if s, ok := e[t].(string); ok && !isISODate(s) {
				bad("CreateAction %s: %s %q is not an ISO 8601 time", id, t, s)
			}
		}
		for _, o := range idsOf(e["object"]) {
			if !existsIn(top, o) {
				bad("CreateAction %s: its object %s is not in the archive", id, o)
			}
		}
		for _, r := range idsOf(e["result"]) {
			if !existsIn(top, r) {
				bad("CreateAction %s: its result %s is not in the archive", id, r)
			}
			if strings.HasSuffix(r, "/") {
				actions[r] = e
			}
		}
	}
	for _, d := range runDirs {
		if actions[d+"/"] == nil {
			bad("no CreateAction for run %s/", d)
		}
	}
	// Data entities match the files.
	for _, e := range doc.Graph {
		id, _ := e["@id"].(string)
		switch {
		case hasType(e, "File"):
			if id == SumsFile {
				continue
			}
			p, ok := localPath(top, id)
			if !ok {
				continue // a web resource
			}
			st, err := os.Stat(p)
			if err != nil || st.IsDir() {
				bad("File %s is not in the archive", id)
				continue
			}
			want, _ := e["sha256"].(string)
			if want == "" {
				bad("File %s has no sha256", id)
			} else if got, err := rundir.HashFile(p); err != nil || got != want {
				bad("File %s: sha256 %s… does not match the file's %s…", id, short(want), short(got))
			}
			if size, ok := e["contentSize"]; !ok {
				bad("File %s has no contentSize", id)
			} else if fmt.Sprint(size) != strconv.FormatInt(st.Size(), 10) {
				bad("File %s: contentSize %v does not match the file's %d bytes", id, size, st.Size())
			}
			if empty(e["encodingFormat"]) {
				bad("File %s has no encodingFormat", id)
			}
		case hasType(e, "Dataset") && id != "./":
			if p, ok := localPath(top, id); ok {
				if st, err := os.Stat(p); err != nil || !st.IsDir() {
					bad("Dataset %s is not a folder of the archive", id)
				}
			}
		}
	}
	return probs
}

func hasContext(c any) bool {
	switch v := c.(type) {
	case string:
		return v == CrateContext
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok && s == CrateContext {
				return true
			}
		}
	}
	return false
}

func hasType(e entity, t string) bool {
	switch v := e["@type"].(type) {
	case string:
		return v == t
	case []any:
		for _, x := range v {
			if x == t {
				return true
			}
		}
	}
	return false
}

func idOf(v any) string {
	if m, ok := v.(map[string]any); ok {
		s, _ := m["@id"].(string)
		return s
	}
	return ""
}

func idsOf(v any) []string {
	switch x := v.(type) {
	case map[string]any:
		if id := idOf(x); id != "" {
			return []string{id}
		}
	case []any:
		var out []string
		for _, item := range x {
			if id := idOf(item); id != "" {
				out = append(out, id)
			}
		}
		return out
	}
	return nil
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func isISODate(s string) bool {
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339, "2006-01-02"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}

// localPath maps an entity @id to a path inside top; false for absolute
// URIs, fragments and paths that would leave top.
func localPath(top, id string) (string, bool) {
	if id == "" || strings.HasPrefix(id, "#") || strings.Contains(id, "://") || strings.HasPrefix(id, "/") {
		return "", false
	}
	clean := path.Clean(strings.TrimSuffix(id, "/"))
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", false
	}
	return filepath.Join(top, filepath.FromSlash(clean)), true
}

func existsIn(top, id string) bool {
	p, ok := localPath(top, id)
	if !ok {
		return false
	}
	st, err := os.Stat(p)
	return err == nil && st.IsDir() == strings.HasSuffix(id, "/")
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
