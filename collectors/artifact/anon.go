package artifact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/collectors/anonymize"
	"github.com/tbctl/tbctl/collectors/pcap"
	"github.com/tbctl/tbctl/roles"
	"github.com/tbctl/tbctl/testbed/experiment"
)

// textExts are the files rewritten as text under --anonymize. Other files
// are rewritten as text too when they are valid UTF-8 without NUL bytes;
// pcapng captures go through collectors/pcap, and anything else is
// refused.
var textExts = map[string]bool{
	".json": true, ".jsonl": true, ".yaml": true, ".yml": true, ".log": true, ".md": true,
	".html": true, ".htm": true, ".svg": true, ".csv": true, ".txt": true, ".tsv": true,
}

// LoadKey reads the anonymization secret from path, creating the file with
// 32 random bytes (mode 0600) when it does not exist. created says whether
// it did.
func LoadKey(path string) (secret []byte, created bool, err error) {
	return anonymize.LoadKeyFile(path, true)
}

// rewriter rewrites what run directories say for sharing: every IP
// address with Crypto-PAn, and, when names were added, every listed name
// standing as a whole word by its pseudonym (the anonymize package's
// Scrubber, which also takes names that span words, such as lab names like
// quickstart-db93-0 and dotted host names).
type rewriter struct {
	a     *anonymize.Anonymizer
	sc    *anonymize.Scrubber
	names map[string]string // every listed name → pseudonym
	paths []pathSub         // longest first
}

// pathSub replaces a folder of the packing machine (which may name its
// user) by where its contents are in the artifact.
type pathSub struct{ from, to string }

// addPath replaces the absolute folder from, wherever it appears in text,
// by to.
func (w *rewriter) addPath(from, to string) {
	if !filepath.IsAbs(from) || from == "/" {
		return
	}
	w.paths = append(w.paths, pathSub{filepath.Clean(from), to})
	sort.SliceStable(w.paths, func(i, j int) bool { return len(w.paths[i].from) > len(w.paths[j].from) })
}

func newRewriter(a *anonymize.Anonymizer) *rewriter {
	return &rewriter{a: a, sc: a.Scrubber(), names: map[string]string{}}
}

// addName lists a name to replace; a name listed twice keeps its first
// kind.
func (w *rewriter) addName(kind, name string) {
	if name == "" || w.names[name] != "" {
		return
	}
	w.sc.AddName(kind, name)
	w.names[name] = w.a.Name(kind, name)
}

// text rewrites addresses and listed names in s.
func (w *rewriter) text(s string) string {
	for _, p := range w.paths {
		s = strings.ReplaceAll(s, p.from, p.to)
	}
	return w.sc.String(s)
}

// leak returns a listed name that still stands as a whole word in s.
func (w *rewriter) leak(s string) (string, bool) {
	names := make([]string, 0, len(w.names))
	for n := range w.names {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if anonymize.HasWord(s, n) {
			return n, true
		}
	}
	return "", false
}

// pathOf rewrites each element of a slash path as text.
func (w *rewriter) pathOf(rel string) string {
	parts := strings.Split(rel, "/")
	for i, p := range parts {
		parts[i] = w.text(p)
	}
	return strings.Join(parts, "/")
}

// isText tells whether a file is rewritten as text.
func isText(name string, data []byte) bool {
	if textExts[strings.ToLower(filepath.Ext(name))] {
		return true
	}
	return utf8.Valid(data) && !bytes.ContainsRune(data, 0)
}

// anonymizeFile rewrites the file at src into dst.
func (w *rewriter) anonymizeFile(src, dst, shown string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	ext := strings.ToLower(filepath.Ext(src))
	switch ext {
	case ".pcapng":
		return w.anonymizeCapture(data, dst, shown)
	case ".pcap":
		return fmt.Errorf("%s: classic pcap captures cannot be anonymized, only pcapng (convert it with editcap -F pcapng, or pack without --anonymize)", shown)
	}
	if !isText(src, data) {
		return fmt.Errorf("%s: a binary file cannot be anonymized; pack without --anonymize, or leave the file out of a copy of the run", shown)
	}
	out := w.text(string(data))
	if err := stillValid(ext, data, []byte(out)); err != nil {
		return fmt.Errorf("%s: anonymizing broke the file (%v); a node or host name may clash with a word of the format, pack without --anonymize-names", shown, err)
	}
	return os.WriteFile(dst, []byte(out), 0o644)
}

// anonymizeCapture rewrites the addresses of a pcapng capture with the
// same Crypto-PAn mapping as the text (collectors/pcap drops what could
// carry names outside the packets: comments, descriptions, name
// resolution).
func (w *rewriter) anonymizeCapture(data []byte, dst, shown string) error {
	var out bytes.Buffer
	if err := pcap.Anonymize(bytes.NewReader(data), &out, w.a); err != nil {
		return fmt.Errorf("%s: cannot anonymize the capture: %v (pack without --anonymize, or leave the capture out of a copy of the run)", shown, err)
	}
	return os.WriteFile(dst, out.Bytes(), 0o644)
}

// stillValid checks that a JSON, JSON lines or YAML file that parsed before
// it was rewritten still does.
func stillValid(ext string, before, after []byte) error {
	check := func(b []byte) error {
		switch ext {
		case ".json":
			if !json.Valid(b) {
				return errors.New("not valid JSON")
			}
		case ".jsonl":
			for i, line := range bytes.Split(b, []byte("\n")) {
				if len(bytes.TrimSpace(line)) > 0 && !json.Valid(line) {
					return fmt.Errorf("line %d is not valid JSON", i+1)
				}
			}
		case ".yaml", ".yml":
			var v any
			return yaml.Unmarshal(b, &v)
		}
		return nil
	}
	if check(before) != nil {
		return nil
	}
	return check(after)
}

// nameClashes lists the places where an experiment uses a name that
// --anonymize-names replaces for something other than a node: a role
// parameter that does not name a node (traffic's mode rr and a node rr),
// or a word of a node's exec line in the topology. Anonymized, such an
// experiment would not rerun as it was.
func nameClashes(exp *experiment.Experiment, topology string, names map[string]string) []string {
	var out []string
	clash := func(where, text string) {
		for _, n := range sortedKeys(names) {
			if anonymize.HasWord(text, n) {
				out = append(out, fmt.Sprintf("%s (%q) uses the name %s", where, text, n))
			}
		}
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case string:
			clash(path, x)
		case []any:
			for i, item := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), item)
			}
		case map[string]any:
			for _, k := range sortedKeys(x) {
				walk(path+"."+k, x[k])
			}
		}
	}
	for _, in := range exp.Roles {
		refs := map[string]bool{}
		if r, err := roles.Get(in.Role); err == nil {
			for _, p := range r.RefParams() {
				refs[p] = true
			}
		}
		for _, k := range sortedKeys(in.Params) {
			if !refs[k] {
				walk("roles."+in.Name+".params."+k, in.Params[k])
			}
		}
	}
	if topology != "" {
		data, err := os.ReadFile(topology)
		if err == nil {
			var doc struct {
				Topology struct {
					Nodes map[string]struct {
						Exec []string `yaml:"exec"`
					} `yaml:"nodes"`
				} `yaml:"topology"`
			}
			if yaml.Unmarshal(data, &doc) == nil {
				for _, node := range sortedKeys(doc.Topology.Nodes) {
					for i, line := range doc.Topology.Nodes[node].Exec {
						clash(fmt.Sprintf("topology node %s exec[%d]", node, i), line)
					}
				}
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
