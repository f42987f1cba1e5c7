package topo

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/internal/suggest"

	"github.com/tbctl/tbctl/internal/yamlnode"
)

// Options tune parsing for the provider that will run the topology.
type Options struct {
	Provider string          // "netns" when empty; used only in messages
	Kinds    map[string]bool // kinds the provider can run; nil accepts all
}

func (o Options) provider() string {
	if o.Provider == "" {
		return "netns"
	}
	return o.Provider
}

// Load reads and parses the topology file at path.
func Load(path string, opts Options) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path, opts)
}

// Parse decodes, resolves and validates a topology file. file names the
// input in positions. On failure the error is Problems, listing every
// defect found.
func Parse(data []byte, file string, opts Options) (*Topology, error) {
	p := &parser{src: newSource(file), opts: opts}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		p.probs.add(yamlErrorPos(file, err), "fix the YAML syntax", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil, p.probs.list
	}
	if len(root.Content) == 0 {
		p.probs.add(Pos{File: file, Line: 1, Col: 1}, "write a topology with name: and topology.nodes", "the file is empty")
		return nil, p.probs.list
	}
	doc := root.Content[0]
	instance := p.src.index(doc, "", &p.probs)
	var f File
	p.decode(doc, "", reflect.ValueOf(&f).Elem())
	t := p.resolve(&f)
	p.checkSchema(instance)
	if len(p.probs.list) > 0 {
		return nil, p.probs.result()
	}
	return t, nil
}

type parser struct {
	src   *source
	opts  Options
	probs problemList
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func yamlErrorPos(file string, err error) Pos {
	pos := Pos{File: file, Line: 1, Col: 1}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
	}
	return pos
}

// source maps JSON pointers into the document to the YAML nodes written
// there, so that every check can cite a position.
type source struct {
	file   string
	values map[string]*yaml.Node // pointer → value node
	keys   map[string]*yaml.Node // pointer → key node of a mapping entry
}

func newSource(file string) *source {
	return &source{file: file, values: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}}
}

func (s *source) nodePos(n *yaml.Node) Pos {
	return Pos{File: s.file, Line: n.Line, Col: n.Column}
}

// pos is the position of the value at ptr, or of its nearest written
// ancestor.
func (s *source) pos(ptr string) Pos {
	for {
		if n, ok := s.values[ptr]; ok {
			return s.nodePos(n)
		}
		if ptr == "" {
			return Pos{File: s.file, Line: 1, Col: 1}
		}
		ptr = parentPtr(ptr)
	}
}

// keyPos is the position of the key naming the value at ptr.
func (s *source) keyPos(ptr string) Pos {
	if n, ok := s.keys[ptr]; ok {
		return s.nodePos(n)
	}
	return s.pos(ptr)
}

func joinPtr(ptr, tok string) string {
	tok = strings.ReplaceAll(tok, "~", "~0")
	return ptr + "/" + strings.ReplaceAll(tok, "/", "~1")
}

func indexPtr(ptr string, i int) string { return ptr + "/" + strconv.Itoa(i) }

func parentPtr(ptr string) string {
	if i := strings.LastIndexByte(ptr, '/'); i >= 0 {
		return ptr[:i]
	}
	return ""
}

// displayPath turns "/topology/nodes/r1/exec/0" into
// "topology.nodes.r1.exec[0]".
func displayPath(ptr string) string {
	var b strings.Builder
	for _, tok := range strings.Split(ptr, "/")[1:] {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		if _, err := strconv.Atoi(tok); err == nil {
			fmt.Fprintf(&b, "[%s]", tok)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

type pair struct{ key, value *yaml.Node }

func deref(n *yaml.Node) *yaml.Node { return yamlnode.Deref(n) }

// pairs lists the entries of a mapping, expanding "<<" merge keys (written
// keys win over merged ones). dups are written keys seen a second time.
func pairs(n *yaml.Node) (ps []pair, dups []pair) {
	seen := map[string]bool{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Tag == "!!merge" {
			merges = append(merges, deref(v))
			continue
		}
		if seen[k.Value] {
			dups = append(dups, pair{k, v})
			continue
		}
		seen[k.Value] = true
		ps = append(ps, pair{k, v})
	}
	for _, m := range merges {
		sources := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			sources = m.Content
		}
		for _, src := range sources {
			if src = deref(src); src.Kind != yaml.MappingNode {
				continue
			}
			merged, _ := pairs(src)
			for _, p := range merged {
				if !seen[p.key.Value] {
					seen[p.key.Value] = true
					ps = append(ps, p)
				}
			}
		}
	}
	return ps, dups
}

// index records the position of every value and key under n and returns
// the document as a JSON-compatible value for schema validation. Mapping
// entries whose value is null are left out of that value. Duplicate keys
// are reported here.
func (s *source) index(n *yaml.Node, ptr string, probs *problemList) any {
	n = deref(n)
	s.values[ptr] = n
	switch n.Kind {
	case yaml.MappingNode:
		ps, dups := pairs(n)
		obj := map[string]any{}
		for _, p := range ps {
			child := joinPtr(ptr, p.key.Value)
			s.keys[child] = p.key
			if v := s.index(p.value, child, probs); v != nil {
				obj[p.key.Value] = v
			}
		}
		for _, d := range dups {
			first := s.keys[joinPtr(ptr, d.key.Value)]
			probs.add(s.nodePos(d.key), "remove or rename one of them", "duplicate key %q (first defined at %s)",
				d.key.Value, s.nodePos(first))
		}
		return obj
	case yaml.SequenceNode:
		arr := make([]any, len(n.Content))
		for i, c := range n.Content {
			arr[i] = s.index(c, indexPtr(ptr, i), probs)
		}
		return arr
	case yaml.ScalarNode:
		return scalarValue(n)
	}
	return nil
}

func scalarValue(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		return strings.EqualFold(n.Value, "true")
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return i
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return f
		}
	}
	return n.Value
}

var endpointType = reflect.TypeOf(EndpointDef{})

// decode is a strict decoder of n into v, guided by the yaml tags of the
// File structs. It reports unknown fields and ill-typed values.
func (p *parser) decode(n *yaml.Node, ptr string, v reflect.Value) {
	n = deref(n)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		p.decode(n, ptr, v.Elem())
		return
	}
	if n.ShortTag() == "!!null" {
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		p.decodeStruct(n, ptr, v)
	case reflect.Map:
		p.decodeMap(n, ptr, v)
	case reflect.Slice:
		p.decodeSlice(n, ptr, v)
	case reflect.String:
		if p.expectScalar(n, ptr, "a string", "!!str") {
			v.SetString(n.Value)
		}
	case reflect.Int:
		if p.expectScalar(n, ptr, "an integer", "!!int") {
			if i, ok := scalarValue(n).(int64); ok {
				v.SetInt(i)
			}
		}
	case reflect.Float64:
		if p.expectScalar(n, ptr, "a number", "!!int", "!!float") {
			f, _ := strconv.ParseFloat(n.Value, 64)
			v.SetFloat(f)
		}
	case reflect.Bool:
		if p.expectScalar(n, ptr, "true or false", "!!bool") {
			v.SetBool(strings.EqualFold(n.Value, "true"))
		}
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err == nil {
			v.Set(reflect.ValueOf(&x).Elem())
		}
	}
}

// expectScalar reports a problem unless n is a scalar with one of tags (any
// scalar when tags is empty).
func (p *parser) expectScalar(n *yaml.Node, ptr, want string, tags ...string) bool {
	if n.Kind == yaml.ScalarNode && (len(tags) == 0 || contains(tags, n.ShortTag())) {
		return true
	}
	p.typeProblem(n, ptr, want)
	return false
}

// typeHints say how to write a value of the wanted type.
var typeHints = map[string]string{
	"a string":      "write a single value; quote it if it looks like a number or boolean",
	"an integer":    "write a whole number without quotes",
	"true or false": "write true or false",
	"a list":        "write a list: [a, b] or one \"- item\" per line",
	"a mapping":     "write \"key: value\" pairs",
}

func (p *parser) typeProblem(n *yaml.Node, ptr, want string) {
	hint, ok := typeHints[want]
	if !ok {
		hint = "write " + want
	}
	p.probs.add(p.src.nodePos(n), hint, "%s: expected %s, got %s", displayPath(ptr), want, yamlnode.Describe(n))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) decodeStruct(n *yaml.Node, ptr string, v reflect.Value) {
	if v.Type() == endpointType && n.Kind == yaml.ScalarNode {
		if p.expectScalar(n, ptr, `a "node:interface" string or a mapping`, "!!str") {
			v.FieldByName("Short").SetString(n.Value)
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		p.typeProblem(n, ptr, "a mapping")
		return
	}
	fields := yamlFields(v.Type())
	ps, _ := pairs(n)
	for _, kv := range ps {
		name := kv.key.Value
		index, ok := fields[name]
		if !ok {
			p.probs.add(p.src.nodePos(kv.key), suggest.Hint(name, fieldNames(fields), "fields"), "unknown field %q", name)
			continue
		}
		p.decode(kv.value, joinPtr(ptr, name), v.FieldByIndex(index))
	}
}

func (p *parser) decodeMap(n *yaml.Node, ptr string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		p.typeProblem(n, ptr, "a mapping")
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	elem := v.Type().Elem()
	ps, _ := pairs(n)
	for _, kv := range ps {
		child := joinPtr(ptr, kv.key.Value)
		e := reflect.New(elem).Elem()
		if elem.Kind() == reflect.String {
			// env and labels values: any scalar, as containerlab does.
			if vn := deref(kv.value); p.expectScalar(vn, child, "a string") {
				e.SetString(vn.Value)
			}
		} else {
			p.decode(kv.value, child, e)
		}
		v.SetMapIndex(reflect.ValueOf(kv.key.Value), e)
	}
}

func (p *parser) decodeSlice(n *yaml.Node, ptr string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		p.typeProblem(n, ptr, "a list")
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		p.decode(c, indexPtr(ptr, i), s.Index(i))
	}
	v.Set(s)
}

// yamlFields maps the yaml keys of struct type t, including inlined
// structs, to field indexes.
func yamlFields(t reflect.Type) map[string][]int {
	fields := map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case tag == "-":
		case strings.Contains(opts, "inline"):
			for name, sub := range yamlFields(f.Type) {
				fields[name] = append([]int{i}, sub...)
			}
		case tag != "":
			fields[tag] = []int{i}
		}
	}
	return fields
}

func fieldNames(fields map[string][]int) []string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
